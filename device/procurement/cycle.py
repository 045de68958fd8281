"""The order cycle every kind shares: a won quote → ``placeOrder`` → delivered → paid.

Every step takes ``now`` and is safe to repeat after a crash:

* a won quote becomes one ``PurchaseOrder`` (unique ``need_key``), written
  before its ``placeOrder`` intent, so a restart never buys the same need twice;
* the chain is only touched through the outbox (intent first, one transaction);
* a delivery is counted by the machine's own instruments (a vending machine's
  slot sensors, a taxi's energy counter), matched to open orders oldest first,
  and paid for what arrived: in full, in part, or disputed when nothing arrived;
* a quote whose order id is already used (here or on chain) is refused as a replay.

What to buy and when is the kind's: ``device.vending.restock`` plans restocking,
``device.taxi.charging`` buys a charge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlmodel import Session, col, select

from contracts.profit_center import OrderStatus, ProfitCenter
from device.errors import CustobotError
from device.negotiation.buyer import Buyer, NegotiationResult
from device.procurement.delivery import DeliveryMatch, OpenOrder, OrderLine, match_delivery
from device.procurement.models import (
    OPEN_ORDER_STATES,
    IntentState,
    OrderState,
    PurchaseOrder,
)
from device.procurement.outbox import Outbox, node_unreachable
from device.settings import Settings
from device.store import repo
from device.store.db import Store
from device.store.models import AlertSeverity

log = structlog.get_logger()


class ReplayedQuoteError(CustobotError):
    """A negotiated quote's order id is already used: the supplier replayed a quote."""


@dataclass(frozen=True, slots=True)
class ChainContext:
    """Which treasury the machine buys for."""

    chain_id: int
    profit_center: str
    token: str
    token_decimals: int = 6


def _unix(when: datetime) -> int:
    return int(when.timestamp())


