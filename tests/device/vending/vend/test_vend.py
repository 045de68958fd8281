"""The vend flow on a real SQLite file with gpiozero motors and drop beam on mock pins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from gpiozero.pins.mock import MockPin
from sqlmodel import col, select

from device.errors import CustobotError
from device.settings import SlotConfig
from device.store import repo
from device.store.db import Store, open_store
from device.store.models import (
    Alert,
    CreditEntry,
    CreditKind,
    PaymentMethod,
    RecountSource,
    Sale,
    SaleState,
)
from device.vending.vend import (
    InsufficientCreditError,
    InvalidAmountError,
    MotorFaultError,
    NoVendInProgressError,
    SoldOutError,
    UnknownSlotError,
    VendFlow,
    VendInProgressError,
)
from tests.device.vending.vend.machine import CHIPS, COLA, PRICES, T0, MockPinMachine


def restock(store: Store, slot_id: int, count: int) -> None:
    with store.write() as session:
        repo.record_recount(session, slot_id, count, RecountSource.RESTOCK, T0)


def sales(store: Store) -> list[Sale]:
    with store.read() as session:
        return list(session.exec(select(Sale).order_by(col(Sale.id))))


def ledger(store: Store) -> list[tuple[CreditKind, int]]:
    with store.read() as session:
        rows = session.exec(select(CreditEntry).order_by(col(CreditEntry.id)))
        return [(row.kind, row.amount) for row in rows]


def stock(store: Store, slot_id: int) -> int | None:
    with store.read() as session:
        return repo.stock_estimate(session, slot_id)


def open_alerts(store: Store) -> list[tuple[str, int | None]]:
    with store.read() as session:
        return [(a.kind, a.slot_id) for a in repo.open_alerts(session)]


def as_stored(store: Store, sale: Sale) -> Sale:
    """The sale as the database has it; the flow's returned copy must say the same."""
    assert sale.id is not None
    with store.read() as session:
        stored = repo.get_sale(session, sale.id)
    assert stored is not None
    return stored


def motor_turned(machine: MockPinMachine, slot_id: int) -> list[bool]:
    pin: MockPin = machine.motor_pin(slot_id)
    return [bool(s.state) for s in pin.states]


def test_happy_path_commits_pending_before_the_motor_then_completes(
    flow: VendFlow, store: Store, machine: MockPinMachine, db_path: object
) -> None:
    restock(store, COLA, 3)
    flow.deposit(2_500_000, T0)
    seen_while_motor_ran: list[SaleState] = []

    def item_falls_and_look_at_the_database(m: MockPinMachine, slot_id: int) -> None:
        other = open_store(str(db_path))  # another connection sees only committed rows
        seen_while_motor_ran.extend(s.state for s in sales(other))
        other.close()
        m.item_falls(slot_id)

    machine.on_motor = item_falls_and_look_at_the_database
    sale = flow.vend(COLA, T0 + timedelta(seconds=5))

    assert seen_while_motor_ran == [SaleState.PENDING]
    assert sale == as_stored(store, sale)
    assert sale.state == SaleState.COMPLETED
    assert sale.price == PRICES[COLA]
    assert sale.resolved_at == T0 + timedelta(seconds=5)
    assert motor_turned(machine, COLA) == [False, True, False]
    assert flow.balance() == 500_000
    assert stock(store, COLA) == 2
    with store.read() as session:
        assert repo.daily_revenue(session, T0.date()) == 2_000_000
        assert repo.units_sold_since(session, T0) == {COLA: 1}
    assert open_alerts(store) == []


def test_failed_drop_refunds_credit_and_leaves_stock(
    flow: VendFlow, store: Store, machine: MockPinMachine
) -> None:
    restock(store, COLA, 3)
    flow.deposit(2_500_000, T0)
    machine.on_motor = lambda m, slot_id: None  # spiral turns, item stays stuck

    sale = flow.vend(COLA, T0)

    assert sale.state == SaleState.REFUNDED
    assert sale.reason == "no drop seen"
    assert sale == as_stored(store, sale)
    assert motor_turned(machine, COLA) == [False, True, False]
    assert flow.balance() == 2_500_000
    assert ledger(store) == [
        (CreditKind.DEPOSIT, 2_500_000),
        (CreditKind.CHARGE, -2_000_000),
        (CreditKind.REFUND, 2_000_000),
    ]
    assert stock(store, COLA) == 3
    with store.read() as session:
        assert repo.daily_revenue(session, T0.date()) == 0
    assert open_alerts(store) == [("drop_not_seen", COLA)]
    # the customer takes the money back with the coin return
    assert flow.cash_out(T0) == 2_500_000
    assert flow.balance() == 0
    assert flow.cash_out(T0) == 0


def test_insufficient_credit_names_the_slot_and_changes_nothing(
    flow: VendFlow, store: Store, machine: MockPinMachine
) -> None:
    flow.deposit(1_000_000, T0)
    with pytest.raises(
        InsufficientCreditError, match="slot 1: price 2000000 exceeds credit 1000000"
    ):
        flow.vend(COLA, T0)
    assert sales(store) == []
    assert flow.balance() == 1_000_000
    assert motor_turned(machine, COLA) == [False]


def test_unknown_slot_is_refused(flow: VendFlow, store: Store) -> None:
    flow.deposit(5_000_000, T0)
    with pytest.raises(UnknownSlotError, match="slot 9: no such slot") as info:
        flow.vend(9, T0)
    assert isinstance(info.value, CustobotError)
    assert info.value.slot_id == 9
    assert sales(store) == []
    assert flow.balance() == 5_000_000


