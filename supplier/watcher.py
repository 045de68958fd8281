"""Follows the machines' ProfitCenters for orders placed to this supplier.

``poll_once(now)`` scans the new blocks of every watched ProfitCenter, records
the orders that name this supplier and follows their life (approved, delivered,
disputed, settled, released), then claims payment for every delivered order
whose dispute window has passed without the machine confirming. The operator
marks deliveries with ``mark_delivered``. A scheduler (``custobot supplier
serve``) or a test calls ``poll_once``; nothing here sleeps or reads the clock.
Applying events is idempotent, so a crash between a scan and saving the cursor
only rescans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import structlog
from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts.errors import ChainError
from contracts.profit_center import (
    OrderApproved,
    OrderCancelled,
    OrderDelivered,
    OrderDisputed,
    OrderPlaced,
    OrderRejected,
    OrderReleased,
    OrderSettled,
    OrderWithdrawn,
    ProfitCenter,
    ProfitCenterEvent,
)
from supplier.errors import OrderStateError, UnknownOrderError
from supplier.store import ObservedOrder, OrderState, SupplierStore

log = structlog.get_logger()


@dataclass
class PollReport:
    """What one poll found and did (local order ids)."""

    new_orders: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    claimed: list[int] = field(default_factory=list)
    claim_failures: dict[int, str] = field(default_factory=dict)


class Watcher:
    """One supplier's view of orders on one chain."""

    def __init__(
        self,
        w3: Web3,
        store: SupplierStore,
        account: LocalAccount,
        profit_centers: Sequence[str],
        *,
        from_block: int = 0,
        name: str | None = None,
    ) -> None:
        """``name``: the supplier's name in log lines, so two suppliers' orders are told apart."""
        self.w3 = w3
        self.log = log.bind(supplier=name) if name else log
        self.store = store
        self.account = account
        centers = (ProfitCenter(w3, address) for address in profit_centers)
        self.centers: dict[str, ProfitCenter] = {str(pc.address): pc for pc in centers}
        self.from_block = from_block

    @cached_property
    def chain_id(self) -> int:
        """Asked of the node on first use, so a watcher can start while the node is down."""
        return int(self.w3.eth.chain_id)

    @property
    def supplier(self) -> str:
        return str(self.account.address)

    def poll_once(self, now: int) -> PollReport:
        """Scan new blocks, then claim what is due at ``now``."""
        report = PollReport()
        latest = int(self.w3.eth.block_number)
        for address, pc in self.centers.items():
            start = self.store.cursor(self.chain_id, address, self.from_block)
            if start > latest:
                continue
            for event in pc.events(start, latest):
                self._apply(pc, event, now, report)
            self.store.set_cursor(self.chain_id, address, latest + 1)
        self._claim_due(now, report)
        return report

    def mark_delivered(self, local_id: int, now: int) -> ObservedOrder:
        """Declare order ``local_id`` delivered on chain; the dispute window starts."""
        order = self._order(local_id)
        if order.state != OrderState.OPEN:
            raise OrderStateError(local_id, order.state, "mark it delivered")
        pc = self.centers[order.profit_center]
        tx = pc.mark_delivered(bytes.fromhex(order.order_id[2:]), sender=self.account)
        report = PollReport()
        for event in tx.events:
            self._apply(pc, event, now, report)
        self.log.info("order_marked_delivered", order=order.order_id, tx="0x" + tx.tx_hash.hex())
        return self._order(local_id)

    # -- helpers --------------------------------------------------------------------------

    def _order(self, local_id: int) -> ObservedOrder:
        order = self.store.order(local_id)
        if order is None:
            raise UnknownOrderError(local_id)
        return order

    def _apply(
        self, pc: ProfitCenter, event: ProfitCenterEvent, now: int, report: PollReport
    ) -> None:
        if isinstance(event, OrderPlaced):
            self._placed(pc, event, now, report)
            return
        order_id = getattr(event, "order_id", None)
        if not isinstance(order_id, bytes):
            return
        order = self.store.order_by_chain_id(self.chain_id, pc.address, "0x" + order_id.hex())
        if order is None:
            return  # another supplier's order
        tx = "0x" + event.meta.tx_hash.hex()
        match event:
            case OrderApproved():
                order.state = OrderState.OPEN
            case OrderRejected():
                order.state = OrderState.REJECTED
            case OrderDelivered(dispute_until=until):
                order.state = OrderState.DELIVERED
                order.dispute_until = until
                order.delivered_tx = tx
            case OrderDisputed(resolve_by=resolve_by):
                # Unresolved by then, the dispute lets us claim in full.
                order.state = OrderState.DISPUTED
                order.dispute_until = resolve_by
            case OrderSettled(paid=paid):
                order.state = OrderState.SETTLED
                order.paid = paid
                if order.claimed_tx is None and self._sent_by_us(event.meta.tx_hash):
                    # A crash after our claim was mined but before claimed_tx was saved
                    # leaves it unset; a settlement we sent is that claim (only the
                    # supplier can claim), so the record is completed from the chain.
                    order.claimed_tx = tx
            case OrderReleased():
                order.state = OrderState.RELEASED
            case OrderCancelled():
                order.state = OrderState.CANCELLED
            case OrderWithdrawn():
                order.state = OrderState.WITHDRAWN
            case _:
                return
        order.updated_at = now
        self.store.save_order(order)
        assert order.id is not None
        report.updated.append(order.id)
        self.log.info("order_updated", order=order.order_id, state=order.state)

    def _sent_by_us(self, tx_hash: bytes) -> bool:
        return str(self.w3.eth.get_transaction(tx_hash)["from"]) == self.supplier  # type: ignore[arg-type]

    def _placed(self, pc: ProfitCenter, event: OrderPlaced, now: int, report: PollReport) -> None:
        if event.supplier != self.supplier:
            return
        order_id = "0x" + event.order_id.hex()
        if self.store.order_by_chain_id(self.chain_id, pc.address, order_id) is not None:
            return  # seen before (a rescan)
        issued = self.store.issued_offer(event.nonce)
        known = issued is not None and issued.buyer == pc.address and issued.amount == event.amount
        order = self.store.save_order(
            ObservedOrder(
                chain_id=self.chain_id,
                profit_center=pc.address,
                order_id=order_id,
                nonce=event.nonce,
                amount=event.amount,
                known_quote=known,
                state=OrderState.AWAITING_APPROVAL if event.awaiting_approval else OrderState.OPEN,
                placed_block=event.meta.block_number,
                placed_tx="0x" + event.meta.tx_hash.hex(),
                observed_at=now,
                deliver_by=issued.deliver_by if issued is not None else None,
                updated_at=now,
            )
        )
        assert order.id is not None
        report.new_orders.append(order.id)
        if known:
            self.log.info(
                "order_placed", order=order.order_id, amount=event.amount, buyer=pc.address
            )
        else:
            self.log.warning("order_placed_unknown_quote", order=order.order_id, nonce=event.nonce)

    def _claim_due(self, now: int, report: PollReport) -> None:
        for order in self.store.orders():
            due = order.dispute_until is not None and order.dispute_until <= now
            if order.state not in (OrderState.DELIVERED, OrderState.DISPUTED) or not due:
                continue
            assert order.id is not None
            pc = self.centers.get(order.profit_center)
            if pc is None:
                continue
            try:
                tx = pc.claim_payment(bytes.fromhex(order.order_id[2:]), sender=self.account)
            except ChainError as exc:
                report.claim_failures[order.id] = str(exc)
                self.log.warning("claim_failed", order=order.order_id, error=str(exc))
                continue
            order.claimed_tx = "0x" + tx.tx_hash.hex()
            self.store.save_order(order)
            for event in tx.events:
                self._apply(pc, event, now, report)
            report.claimed.append(order.id)
            self.log.info("payment_claimed", order=order.order_id, tx=order.claimed_tx)
