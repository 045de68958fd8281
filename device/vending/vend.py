"""The vend flow: money is taken and a PENDING sale committed before the motor turns.

    selection → credit checked → sale PENDING + charge (one durable commit)
              → drop sensor armed → motor → drop seen?  → COMPLETED
                                                  no    → REFUNDED (credit back)

The flow never reads the clock or sleeps: every step takes ``now``, and a real-time
caller waits for the drop between ``start`` and ``finish`` (``vend`` does both at
once for hardware that is instantaneous, such as the simulation).

After a crash or power cut, ``resolve_pending`` (run once at start-up, before the
first vend) settles every PENDING sale exactly once. The drop sensor cannot tell
any more whether the item fell, so the policy is the one an operator expects:
**refund, unless a fresh count of the slot shows the item gone** (count below the
stock just before that sale); each such sale also raises an alert to check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol

import structlog

from device.errors import CustobotError
from device.settings import SlotConfig
from device.store import repo
from device.store.db import Store
from device.store.models import AlertSeverity, CreditKind, PaymentMethod, Sale, SaleState

log = structlog.get_logger()


class VendHardware(Protocol):
    """What the flow needs from the machine (device/vending/hardware and the simulation provide it)."""

    def arm_drop_sensor(self) -> None:
        """Forget earlier beam breaks: called after the sale is committed, before the motor."""

    def run_motor(self, slot_id: int) -> None:
        """Turn ``slot_id``'s motor through one dispense cycle; raise if it cannot."""

    def drop_seen(self) -> bool:
        """Whether an item broke the drop beam since ``arm_drop_sensor``."""


class VendError(CustobotError):
    """A vend was refused or failed; ``slot_id`` names the slot."""

    def __init__(self, slot_id: int, problem: str) -> None:
        super().__init__(f"slot {slot_id}: {problem}")
        self.slot_id = slot_id


class UnknownSlotError(VendError):
    def __init__(self, slot_id: int) -> None:
        super().__init__(slot_id, "no such slot")


class SoldOutError(VendError):
    def __init__(self, slot_id: int) -> None:
        super().__init__(slot_id, "sold out")


class InsufficientCreditError(VendError):
    def __init__(self, slot_id: int, price: int, balance: int) -> None:
        super().__init__(slot_id, f"price {price} exceeds credit {balance}")
        self.price = price
        self.balance = balance


class MotorFaultError(VendError):
    """The motor failed; the sale was refunded and an alert raised."""


class VendInProgressError(VendError):
    def __init__(self, slot_id: int) -> None:
        super().__init__(slot_id, "another vend is in progress")


class NoVendInProgressError(CustobotError):
    def __init__(self) -> None:
        super().__init__("no vend in progress to finish")


class InvalidAmountError(CustobotError):
    def __init__(self, amount: int) -> None:
        super().__init__(f"amount {amount}: must be a positive integer in base units")
        self.amount = amount