def test_sold_out_after_the_last_item(
    flow: VendFlow, store: Store, machine: MockPinMachine
) -> None:
    restock(store, CHIPS, 1)
    flow.deposit(3_000_000, T0)
    assert flow.vend(CHIPS, T0).state == SaleState.COMPLETED
    with pytest.raises(SoldOutError, match="slot 2: sold out"):
        flow.vend(CHIPS, T0 + timedelta(minutes=1))
    assert flow.balance() == 1_500_000
    assert motor_turned(machine, CHIPS) == [False, True, False]


def test_motor_fault_refunds_and_alerts(
    flow: VendFlow, store: Store, machine: MockPinMachine
) -> None:
    flow.deposit(2_000_000, T0)
    machine.motors[COLA].close()  # the motor driver is gone: gpiozero refuses to drive it
    with pytest.raises(MotorFaultError, match="slot 1: motor fault") as info:
        flow.vend(COLA, T0)
    assert info.value.slot_id == COLA
    [sale] = sales(store)
    assert sale.state == SaleState.REFUNDED
    assert flow.balance() == 2_000_000
    assert open_alerts(store) == [("motor_fault", COLA)]
    assert flow.in_progress is None
    assert flow.vend(CHIPS, T0).state == SaleState.COMPLETED  # the machine keeps selling


def test_cashless_sale_and_refund_go_back_to_the_card(
    flow: VendFlow, store: Store, machine: MockPinMachine
) -> None:
    assert flow.vend(CHIPS, T0, PaymentMethod.CASHLESS).state == SaleState.COMPLETED
    machine.on_motor = lambda m, slot_id: None
    refunded = flow.vend(CHIPS, T0, PaymentMethod.CASHLESS)
    assert refunded.state == SaleState.REFUNDED
    assert flow.balance() == 0  # nothing left in the machine: the card got it back
    assert ledger(store) == [  # card money only enters the coin ledger when refunded
        (CreditKind.REFUND, 1_500_000),
        (CreditKind.PAYOUT, -1_500_000),
    ]


@pytest.mark.parametrize("amount", [0, -500_000, True])
def test_bad_deposit_is_refused(flow: VendFlow, store: Store, amount: int) -> None:
    with pytest.raises(InvalidAmountError):
        flow.deposit(amount, T0)
    assert ledger(store) == []


def test_real_time_caller_waits_for_the_drop_between_start_and_finish(
    flow: VendFlow, store: Store, machine: MockPinMachine
) -> None:
    flow.deposit(4_000_000, T0)
    machine.on_motor = lambda m, slot_id: None  # the item takes a moment to fall
    sale = flow.start(COLA, T0)
    assert flow.in_progress == sale
    with pytest.raises(VendInProgressError, match="slot 2"):
        flow.start(CHIPS, T0)
    machine.item_falls(COLA)  # ...and falls while the caller waits
    done = flow.finish(T0 + timedelta(seconds=2))
    assert done.state == SaleState.COMPLETED
    assert done.resolved_at == T0 + timedelta(seconds=2)
    assert flow.in_progress is None
    with pytest.raises(NoVendInProgressError, match="no vend in progress"):
        flow.finish(T0)


def test_restart_refunds_an_interrupted_vend_unless_the_recount_shows_it_gone(
    store: Store, machine: MockPinMachine, slots: list[SlotConfig]
) -> None:
    restock(store, COLA, 5)
    restock(store, CHIPS, 5)
    crashed = VendFlow(store, machine, slots)
    crashed.deposit(4_000_000, T0)
    crashed.start(COLA, T0)  # power cut: never finished
    restarted = VendFlow(store, machine, slots)
    restarted.start(CHIPS, T0)  # second power cut, other slot

    after = VendFlow(store, machine, slots)
    later = T0 + timedelta(minutes=10)
    settled = after.resolve_pending(later, counts={COLA: 4, CHIPS: 5})

    assert [(s.slot_id, s.state) for s in settled] == [
        (COLA, SaleState.COMPLETED),  # 4 < 5: the cola fell before the cut
        (CHIPS, SaleState.REFUNDED),  # still 5: the customer gets the credit back
    ]
    assert after.balance() == 4_000_000 - PRICES[COLA]
    assert after.resolve_pending(later, counts={COLA: 4, CHIPS: 5}) == []
    assert after.balance() == 4_000_000 - PRICES[COLA]
    assert [a for a in open_alerts(store)] == [
        ("vend_interrupted", COLA),
        ("vend_interrupted", CHIPS),
    ]
    assert [s.state for s in sales(store)] == [SaleState.COMPLETED, SaleState.REFUNDED]


def test_restart_without_a_count_refunds(
    store: Store, machine: MockPinMachine, slots: list[SlotConfig]
) -> None:
    crashed = VendFlow(store, machine, slots)
    crashed.deposit(2_000_000, T0)
    crashed.start(COLA, T0)
    [settled] = VendFlow(store, machine, slots).resolve_pending(T0)
    assert settled.state == SaleState.REFUNDED
    assert settled.reason == "resolved at restart: item not known to have dropped"
    with store.read() as session:
        alerts = list(session.exec(select(Alert)))
    assert [a.message for a in alerts] == [
        f"sale {settled.id} was interrupted; refunded: {settled.reason}"
    ]
