"""The tables the machine keeps: sales, the customer credit ledger, stock recounts, alerts.

Money is ``int`` in token base units (USDC: 6 decimals) stored as SQLite INTEGER
(``BigInteger``), never a float. Times are timezone-aware and stored as UTC; a naive
datetime is refused, because the clock is injected and a naive one is a bug upstream.

The schema in the database comes only from the Alembic revisions in
``device/migrations/versions``; a test checks that they build exactly these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware datetime stored as naive UTC text, read back as aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware time (UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class EnumText(sa.TypeDecorator[StrEnum]):
    """A ``StrEnum`` stored as its text value and read back as the enum member."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum
        self.length = length

    def process_bind_param(self, value: StrEnum | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


class SaleState(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    REFUNDED = "refunded"


class PaymentMethod(StrEnum):
    COIN = "coin"
    CASHLESS = "cashless"


class CreditKind(StrEnum):
    """Why the customer credit held by the machine changed."""

    DEPOSIT = "deposit"  # coins inserted, or a card authorisation for one sale
    CHARGE = "charge"  # a sale took the price
    REFUND = "refund"  # a failed vend gave the price back
    PAYOUT = "payout"  # coins returned, or a card refunded


class RecountSource(StrEnum):
    SENSOR = "sensor"
    RESTOCK = "restock"
    OPERATOR = "operator"


class AlertSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


def _choice(column: str, enum: type[StrEnum]) -> sa.CheckConstraint:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return sa.CheckConstraint(f"{column} IN ({values})", name=f"{column}_valid")


class Sale(SQLModel, table=True):
    """One vend: written PENDING before the motor turns, then COMPLETED or REFUNDED once."""

    __tablename__ = "sale"
    __table_args__ = (
        _choice("state", SaleState),
        _choice("payment", PaymentMethod),
        sa.CheckConstraint("price >= 0", name="price_nonnegative"),
        sa.Index("ix_sale_slot_created", "slot_id", "created_at"),
        sa.Index("ix_sale_state", "state"),
        sa.Index("ix_sale_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    slot_id: int
    gtin: str = Field(sa_type=sa.String(14))
    price: int = Field(sa_type=sa.BigInteger)
    payment: PaymentMethod = Field(sa_type=EnumText(PaymentMethod))
    state: SaleState = Field(sa_type=EnumText(SaleState))
    created_at: datetime = Field(sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, sa_type=sa.String(200))


class CreditEntry(SQLModel, table=True):
    """A movement of customer credit; ``balance`` is the running total after it.

    The running balance makes the credit check O(1) per vend; ``(sale_id, kind)`` is
    unique so a sale is charged, refunded or paid out at most once, whatever crashes.
    """

    __tablename__ = "credit_entry"
    __table_args__ = (
        _choice("kind", CreditKind),
        _choice("method", PaymentMethod),
        sa.CheckConstraint("balance >= 0", name="balance_nonnegative"),
        sa.UniqueConstraint("sale_id", "kind", name="uq_credit_entry_sale_kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    kind: CreditKind = Field(sa_type=EnumText(CreditKind))
    method: PaymentMethod = Field(sa_type=EnumText(PaymentMethod))
    amount: int = Field(sa_type=sa.BigInteger)
    balance: int = Field(sa_type=sa.BigInteger)
    sale_id: int | None = Field(default=None, foreign_key="sale.id")


class StockRecount(SQLModel, table=True):
    """What was physically in a slot at a moment: from a sensor, a restock or an operator."""

    __tablename__ = "stock_recount"
    __table_args__ = (
        _choice("source", RecountSource),
        sa.CheckConstraint("count >= 0", name="count_nonnegative"),
        sa.Index("ix_stock_recount_slot_at", "slot_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    slot_id: int
    count: int
    source: RecountSource = Field(sa_type=EnumText(RecountSource))
    at: datetime = Field(sa_type=UTCDateTime)


class Alert(SQLModel, table=True):
    """Something an operator should see; open until ``cleared_at`` is set."""

    __tablename__ = "alert"
    __table_args__ = (
        _choice("severity", AlertSeverity),
        sa.Index("ix_alert_open", "cleared_at", "kind", "slot_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(sa_type=sa.String(64))
    severity: AlertSeverity = Field(sa_type=EnumText(AlertSeverity))
    slot_id: int | None = None
    message: str = Field(sa_type=sa.String(500))
    cleared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TurnedAway(SQLModel, table=True):
    """A customer who wanted an item from an empty slot and left: a lost sale.

    Written by the vend flow when it refuses a vend as sold out, so owners see what
    stock-outs cost (``price`` is the retail price the customer would have paid).
    """

    __tablename__ = "turned_away"
    __table_args__ = (sa.Index("ix_turned_away_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    slot_id: int
    gtin: str = Field(sa_type=sa.String(14))
    price: int = Field(sa_type=sa.BigInteger)
    at: datetime = Field(sa_type=UTCDateTime)


class PriceChange(SQLModel, table=True):
    """A slot's selling price from ``at`` on, and why: every markdown and every return
    to the list price is a row, so owners can see what the machine charged and when.

    ``units`` is how many units the markdown is for (the near-expiry ones at the
    front of the slot); the list price comes back once they are sold. The same price
    holds for every customer until the next row: nothing here is per customer.
    """

    __tablename__ = "price_change"
    __table_args__ = (
        sa.CheckConstraint("price >= 0", name="price_change_price_nonnegative"),
        sa.CheckConstraint("price <= list_price", name="price_change_not_above_list"),
        sa.CheckConstraint("units >= 0", name="price_change_units_nonnegative"),
        sa.Index("ix_price_change_slot_at", "slot_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    slot_id: int
    price: int = Field(sa_type=sa.BigInteger)
    list_price: int = Field(sa_type=sa.BigInteger)
    floor_price: int = Field(sa_type=sa.BigInteger)
    units: int = 0
    reason: str = Field(sa_type=sa.String(200))
