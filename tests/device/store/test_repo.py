"""The repository functions the vend flow, the simulation and the dashboard read through."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from device.store import repo
from device.store.db import Store
from device.store.models import (
    AlertSeverity,
    CreditKind,
    PaymentMethod,
    RecountSource,
    SaleState,
)

MIDNIGHT = datetime(2026, 5, 4, tzinfo=UTC)


def sell(
    session: Session, slot_id: int, price: int, at: datetime, state: SaleState = SaleState.COMPLETED
) -> int:
    """A cashless sale settled as ``state`` (cashless: no coin credit needed)."""
    sale = repo.record_sale(
        session,
        slot_id=slot_id,
        gtin="00000017",
        price=price,
        payment=PaymentMethod.CASHLESS,
        now=at,
    )
    assert sale.id is not None
    if state == SaleState.COMPLETED:
        assert repo.complete_sale(session, sale.id, at)
    elif state == SaleState.REFUNDED:
        assert repo.refund_sale(session, sale.id, at, "test")
    return sale.id


def test_daily_revenue_counts_completed_sales_of_that_utc_day(store: Store) -> None:
    with store.write() as session:
        sell(session, 1, 2_000_000, MIDNIGHT - timedelta(microseconds=1))  # the day before
        sell(session, 1, 2_000_000, MIDNIGHT)
        sell(session, 2, 1_500_000, MIDNIGHT + timedelta(hours=23, minutes=59))
        sell(session, 2, 1_500_000, MIDNIGHT + timedelta(hours=3), SaleState.REFUNDED)
        sell(session, 2, 1_500_000, MIDNIGHT + timedelta(hours=4), SaleState.PENDING)
        sell(session, 1, 2_000_000, MIDNIGHT + timedelta(days=1))  # the day after
    with store.read() as session:
        assert repo.daily_revenue(session, MIDNIGHT.date()) == 3_500_000
        assert repo.daily_revenue(session, MIDNIGHT.date() - timedelta(days=1)) == 2_000_000
        assert repo.units_sold_since(session, MIDNIGHT) == {1: 2, 2: 1}
        assert [s.price for s in repo.sales_since(session, MIDNIGHT, slot_id=2)] == [1_500_000]
        assert [s.slot_id for s in repo.pending_sales(session)] == [2]


def test_money_beyond_32_bits_is_stored_as_an_exact_integer(store: Store) -> None:
    big = 10**15 + 1  # a billion USDC and one base unit
    with store.write() as session:
        sale_id = sell(session, 1, big, MIDNIGHT)
    with store.read() as session:
        assert repo.revenue(session, MIDNIGHT, MIDNIGHT + timedelta(seconds=1)) == big
    with store.engine.connect() as connection:
        stored = connection.exec_driver_sql(
            "SELECT price, typeof(price) FROM sale WHERE id = ?", (sale_id,)
        ).one()
    assert tuple(stored) == (big, "integer")


def test_times_are_stored_as_utc_and_naive_times_refused(store: Store) -> None:
    berlin_noon = datetime(2026, 5, 4, 12, tzinfo=timezone(timedelta(hours=2)))
    with store.write() as session:
        repo.record_recount(session, 3, 9, RecountSource.SENSOR, berlin_noon)
    with store.read() as session:
        recount = repo.last_recount(session, 3)
    assert recount is not None
    assert recount.at == datetime(2026, 5, 4, 10, tzinfo=UTC)
    assert recount.at.tzinfo == UTC
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), store.write() as session:
        repo.record_recount(session, 3, 9, RecountSource.SENSOR, datetime(2026, 5, 4, 12))
    with store.read() as session:
        assert repo.last_recount(session, 3) == recount


def test_stock_is_the_last_recount_minus_sales_not_refunded(store: Store) -> None:
    with store.write() as session:
        assert repo.stock_estimate(session, 1) is None
        repo.record_recount(session, 1, 10, RecountSource.RESTOCK, MIDNIGHT)
        repo.record_recount(session, 2, 4, RecountSource.RESTOCK, MIDNIGHT)
        sell(session, 1, 100, MIDNIGHT + timedelta(hours=1))
        sell(session, 1, 100, MIDNIGHT + timedelta(hours=2), SaleState.REFUNDED)
        sell(session, 1, 100, MIDNIGHT + timedelta(hours=3), SaleState.PENDING)
        repo.record_recount(session, 2, 6, RecountSource.SENSOR, MIDNIGHT + timedelta(hours=5))
    with store.read() as session:
        assert repo.stock_estimate(session, 1) == 8
        assert repo.stock_estimate(session, 2) == 6
        # Every slot in one statement, in the order asked; a slot never counted is None.
        assert repo.stock_estimates(session, [2, 3, 1]) == {2: 6, 3: None, 1: 8}
        assert list(repo.stock_estimates(session, [2, 3, 1])) == [2, 3, 1]
        latest = repo.last_recounts(session)
        assert {slot: r.count for slot, r in latest.items()} == {1: 10, 2: 6}
        earlier = repo.last_recount(session, 2, at_or_before=MIDNIGHT + timedelta(hours=1))
        assert earlier is not None
        assert earlier.count == 4


def test_arrivals_are_recounts_above_the_stock_sales_left(store: Store) -> None:
    """A delivery is what a recount finds beyond the last count less the sales since."""
    hour = timedelta(hours=1)
    with store.write() as session:
        repo.record_recount(session, 1, 6, RecountSource.RESTOCK, MIDNIGHT)
        sell(session, 1, 100, MIDNIGHT + hour)
        sell(session, 1, 100, MIDNIGHT + 2 * hour, SaleState.REFUNDED)  # still there
        repo.record_recount(session, 1, 8, RecountSource.RESTOCK, MIDNIGHT + 3 * hour)
        repo.record_recount(session, 1, 8, RecountSource.SENSOR, MIDNIGHT + 4 * hour)
        sell(session, 1, 100, MIDNIGHT + 5 * hour)
        repo.record_recount(session, 1, 4, RecountSource.RESTOCK, MIDNIGHT + 6 * hour)  # removed
        repo.record_recount(session, 1, 7, RecountSource.OPERATOR, MIDNIGHT + 7 * hour)
        repo.record_recount(session, 2, 9, RecountSource.RESTOCK, MIDNIGHT + 7 * hour)
    with store.read() as session:
        # The first count ever is an arrival of everything it found.
        assert repo.arrivals(session, 1, MIDNIGHT - hour) == [
            (MIDNIGHT, 6),
            (MIDNIGHT + 3 * hour, 3),
            (MIDNIGHT + 7 * hour, 3),
        ]
        # From a moment after the first count: the count before it is the baseline.
        assert repo.arrivals(session, 1, MIDNIGHT + 2 * hour) == [
            (MIDNIGHT + 3 * hour, 3),
            (MIDNIGHT + 7 * hour, 3),
        ]
        assert repo.arrivals(session, 1, MIDNIGHT + 5 * hour) == [(MIDNIGHT + 7 * hour, 3)]
        assert repo.arrivals(session, 3, MIDNIGHT) == []


def test_credit_keeps_a_running_balance_and_refunds_a_sale_once(store: Store) -> None:
    with store.write() as session:
        coin = PaymentMethod.COIN
        repo.add_credit(session, kind=CreditKind.DEPOSIT, method=coin, amount=500, now=MIDNIGHT)
        repo.add_credit(session, kind=CreditKind.DEPOSIT, method=coin, amount=700, now=MIDNIGHT)
        sale = repo.record_sale(
            session, slot_id=1, gtin="00000017", price=1_000, payment=coin, now=MIDNIGHT
        )
        assert sale.id is not None
        assert repo.credit_balance(session) == 200
    with store.write() as session:
        assert repo.refund_sale(session, sale.id, MIDNIGHT, "jam")
        assert not repo.refund_sale(session, sale.id, MIDNIGHT, "jam")
        assert not repo.complete_sale(session, sale.id, MIDNIGHT)
        stored = repo.get_sale(session, sale.id)
        assert stored is not None
        assert (stored.state, stored.reason) == (SaleState.REFUNDED, "jam")
        assert repo.credit_balance(session) == 1_200


def test_a_second_refund_row_for_a_sale_is_rejected_by_the_database(store: Store) -> None:
    with store.write() as session:
        sale_id = sell(session, 1, 300, MIDNIGHT, SaleState.REFUNDED)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"), store.write() as session:
        repo.add_credit(
            session,
            kind=CreditKind.REFUND,
            method=PaymentMethod.CASHLESS,
            amount=300,
            now=MIDNIGHT,
            sale_id=sale_id,
        )


def test_the_balance_can_never_go_negative(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="balance_nonnegative"), store.write() as s:
        repo.add_credit(
            s, kind=CreditKind.PAYOUT, method=PaymentMethod.COIN, amount=-1, now=MIDNIGHT
        )


def test_alerts_open_once_per_kind_and_slot_until_cleared(store: Store) -> None:
    later = MIDNIGHT + timedelta(minutes=5)
    with store.write() as session:
        first = repo.raise_alert(
            session,
            kind="stuck",
            severity=AlertSeverity.WARNING,
            message="a",
            now=MIDNIGHT,
            slot_id=1,
        )
        again = repo.raise_alert(
            session, kind="stuck", severity=AlertSeverity.WARNING, message="b", now=later, slot_id=1
        )
        repo.raise_alert(
            session, kind="stuck", severity=AlertSeverity.WARNING, message="c", now=later, slot_id=2
        )
        repo.raise_alert(
            session, kind="hot", severity=AlertSeverity.CRITICAL, message="cpu 85C", now=later
        )
        assert again.id == first.id
    with store.write() as session:
        assert repo.clear_alerts(session, kind="stuck", now=later, slot_id=1) == 1
        assert repo.clear_alerts(session, kind="stuck", now=later, slot_id=1) == 0
    with store.read() as session:
        assert [(a.kind, a.slot_id) for a in repo.open_alerts(session)] == [
            ("stuck", 2),
            ("hot", None),
        ]
