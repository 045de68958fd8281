"""Reading and writing the store's rows; every function runs inside the caller's session.

The caller picks the transaction (``Store.write()`` / ``Store.read()``), so one vend
step is one short transaction however many rows it touches. State changes of a sale
are conditional updates (``WHERE state = 'pending'``): a sale is completed or
refunded at most once, and the ledger's ``(sale_id, kind)`` uniqueness backs that up.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from device.store.models import (
    Alert,
    AlertSeverity,
    CreditEntry,
    CreditKind,
    PaymentMethod,
    RecountSource,
    Sale,
    SaleState,
    StockRecount,
)

# --- customer credit -------------------------------------------------------------


def credit_balance(session: Session) -> int:
    """Customer credit the machine holds now (coins inserted and not yet spent or returned)."""
    latest = select(CreditEntry.balance).order_by(col(CreditEntry.id).desc()).limit(1)
    return session.exec(latest).first() or 0


def add_credit(
    session: Session,
    *,
    kind: CreditKind,
    method: PaymentMethod,
    amount: int,
    now: datetime,
    sale_id: int | None = None,
) -> int:
    """Append one credit movement (signed ``amount``) and return the new balance."""
    balance = credit_balance(session) + amount
    session.exec(
        sa.insert(CreditEntry).values(
            at=now, kind=kind, method=method, amount=amount, balance=balance, sale_id=sale_id
        )
    )
    return balance


# --- sales -----------------------------------------------------------------------


def record_sale(
    session: Session,
    *,
    slot_id: int,
    gtin: str,
    price: int,
    payment: PaymentMethod,
    now: datetime,
) -> Sale:
    """Write a PENDING sale and take its price from the credit (the caller checked it).

    A cashless sale is authorised for exactly its price, so it is deposited and
    charged in the same transaction and never touches coin credit.
    """
    sale = Sale(
        slot_id=slot_id,
        gtin=gtin,
        price=price,
        payment=payment,
        state=SaleState.PENDING,
        created_at=now,
    )
    sale.id = session.exec(
        sa.insert(Sale)
        .values(
            slot_id=slot_id,
            gtin=gtin,
            price=price,
            payment=payment,
            state=SaleState.PENDING,
            created_at=now,
        )
        .returning(col(Sale.id))
    ).scalar_one()
    if payment == PaymentMethod.CASHLESS:
        add_credit(
            session, kind=CreditKind.DEPOSIT, method=payment, amount=price, now=now, sale_id=sale.id
        )
    add_credit(
        session, kind=CreditKind.CHARGE, method=payment, amount=-price, now=now, sale_id=sale.id
    )
    return sale


def _resolve(
    session: Session, sale_id: int, state: SaleState, now: datetime, reason: str | None
) -> Sale | None:
    """Move a PENDING sale to ``state``; ``None`` if it was not pending (already resolved)."""
    resolved: Sale | None = session.exec(
        sa.update(Sale)
        .where(col(Sale.id) == sale_id, col(Sale.state) == SaleState.PENDING)
        .values(state=state, resolved_at=now, reason=reason)
        .returning(Sale)
        .execution_options(synchronize_session=False)
    ).scalar()
    return resolved


def complete_sale(
    session: Session, sale_id: int, now: datetime, reason: str | None = None
) -> Sale | None:
    """PENDING → COMPLETED; ``None`` if the sale was already resolved."""
    return _resolve(session, sale_id, SaleState.COMPLETED, now, reason)


def refund_sale(session: Session, sale_id: int, now: datetime, reason: str) -> Sale | None:
    """PENDING → REFUNDED and give the price back; ``None`` if the sale was already resolved.

    Coin payments go back to the customer's credit (to choose again or cash out);
    a cashless payment is paid back to the card at once.
    """
    sale = _resolve(session, sale_id, SaleState.REFUNDED, now, reason)
    if sale is None:
        return None
    add_credit(
        session,
        kind=CreditKind.REFUND,
        method=sale.payment,
        amount=sale.price,
        now=now,
        sale_id=sale_id,
    )
    if sale.payment == PaymentMethod.CASHLESS:
        add_credit(
            session,
            kind=CreditKind.PAYOUT,
            method=sale.payment,
            amount=-sale.price,
            now=now,
            sale_id=sale_id,
        )
    return sale


def get_sale(session: Session, sale_id: int) -> Sale | None:
    return session.get(Sale, sale_id)


def pending_sales(session: Session) -> list[Sale]:
    """Half-finished vends, oldest first."""
    query = select(Sale).where(col(Sale.state) == SaleState.PENDING).order_by(col(Sale.id))
    return list(session.exec(query))


def sales_since(session: Session, since: datetime, slot_id: int | None = None) -> list[Sale]:
    """Completed sales created at or after ``since`` (for one slot, or all), oldest first."""
    query = select(Sale).where(
        col(Sale.state) == SaleState.COMPLETED, col(Sale.created_at) >= since
    )
    if slot_id is not None:
        query = query.where(col(Sale.slot_id) == slot_id)
    return list(session.exec(query.order_by(col(Sale.id))))


def units_sold_since(session: Session, since: datetime) -> dict[int, int]:
    """Completed sales per slot since ``since`` (slots without sales are absent)."""
    query = (
        select(col(Sale.slot_id), sa.func.count())
        .where(col(Sale.state) == SaleState.COMPLETED, col(Sale.created_at) >= since)
        .group_by(col(Sale.slot_id))
    )
    return {slot_id: count for slot_id, count in session.exec(query)}


def revenue(session: Session, start: datetime, end: datetime) -> int:
    """Base units taken by completed sales created in ``[start, end)``."""
    query = select(sa.func.coalesce(sa.func.sum(col(Sale.price)), 0)).where(
        col(Sale.state) == SaleState.COMPLETED,
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


def last_recount(
    session: Session, slot_id: int, at_or_before: datetime | None = None
) -> StockRecount | None:
    """The latest recount of ``slot_id`` (optionally the latest one not after a moment)."""
    query = select(StockRecount).where(col(StockRecount.slot_id) == slot_id)
    if at_or_before is not None:
        query = query.where(col(StockRecount.at) <= at_or_before)
    order = (col(StockRecount.at).desc(), col(StockRecount.id).desc())
    return session.exec(query.order_by(*order).limit(1)).first()


def last_recounts(session: Session) -> dict[int, StockRecount]:
    """The latest recount of every slot that has one."""
    latest = (
        select(col(StockRecount.slot_id), sa.func.max(col(StockRecount.id)).label("id"))
        .group_by(col(StockRecount.slot_id))
        .subquery()
    )
    query = select(StockRecount).join(latest, col(StockRecount.id) == latest.c.id)
    return {recount.slot_id: recount for recount in session.exec(query)}


def stock_estimate(session: Session, slot_id: int, before_sale: Sale | None = None) -> int | None:
    """Items in ``slot_id``: last recount minus the sales since that were not refunded.

    With ``before_sale``, the stock just before that sale (recount not after it, only
    earlier sales counted). ``None`` when the slot was never counted.
    """
    at = None if before_sale is None else before_sale.created_at
    recount = last_recount(session, slot_id, at)
    if recount is None:
        return None
    query = select(sa.func.count()).where(
        col(Sale.slot_id) == slot_id,
        col(Sale.created_at) >= recount.at,
        col(Sale.state) != SaleState.REFUNDED,
    )
    if before_sale is not None:
        query = query.where(col(Sale.id) < before_sale.id)
    return recount.count - session.exec(query).one()


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


def open_alerts(session: Session) -> list[Alert]:
    """Alerts not yet cleared, oldest first."""
    query = select(Alert).where(col(Alert.cleared_at).is_(None)).order_by(col(Alert.id))
    return list(session.exec(query))
