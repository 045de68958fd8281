"""Reading and writing the store's rows; every function runs inside the caller's session.

The caller picks the transaction (``Store.write()`` / ``Store.read()``), so one vend
step is one short transaction however many rows it touches. State changes of a sale
are conditional updates (``WHERE state = 'pending'``): a sale is completed or
refunded at most once, and the ledger's ``(sale_id, kind)`` uniqueness backs that up.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlmodel import Session, col, select

from device.store.models import (
    Alert,
    AlertSeverity,
    CreditKind,
    PaymentMethod,
    PriceChange,
    RecountSource,
    Sale,
    SaleState,
    StockRecount,
    TurnedAway,
    UTCDateTime,
)

# The vend path (a simulated year is ~40,000 vends) runs plain SQL on the session's
# connection: building ORM statements costs more than SQLite itself. Times go through
# the column type's own converters, so they are stored exactly as the ORM stores them.
_DIALECT = sqlite.dialect()
_TIME = UTCDateTime().dialect_impl(_DIALECT)
_TIME_IN = cast("Callable[[datetime], str]", _TIME.bind_processor(_DIALECT))
_TIME_OUT = cast("Callable[[str], datetime]", _TIME.result_processor(_DIALECT, None))


def _time_to_db(value: datetime) -> str:
    return _TIME_IN(value)


# Without statistics SQLite's planner prefers ``ix_sale_state`` (state = ?) to a
# ``created_at`` range, and nearly every sale is completed; to return rows in id
# order (or grouped by slot) it would rather walk the whole table than sort. Either
# way each "sales since" query read every sale ever made (quadratic over a simulated
# year). Plain SQL names the index (``INDEXED BY``); the ORM queries take the state
# and the id order out of index selection with a unary ``+`` (same rows, same order).
_COMPLETED = sa.text("+sale.state = 'completed'")
_BY_ID: sa.ColumnClause[int] = sa.literal_column("+sale.id")


# The vend path's functions take a session or the bare DB-API connection of
# ``Store.transaction()``; either way the SQL runs in the caller's transaction.
Db = Session | sqlite3.Connection


def _sql(db: Db, statement: str, *params: object) -> list[tuple[Any, ...]]:
    """Run one statement to completion and return its rows."""
    connection = db.connection().connection.driver_connection if isinstance(db, Session) else db
    assert isinstance(connection, sqlite3.Connection)
    return connection.execute(statement, params).fetchall()


# --- customer credit -------------------------------------------------------------


def credit_balance(db: Db) -> int:
    """Customer credit the machine holds now (coins inserted and not yet spent or returned)."""
    rows = _sql(db, "SELECT balance FROM credit_entry ORDER BY id DESC LIMIT 1")
    return int(rows[0][0]) if rows else 0


def add_credit(
    db: Db,
    *,
    kind: CreditKind,
    method: PaymentMethod,
    amount: int,
    now: datetime,
    sale_id: int | None = None,
) -> int:
    """Append one credit movement (signed ``amount``) and return the new balance."""
    balance = credit_balance(db) + amount
    _sql(
        db,
        "INSERT INTO credit_entry (at, kind, method, amount, balance, sale_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        _time_to_db(now),
        CreditKind(kind).value,
        PaymentMethod(method).value,
        amount,
        balance,
        sale_id,
    )
    return balance


# --- sales -----------------------------------------------------------------------


def record_sale(
    db: Db,
    *,
    slot_id: int,
    gtin: str,
    price: int,
    payment: PaymentMethod,
    now: datetime,
) -> Sale:
    """Write a PENDING sale; a coin sale takes its price from the credit (checked by the caller).

    A cashless sale was authorised by the card reader for exactly its price, so it
    does not touch the coin credit unless it is refunded.
    """
    payment = PaymentMethod(payment)
    [(sale_id,)] = _sql(
        db,
        "INSERT INTO sale (slot_id, gtin, price, payment, state, created_at)"
        " VALUES (?, ?, ?, ?, 'pending', ?) RETURNING id",
        slot_id,
        gtin,
        price,
        payment.value,
        _time_to_db(now),
    )
    if payment == PaymentMethod.COIN:
        add_credit(
            db, kind=CreditKind.CHARGE, method=payment, amount=-price, now=now, sale_id=sale_id
        )
    return _new_sale(
        id=sale_id,
        slot_id=slot_id,
        gtin=gtin,
        price=price,
        payment=payment,
        state=SaleState.PENDING,
        created_at=now.astimezone(UTC),
    )


_SALE_MANAGER = cast("Any", Sale)._sa_class_manager


def _new_sale(**fields: Any) -> Sale:
    """A transient ``Sale`` from values already of their fields' types, built without
    pydantic's validation and SQLAlchemy's per-field set events (``Sale(...)`` costs
    ~43 µs, a tenth of a simulated vend); it is the same mapped instance otherwise."""
    sa.orm.configure_mappers()  # what ``Sale(...)`` would do first (~2 µs once done)
    sale = Sale.model_construct(**fields)
    _SALE_MANAGER.setup_instance(sale)
    return sale


def _resolve(
    db: Db, sale_id: int, state: SaleState, now: datetime, reason: str | None
) -> tuple[Any, ...] | None:
    """Move a PENDING sale to ``state`` and return its (price, payment); ``None`` if it was
    not pending (already resolved)."""
    rows = _sql(
        db,
        "UPDATE sale SET state = ?, resolved_at = ?, reason = ?"
        " WHERE id = ? AND state = 'pending' RETURNING price, payment",
        state.value,
        _time_to_db(now),
        reason,
        sale_id,
    )
    return rows[0] if rows else None


def complete_sale(db: Db, sale_id: int, now: datetime, reason: str | None = None) -> bool:
    """PENDING → COMPLETED; ``False`` if the sale was already resolved (nothing changes)."""
    return _resolve(db, sale_id, SaleState.COMPLETED, now, reason) is not None


def refund_sale(db: Db, sale_id: int, now: datetime, reason: str) -> bool:
    """PENDING → REFUNDED and give the price back; ``False`` if already resolved.

    Coin payments go back to the customer's credit (to choose again or cash out);
    a cashless payment is refunded and paid back to the card at once.
    """
    row = _resolve(db, sale_id, SaleState.REFUNDED, now, reason)
    if row is None:
        return False
    price, payment = int(row[0]), PaymentMethod(row[1])
    add_credit(db, kind=CreditKind.REFUND, method=payment, amount=price, now=now, sale_id=sale_id)
    if payment == PaymentMethod.CASHLESS:
        add_credit(
            db, kind=CreditKind.PAYOUT, method=payment, amount=-price, now=now, sale_id=sale_id
        )
    return True


def get_sale(session: Session, sale_id: int) -> Sale | None:
    return session.get(Sale, sale_id)


def pending_sales(session: Session) -> list[Sale]:
    """Half-finished vends, oldest first."""
    query = select(Sale).where(col(Sale.state) == SaleState.PENDING).order_by(col(Sale.id))
    return list(session.exec(query))


def sales_since(session: Session, since: datetime, slot_id: int | None = None) -> list[Sale]:
    """Completed sales created at or after ``since`` (for one slot, or all), oldest first."""
    query = select(Sale).where(_COMPLETED, col(Sale.created_at) >= since)
    if slot_id is not None:
        query = query.where(col(Sale.slot_id) == slot_id)
    return list(session.exec(query.order_by(_BY_ID)))


def sale_times_since(db: Db, since: datetime) -> list[tuple[datetime, int, int]]:
    """(created_at, slot id, price) of the completed sales since ``since``, oldest first.

    What a forecast needs of ``sales_since`` (the price tells a markdown's sale from a
    sale at list) without building an ORM object per sale.
    """
    rows = _sql(
        db,
        "SELECT created_at, slot_id, price FROM sale INDEXED BY ix_sale_created"
        " WHERE created_at >= ? AND state = 'completed' ORDER BY id",
        _time_to_db(since),
    )
    return [(_TIME_OUT(at), int(slot_id), int(price)) for at, slot_id, price in rows]


def units_sold_since(db: Db, since: datetime) -> dict[int, int]:
    """Completed sales per slot since ``since`` (slots without sales are absent)."""
    rows = _sql(
        db,
        "SELECT slot_id, count(*) FROM sale INDEXED BY ix_sale_created"
        " WHERE created_at >= ? AND state = 'completed' GROUP BY slot_id",
        _time_to_db(since),
    )
    return {int(slot_id): int(count) for slot_id, count in rows}


def sales_today(db: Db, since: datetime) -> dict[tuple[int, str], tuple[int, int]]:
    """Per (slot id, state) of the sales created since ``since``: (how many, their prices' sum).

    The published machine state's daily figures in one aggregate query.
    """
    rows = _sql(
        db,
        "SELECT slot_id, state, count(*), sum(price) FROM sale INDEXED BY ix_sale_created"
        " WHERE created_at >= ? GROUP BY slot_id, state",
        _time_to_db(since),
    )
    return {(int(slot), str(state)): (int(n), int(total)) for slot, state, n, total in rows}


def revenue(session: Session, start: datetime, end: datetime) -> int:
    """Base units taken by completed sales created in ``[start, end)``."""
    query = select(sa.func.coalesce(sa.func.sum(col(Sale.price)), 0)).where(
        _COMPLETED,
        col(Sale.created_at) >= start,
        col(Sale.created_at) < end,
    )
    return int(session.exec(query).one())


def daily_revenue(session: Session, day: date) -> int:
    """Revenue of one UTC calendar day."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return revenue(session, start, start + timedelta(days=1))


# --- stock -----------------------------------------------------------------------


def record_recount(
    session: Session, slot_id: int, count: int, source: RecountSource, now: datetime
) -> StockRecount:
    """Remember what was physically in ``slot_id`` at ``now``."""
    recount = StockRecount(slot_id=slot_id, count=count, source=source, at=now)
    session.add(recount)
    session.flush()
    return recount


def add_recount(db: Db, slot_id: int, count: int, source: RecountSource, now: datetime) -> None:
    """``record_recount`` in plain SQL, for the agent's recounts after every visit."""
    _sql(
        db,
        "INSERT INTO stock_recount (slot_id, count, source, at) VALUES (?, ?, ?, ?)",
        slot_id,
        count,
        RecountSource(source).value,
        _time_to_db(now),
    )


def last_recount(
    session: Session, slot_id: int, at_or_before: datetime | None = None
) -> StockRecount | None:
    """The latest recount of ``slot_id`` (optionally the latest one not after a moment)."""
    query = select(StockRecount).where(col(StockRecount.slot_id) == slot_id)
    if at_or_before is not None:
        query = query.where(col(StockRecount.at) <= at_or_before)
    order = (col(StockRecount.at).desc(), col(StockRecount.id).desc())
    return session.exec(query.order_by(*order).limit(1)).first()


def arrivals(db: Db, slot_id: int, since: datetime) -> list[tuple[datetime, int]]:
    """Units that came into ``slot_id`` at each recount since ``since``, oldest first.

    A recount above the estimate just before it (the previous count less the sales
    in between that were not refunded) is an arrival: a delivery or a fill; the
    slot's first recount ever is one whole. The dates let the planner tell which
    items of a perishable slot expire first.
    """
    rows = _sql(
        db,
        "SELECT at, added FROM ("
        "  SELECT r.at, r.count - (r.before - (SELECT count(*) FROM sale s"
        "     WHERE s.slot_id = ?1 AND s.created_at >= coalesce(r.previous, r.at)"
        "       AND s.created_at < r.at AND s.state != 'refunded')) AS added, r.id"
        "  FROM (SELECT at, count, id,"
        "          lag(at) OVER w AS previous, coalesce(lag(count) OVER w, 0) AS before"
        "        FROM stock_recount WHERE slot_id = ?1 AND at >= coalesce("
        "          (SELECT max(at) FROM stock_recount WHERE slot_id = ?1 AND at <= ?2), ?2)"
        "        WINDOW w AS (ORDER BY at, id)) r"
        "  WHERE r.at > ?2)"
        " WHERE added > 0 ORDER BY at, id",
        slot_id,
        _time_to_db(since),
    )
    return [(_TIME_OUT(at), int(added)) for at, added in rows]


def last_recounts(session: Session) -> dict[int, StockRecount]:
    """The latest recount of every slot that has one."""
    latest = (
        select(col(StockRecount.slot_id), sa.func.max(col(StockRecount.id)).label("id"))
        .group_by(col(StockRecount.slot_id))
        .subquery()
    )
    query = select(StockRecount).join(latest, col(StockRecount.id) == latest.c.id)
    return {recount.slot_id: recount for recount in session.exec(query)}


def stock_estimate(db: Db, slot_id: int, before_sale: Sale | None = None) -> int | None:
    """Items in ``slot_id``: last recount minus the sales since that were not refunded.

    With ``before_sale``, the stock just before that sale (recount not after it, only
    earlier sales counted). ``None`` when the slot was never counted.
    """
    return stock_estimates(db, (slot_id,), before_sale)[slot_id]


def stock_estimates(
    db: Db, slot_ids: Iterable[int], before_sale: Sale | None = None
) -> dict[int, int | None]:
    """``stock_estimate`` of each of ``slot_ids`` in one statement (the agent reads every
    slot after each poll and visit: one statement costs half of one per slot)."""
    ids = list(slot_ids)
    if not ids:
        return {}
    at: str | None = None
    before_id: int | None = None
    if before_sale is not None:
        at, before_id = _time_to_db(before_sale.created_at), before_sale.id
    slots = ", ".join(f"(?{n})" for n in range(3, len(ids) + 3))  # placeholders only
    rows = _sql(
        db,
        f"WITH slot(id) AS (VALUES {slots})"  # noqa: S608
        " SELECT slot.id, (SELECT r.count - (SELECT count(*) FROM sale s"
        "     WHERE s.slot_id = r.slot_id AND s.created_at >= r.at AND s.state != 'refunded'"
        "       AND (?1 IS NULL OR s.id < ?1))"
        "   FROM stock_recount r WHERE r.slot_id = slot.id AND (?2 IS NULL OR r.at <= ?2)"
        "   ORDER BY r.at DESC, r.id DESC LIMIT 1)"
        " FROM slot",
        before_id,
        at,
        *ids,
    )
    return {int(slot): None if count is None else int(count) for slot, count in rows}


# --- prices ----------------------------------------------------------------------


def record_price_change(session: Session, change: PriceChange) -> PriceChange:
    """Record a slot's new selling price and why (a markdown, or back to list)."""
    if not 0 <= change.price <= change.list_price:
        raise ValueError(f"slot {change.slot_id}: price {change.price} outside 0..list")
    session.add(change)
    session.flush()
    return change


def current_prices(session: Session) -> dict[int, PriceChange]:
    """The latest price change of every slot that has one (the price it sells at now)."""
    latest = (
        select(col(PriceChange.slot_id), sa.func.max(col(PriceChange.id)).label("id"))
        .group_by(col(PriceChange.slot_id))
        .subquery()
    )
    query = select(PriceChange).join(latest, col(PriceChange.id) == latest.c.id)
    return {change.slot_id: change for change in session.exec(query)}


def price_changes(session: Session, limit: int = 20) -> list[PriceChange]:
    """The most recent price changes, newest first."""
    query = select(PriceChange).order_by(col(PriceChange.id).desc()).limit(limit)
    return list(session.exec(query))


def units_sold_at(db: Db, slot_id: int, since: datetime, price: int) -> int:
    """Units of ``slot_id`` sold (not refunded) at ``price`` since ``since``."""
    rows = _sql(
        db,
        "SELECT count(*) FROM sale WHERE slot_id = ? AND created_at >= ? AND price = ?"
        " AND state != 'refunded'",
        slot_id,
        _time_to_db(since),
        price,
    )
    return int(rows[0][0])


# --- alerts ----------------------------------------------------------------------


def raise_alert(
    session: Session,
    *,
    kind: str,
    severity: AlertSeverity,
    message: str,
    now: datetime,
    slot_id: int | None = None,
) -> Alert:
    """Open an alert, or return the open one of the same kind and slot (no duplicates)."""
    existing = session.exec(
        select(Alert).where(
            col(Alert.cleared_at).is_(None),
            col(Alert.kind) == kind,
            col(Alert.slot_id).is_(None) if slot_id is None else col(Alert.slot_id) == slot_id,
        )
    ).first()
    if existing is not None:
        return existing
    alert = Alert(at=now, kind=kind, severity=severity, slot_id=slot_id, message=message)
    session.add(alert)
    session.flush()
    return alert


def clear_alerts(session: Session, *, kind: str, now: datetime, slot_id: int | None = None) -> int:
    """Close the open alerts of ``kind`` (for ``slot_id``); return how many were open."""
    result = session.exec(
        sa.update(Alert)
        .where(
            col(Alert.cleared_at).is_(None),
            col(Alert.kind) == kind,
            col(Alert.slot_id).is_(None) if slot_id is None else col(Alert.slot_id) == slot_id,
        )
        .values(cleared_at=now)
    )
    return int(getattr(result, "rowcount", 0))


def open_alert_messages(db: Db) -> list[str]:
    """The messages of the alerts not yet cleared, oldest first (``open_alerts`` in plain SQL)."""
    rows = _sql(db, "SELECT message FROM alert WHERE cleared_at IS NULL ORDER BY id")
    return [str(message) for (message,) in rows]


def open_alerts(session: Session) -> list[Alert]:
    """Alerts not yet cleared, oldest first."""
    query = select(Alert).where(col(Alert.cleared_at).is_(None)).order_by(col(Alert.id))
    return list(session.exec(query))


# --- lost sales --------------------------------------------------------------------


def record_turned_away(db: Db, *, slot_id: int, gtin: str, price: int, now: datetime) -> None:
    """A customer found ``slot_id`` empty and left: a lost sale at ``price`` (plain SQL:
    a simulated year turns thousands of customers away)."""
    _sql(
        db,
        "INSERT INTO turned_away (slot_id, gtin, price, at) VALUES (?, ?, ?, ?)",
        slot_id,
        gtin,
        price,
        _time_to_db(now),
    )


def turned_away_since(session: Session, since: datetime) -> tuple[int, int]:
    """(customers turned away, retail value of what they wanted) since ``since``."""
    row = session.exec(
        select(sa.func.count(), sa.func.coalesce(sa.func.sum(col(TurnedAway.price)), 0)).where(
            col(TurnedAway.at) >= since
        )
    ).one()
    return int(row[0]), int(row[1])