class VendFlow:
    """Sells items from ``slots`` through ``hardware``, recording every step in ``store``."""

    def __init__(self, store: Store, hardware: VendHardware, slots: Iterable[SlotConfig]) -> None:
        self.store = store
        self.hardware = hardware
        self.slots = {slot.id: slot for slot in slots}
        # A slot's price when it is marked down (set by the agent, recorded in the store
        # with its reason); the list price otherwise. Per slot, never per customer.
        self.prices: dict[int, int] = {}
        self._in_progress: Sale | None = None

    @property
    def in_progress(self) -> Sale | None:
        """The sale between ``start`` and ``finish``, if any."""
        return self._in_progress

    def balance(self) -> int:
        """Coin credit the customer has in the machine."""
        with self.store.read() as session:
            return repo.credit_balance(session)

    def deposit(self, amount: int, now: datetime) -> int:
        """Credit inserted coins (``amount`` base units); return the new balance."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise InvalidAmountError(amount)
        with self.store.write() as session:
            return repo.add_credit(
                session,
                kind=CreditKind.DEPOSIT,
                method=PaymentMethod.COIN,
                amount=amount,
                now=now,
            )

    def cash_out(self, now: datetime) -> int:
        """Coin return: pay out the whole credit; return the amount paid out."""
        with self.store.write() as session:
            balance = repo.credit_balance(session)
            if balance:
                repo.add_credit(
                    session,
                    kind=CreditKind.PAYOUT,
                    method=PaymentMethod.COIN,
                    amount=-balance,
                    now=now,
                )
        return balance

    def start(
        self, slot_id: int, now: datetime, payment: PaymentMethod = PaymentMethod.COIN
    ) -> Sale:
        """Take payment, commit the PENDING sale, then arm the drop sensor and run the motor.

        ``PaymentMethod.CASHLESS`` means a card reader has authorised the price.
        """
        slot = self.slots.get(slot_id)
        if slot is None:
            raise UnknownSlotError(slot_id)
        if self._in_progress is not None:
            raise VendInProgressError(slot_id)
        price = self.prices.get(slot_id, slot.retail_price)
        try:
            with self.store.transaction() as db:
                stock = repo.stock_estimate(db, slot_id)
                if stock is not None and stock <= 0:
                    raise SoldOutError(slot_id)
                if payment == PaymentMethod.COIN:
                    balance = repo.credit_balance(db)
                    if balance < price:
                        raise InsufficientCreditError(slot_id, price, balance)
                sale = repo.record_sale(
                    db,
                    slot_id=slot_id,
                    gtin=slot.gtin,
                    price=price,
                    payment=payment,
                    now=now,
                )
        except SoldOutError:
            self.turned_away(slot_id, now)  # after the rollback: the lost sale is kept
            raise
        self._in_progress = sale
        try:
            self.hardware.arm_drop_sensor()
            self.hardware.run_motor(slot_id)
        except Exception as exc:
            self._in_progress = None
            self._refund(sale, now, f"motor fault: {exc}", "motor_fault", AlertSeverity.CRITICAL)
            raise MotorFaultError(slot_id, f"motor fault ({exc}); sale {sale.id} refunded") from exc
        return sale

    def turned_away(self, slot_id: int, now: datetime) -> None:
        """Record a customer who found ``slot_id`` empty (the owners' lost sales)."""
        slot = self.slots[slot_id]
        with self.store.transaction() as db:
            repo.record_turned_away(
                db, slot_id=slot_id, gtin=slot.gtin, price=slot.retail_price, now=now
            )

    def finish(self, now: datetime) -> Sale:
        """Settle the vend in progress: COMPLETED if the drop was seen, else REFUNDED."""
        sale = self._in_progress
        if sale is None or sale.id is None:
            raise NoVendInProgressError
        self._in_progress = None
        if not self.hardware.drop_seen():
            return self._refund(sale, now, "no drop seen", "drop_not_seen", AlertSeverity.WARNING)
        with self.store.transaction() as db:
            completed = repo.complete_sale(db, sale.id, now)
        if not completed:  # resolved elsewhere meanwhile: report what the store says
            return self._stored(sale.id)
        log.debug("vend_completed", slot=sale.slot_id, sale=sale.id, price=sale.price)
        return _settled(sale, SaleState.COMPLETED, now, None)

    def vend(
        self, slot_id: int, now: datetime, payment: PaymentMethod = PaymentMethod.COIN
    ) -> Sale:
        """``start`` and ``finish`` at the same instant (simulation, instantaneous hardware)."""
        self.start(slot_id, now, payment)
        return self.finish(now)

    def resolve_pending(self, now: datetime, counts: Mapping[int, int] | None = None) -> list[Sale]:
        """Settle every PENDING sale left by a crash; return those this call settled.

        ``counts`` are fresh item counts per slot from the sensors (omit a slot whose
        sensor is in fault). Idempotent, and safe if two processes run it at once.
        """
        if self._in_progress is not None:
            raise VendInProgressError(self._in_progress.slot_id)
        with self.store.read() as session:
            pending = repo.pending_sales(session)
        settled: list[Sale] = []
        for sale in pending:
            assert sale.id is not None
            with self.store.write() as session:
                count = None if counts is None else counts.get(sale.slot_id)
                before = (
                    None
                    if count is None
                    else repo.stock_estimate(session, sale.slot_id, before_sale=sale)
                )
                if count is not None and before is not None and count < before:
                    state = SaleState.COMPLETED
                    reason = f"resolved at restart: recount {count} < {before} before the sale"
                    resolved = repo.complete_sale(session, sale.id, now, reason)
                else:
                    state = SaleState.REFUNDED
                    reason = "resolved at restart: item not known to have dropped"
                    resolved = repo.refund_sale(session, sale.id, now, reason)
                if resolved:
                    repo.raise_alert(
                        session,
                        kind="vend_interrupted",
                        severity=AlertSeverity.WARNING,
                        message=f"sale {sale.id} was interrupted; {state}: {reason}",
                        now=now,
                        slot_id=sale.slot_id,
                    )
            if resolved:
                log.warning("vend_resolved", slot=sale.slot_id, sale=sale.id, state=state)
                settled.append(_settled(sale, state, now, reason))
        return settled

    def _refund(
        self, sale: Sale, now: datetime, reason: str, alert: str, severity: AlertSeverity
    ) -> Sale:
        assert sale.id is not None
        with self.store.write() as session:
            if not repo.refund_sale(session, sale.id, now, reason):
                return self._stored(sale.id)  # resolved elsewhere meanwhile
            repo.raise_alert(
                session,
                kind=alert,
                severity=severity,
                message=f"slot {sale.slot_id}: {reason} (sale {sale.id} refunded)",
                now=now,
                slot_id=sale.slot_id,
            )
        log.warning("vend_refunded", slot=sale.slot_id, sale=sale.id, reason=reason)
        return _settled(sale, SaleState.REFUNDED, now, reason)

    def _stored(self, sale_id: int) -> Sale:
        with self.store.read() as session:
            stored = repo.get_sale(session, sale_id)
        assert stored is not None
        return stored


def _settled(sale: Sale, state: SaleState, now: datetime, reason: str | None) -> Sale:
    """Mirror a committed resolution on the in-memory sale (saves reading it back)."""
    sale.state = state
    sale.resolved_at = now.astimezone(UTC)
    sale.reason = reason
    return sale