class Procurement:
    """The machine's purchase orders, for any kind: talks to the chain only via the outbox."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        outbox: Outbox,
        profit_center: ProfitCenter,
        chain: ChainContext,
        buyer: Buyer,
    ) -> None:
        self.settings = settings
        self.store = store
        self.outbox = outbox
        self.pc = profit_center
        self.chain = chain
        self.buyer = buyer

    def on_order(self, order_ids: Sequence[str] | None = None) -> dict[int, int]:
        """Units per slot already ordered and not yet delivered (of ``order_ids`` if given)."""
        pending: dict[int, int] = {}
        for order in self._orders(OPEN_ORDER_STATES):
            if order_ids is not None and order.order_id not in order_ids:
                continue
            for line in _lines(order):
                pending[line.slot_id] = pending.get(line.slot_id, 0) + line.quantity
        return pending

    # -- what every kind's buying shares ------------------------------------------------

    def spend_limit(self, now: datetime, reservation: int, what: str) -> int:
        """The most a deal for ``what`` may cost so the contract will not refuse it: the
        reservation, within the budget left (less what is on its way to the chain) and
        the per-order cap; an alert tells the owners when that is less."""
        placing = sum(o.amount for o in self._orders((OrderState.PLACING,)))
        budget = self.pc.budget_left() - placing
        limit = min(reservation, budget, self.pc.policy().per_order_cap)
        if limit < reservation:
            with self.store.write() as session:
                repo.raise_alert(
                    session,
                    kind="budget_short",
                    severity=AlertSeverity.WARNING,
                    message=f"budget left {max(budget, 0)} is below the {reservation} "
                    f"{what} may cost; buying within it",
                    now=now,
                )
        return limit

    def ordered(self, key: str) -> PurchaseOrder | None:
        """The order already placed for a need, if any: one need, one order."""
        with self.store.read() as session:
            return session.exec(select(PurchaseOrder).where(PurchaseOrder.need_key == key)).first()

    # -- placing a won quote -------------------------------------------------------------

    def quote_used(self, supplier: str, nonce: int) -> bool:
        """Whether the quote's order id is already taken, here or on chain: a replay.

        While the node is unreachable only the local orders are asked; the
        contract itself refuses a used nonce when the order is placed.
        """
        order_id = self.pc.order_id(supplier, nonce)
        with self.store.read() as session:
            local = session.exec(
                select(PurchaseOrder.id).where(PurchaseOrder.order_id == "0x" + order_id.hex())
            ).first()
        if local is not None:
            return True
        try:
            return self.pc.order(order_id).status is not OrderStatus.NONE
        except Exception as exc:
            if not node_unreachable(exc):
                raise
            return False

    def place_quote(
        self,
        now: datetime,
        key: str,
        reservation: int,
        result: NegotiationResult,
        slot_of: Mapping[str, int],
    ) -> PurchaseOrder:
        """A won quote as a purchase order and its ``placeOrder`` intent, for any kind:
        ``slot_of`` says where each item goes (the taxi's energy goes to slot 0)."""
        assert result.offer is not None
        assert result.supplier is not None
        transcript = result.transcript.model_dump_json()
        quote = result.offer.to_quote()
        lines = [
            {
                "gtin": line.gtin,
                "slot_id": slot_of[line.gtin],
                "quantity": line.quantity,
                "unit_price": line.unit_price,
            }
            for line in result.offer.lines
        ]
        order_id = "0x" + self.pc.order_id(quote.supplier, quote.nonce).hex()
        with self.store.read() as session:
            if session.exec(
                select(PurchaseOrder).where(PurchaseOrder.order_id == order_id)
            ).first():
                raise ReplayedQuoteError(f"order id {order_id} is already used")
        order = PurchaseOrder(
            need_key=key,
            order_id=order_id,
            supplier_name=result.supplier.name,
            supplier_address=quote.supplier,
            amount=quote.amount,
            reservation_price=reservation,
            lines=json.dumps(lines),
            quote=json.dumps(quote.to_json()),
            signature=result.offer.signature.removeprefix("0x"),
            transcript=transcript,
            state=OrderState.PLACING,
            deliver_by=datetime.fromtimestamp(quote.deliver_by, UTC),
            created_at=now,
            updated_at=now,
        )
        with self.store.write() as session:
            session.add(order)
        self.outbox.enqueue(
            f"place:{order_id}",
            "place_order",
            {"order_id": order_id, "quote": quote.to_json(), "signature": order.signature},
            now,
        )
        log.info(
            "order_negotiated",
            order=order_id,
            supplier=order.supplier_name,
            amount=order.amount,
            reservation=reservation,
        )
        return order

    # -- following orders on-chain -------------------------------------------------------

    def reconcile(self, now: datetime) -> None:
        """Bring local order states in line with the outbox and the chain.

        Never raises for an unreachable node: selling, recounting and matching
        deliveries go on, and the chain is caught up with at a later call.
        """
        for order in self._orders((OrderState.OPEN,)):
            if order.paid is not None and self.outbox.get(f"confirm:{order.order_id}") is None:
                self._pay(order.order_id, order.paid, now)  # crashed before its intent
        if self.outbox.drain(now).unreachable:
            return  # local states stand until the node answers again
        try:
            for order in self._orders((*OPEN_ORDER_STATES, OrderState.DISPUTED)):
                new_state = self._chain_state(order)
                if new_state is not None and new_state is not order.state:
                    self._set_state(order, new_state, now)
            self._release_overdue(now)
        except Exception as exc:
            if not node_unreachable(exc):
                raise
            log.warning("chain_unreachable", stage="reconcile", error=type(exc).__name__)

    def _chain_state(self, order: PurchaseOrder) -> OrderState | None:
        if order.state is OrderState.PLACING:
            intent = self.outbox.get(f"place:{order.order_id}")
            if intent is None:  # crashed between the order row and its intent
                self.outbox.enqueue(
                    f"place:{order.order_id}",
                    "place_order",
                    {
                        "order_id": order.order_id,
                        "quote": json.loads(order.quote),
                        "signature": order.signature,
                    },
                    order.created_at,
                )
                return None
            if intent.state is IntentState.FAILED:
                return OrderState.FAILED
            if intent.state not in (IntentState.MINED, IntentState.DONE_ELSEWHERE):
                return None
        status = self.pc.order(bytes.fromhex(order.order_id[2:])).status
        return {
            OrderStatus.AWAITING_APPROVAL: OrderState.AWAITING_APPROVAL,
            OrderStatus.OPEN: OrderState.OPEN,
            OrderStatus.DELIVERED: OrderState.OPEN,
            OrderStatus.DISPUTED: OrderState.DISPUTED,
            OrderStatus.SETTLED: OrderState.SETTLED,
            OrderStatus.REJECTED: OrderState.REJECTED,
            OrderStatus.CANCELLED: OrderState.REJECTED,  # the owners said no after all
            OrderStatus.RELEASED: OrderState.RELEASED,
            OrderStatus.WITHDRAWN: OrderState.RELEASED,  # the supplier took its quote back
        }.get(status)

    def _release_overdue(self, now: datetime) -> None:
        """Undelivered (or never approved) past the deadline: release, so its units stop
        counting as on order; "delivered" but nothing counted: dispute."""
        open_orders = self._orders((OrderState.OPEN, OrderState.AWAITING_APPROVAL))
        window = self.pc.policy().dispute_window if open_orders else 0
        for order in open_orders:
            chain = self.pc.order(bytes.fromhex(order.order_id[2:]))
            if chain.status is OrderStatus.DELIVERED:
                # The supplier says it delivered; the sensors counted nothing for it
                # half a window later (chain.time is when the dispute window closes).
                if order.delivered is None and _unix(now) > chain.time - window // 2:
                    self.outbox.enqueue(
                        f"dispute:{order.order_id}", "dispute", {"order_id": order.order_id}, now
                    )
                    log.warning(
                        "delivery_disputed",
                        order=order.order_id,
                        supplier=order.supplier_name,
                        reason="nothing counted",
                    )
            elif now > order.deliver_by + timedelta(hours=1):
                self.outbox.enqueue(
                    f"release:{order.order_id}",
                    "release_expired",
                    {"order_id": order.order_id},
                    now,
                )

    # -- deliveries -------------------------------------------------------------------

    def record_items(
        self,
        session: Session,
        now: datetime,
        per_gtin: Mapping[str, int],
        order_ids: Sequence[str] | None = None,
    ) -> list[DeliveryMatch]:
        """Owe the open orders what was counted per item id (units of its catalogue
        unit: items for vending, Wh for the taxi's charging), oldest first."""
        orders = [
            o
            for o in session.exec(
                select(PurchaseOrder)
                .where(PurchaseOrder.state == OrderState.OPEN)
                .order_by(col(PurchaseOrder.created_at), col(PurchaseOrder.id))
            ).all()
            if order_ids is None or o.order_id in order_ids
        ]
        if not orders:  # an operator's visit, not a delivery
            return []
        matches, extra = match_delivery(
            per_gtin, [OpenOrder(o.order_id, o.amount, tuple(_lines(o))) for o in orders]
        )
        if extra:
            log.warning("delivery_unordered_items", items=extra)
        by_id = {o.order_id: o for o in orders}
        for match in matches:
            if not match.anything:
                continue
            row = by_id[match.order_id]
            row.delivered = json.dumps(match.delivered, sort_keys=True)
            row.paid = match.amount_due
            row.note = None if match.complete else "short delivery: paid for what arrived"
            row.updated_at = now
            session.add(row)
            self._pay(row.order_id, match.amount_due, now, session)
            log.info(
                "delivery_matched",
                order=row.order_id,
                supplier=row.supplier_name,
                paid=match.amount_due,
                complete=match.complete,
            )
        return matches

    def settle(self, now: datetime) -> None:
        """Send what the last visit made owed, and follow it on-chain."""
        self.outbox.drain(now)
        self.reconcile(now)

    def _pay(
        self, order_id: str, amount: int, now: datetime, session: Session | None = None
    ) -> None:
        """The payment for a counted delivery: one ``confirmDelivery`` intent per order."""
        self.outbox.enqueue(
            f"confirm:{order_id}",
            "confirm_delivery",
            {"order_id": order_id, "amount": amount},
            now,
            session,
        )

    def deposit_revenue(self, now: datetime, day: datetime) -> None:
        """Move one day's cashless revenue into the treasury (once per day, by key)."""
        with self.store.read() as session:
            amount = repo.daily_revenue(session, day.date())
        if amount > 0:
            self.outbox.enqueue(
                f"deposit:{day:%Y-%m-%d}", "deposit_revenue", {"amount": amount}, now
            )

    def distribute(self, now: datetime) -> None:
        """Once a week, make the profit above reserve and reservations claimable by the owners."""
        try:
            members = self.pc.members()
        except Exception as exc:
            if not node_unreachable(exc):
                raise
            return  # asked again at the next plan
        if not members:
            return
        year, week, _ = now.isocalendar()
        self.outbox.enqueue(f"distribute:{year}-W{week:02d}", "distribute", {}, now)

    # -- helpers ------------------------------------------------------------------

    def _orders(self, states: Sequence[OrderState]) -> list[PurchaseOrder]:
        with self.store.read() as session:
            return list(
                session.exec(
                    select(PurchaseOrder)
                    .where(col(PurchaseOrder.state).in_(states))
                    .order_by(col(PurchaseOrder.id))
                ).all()
            )

    def orders(self) -> list[PurchaseOrder]:
        with self.store.read() as session:
            return list(session.exec(select(PurchaseOrder).order_by(col(PurchaseOrder.id))).all())

    def _set_state(self, order: PurchaseOrder, state: OrderState, now: datetime) -> None:
        # A failed placement keeps the contract's reason (e.g. BudgetExceeded) for the owners.
        placing = self.outbox.get(f"place:{order.order_id}")
        why = placing.last_error if state is OrderState.FAILED and placing else None
        with self.store.write() as session:
            row = session.get(PurchaseOrder, order.id)
            assert row is not None
            row.state = state
            row.updated_at = now
            if why:
                row.note = why
            session.add(row)
            if state in (OrderState.FAILED, OrderState.REJECTED):
                message = f"order {order.order_id[:10]}… to {order.supplier_name} {state.value}"
                repo.raise_alert(
                    session,
                    kind=f"order_{state.value}",
                    severity=AlertSeverity.WARNING,
                    message=f"{message}: {why}" if why else message,
                    now=now,
                )
        log.info(
            "order_state", order=order.order_id, supplier=order.supplier_name, state=state.value
        )


def _lines(order: PurchaseOrder) -> list[OrderLine]:
    return [OrderLine(**line) for line in json.loads(order.lines)]
