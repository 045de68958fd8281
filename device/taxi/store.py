"""The taxi's own SQLite file: every quote with its breakdown, trips, and the fares paid.

It follows the machine store's conventions (``device.store.db.connect``: WAL,
``synchronous=FULL``, ``BEGIN IMMEDIATE`` writers; money ``BigInteger`` base units;
aware UTC times) but is a separate schema, created here with ``create_all`` rather than
by an Alembic revision: the machine's migration chain is shared by every kind and other
work is adding revisions to it now, so the taxi's tables join it when the core is split
into kinds (issue 19, point 1). What the constraints guarantee whatever races: a quote
is accepted, and its fare taken, at most once (``quote_id`` unique in ``taxi_trip`` and
``taxi_fare``); an on-chain payment pays one fare at most (``payment_tx`` unique); a
rider (the paying address) has at most one open trip (a partial unique index). Trip ids
are random (``secrets.token_urlsafe``), so nobody finds another rider's trip by counting.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, select

from device.store.db import connect
from device.store.models import EnumText, UTCDateTime


class TripState(StrEnum):
    BOOKED = "booked"  # accepted and paid; the taxi is on its way
    PICKED_UP = "picked_up"
    COMPLETED = "completed"


OPEN_STATES = (TripState.BOOKED, TripState.PICKED_UP)
_OPEN_SQL = "state IN ('booked', 'picked_up')"


class TaxiQuote(SQLModel, table=True):
    """One quote as the rider saw it: the trip, the market, every line of the breakdown."""

    __tablename__ = "taxi_quote"
    __table_args__ = (
        sa.CheckConstraint("price >= 0", name="taxi_quote_price_nonnegative"),
        sa.Index("ix_taxi_quote_created", "created_at"),
        sa.Index("ix_taxi_quote_expires", "expires_at"),
    )

    id: str = Field(primary_key=True, sa_type=sa.String(32))
    rider: str | None = Field(default=None, sa_type=sa.String(64))  # stored, never priced on
    pickup_lat: float
    pickup_lon: float
    dropoff_lat: float
    dropoff_lon: float
    pickup_zone: str = Field(sa_type=sa.String(16))
    dropoff_zone: str = Field(sa_type=sa.String(16))
    distance_m: int
    duration_s: int
    eta_s: int
    price: int = Field(sa_type=sa.BigInteger)
    metered: int = Field(sa_type=sa.BigInteger)
    factor_bp: int
    cap_bp: int | None = None
    emergency: bool
    rules_source: str = Field(sa_type=sa.String(200))  # where the cap and emergency came from
    lines_json: str  # [[label, base units], ...] adding up to price
    notice: str = Field(sa_type=sa.String(300))
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def lines(self) -> list[tuple[str, int]]:
        return [(str(label), int(amount)) for label, amount in json.loads(self.lines_json)]


class TaxiTrip(SQLModel, table=True):
    """An accepted, paid quote: at most one per quote, one open per rider."""

    __tablename__ = "taxi_trip"
    __table_args__ = (
        sa.UniqueConstraint("quote_id", name="uq_taxi_trip_quote"),
        sa.Index("uq_taxi_trip_open_rider", "rider", unique=True, sqlite_where=sa.text(_OPEN_SQL)),
    )

    id: str = Field(primary_key=True, sa_type=sa.String(32))  # secrets.token_urlsafe
    quote_id: str = Field(sa_type=sa.String(32), foreign_key="taxi_quote.id")
    rider: str = Field(sa_type=sa.String(42))  # the paying address
    state: TripState = Field(sa_type=EnumText(TripState))
    accepted_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class TaxiFare(SQLModel, table=True):
    """A fare paid on-chain to the ProfitCenter: revenue, in base units, once per quote and payment."""

    __tablename__ = "taxi_fare"
    __table_args__ = (
        sa.UniqueConstraint("quote_id", name="uq_taxi_fare_quote"),
        sa.UniqueConstraint("payment_tx", name="uq_taxi_fare_payment"),
        sa.CheckConstraint("amount >= 0", name="taxi_fare_amount_nonnegative"),
        sa.Index("ix_taxi_fare_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    quote_id: str = Field(sa_type=sa.String(32), foreign_key="taxi_quote.id")
    trip_id: str = Field(sa_type=sa.String(32), foreign_key="taxi_trip.id")
    amount: int = Field(sa_type=sa.BigInteger)  # what the transfer moved (at least the price)
    token: str = Field(sa_type=sa.String(16))
    payment_tx: str = Field(sa_type=sa.String(66))  # paid by the trip's rider
    block: int
    created_at: datetime = Field(sa_type=UTCDateTime)


TABLES = (TaxiQuote, TaxiTrip, TaxiFare)


def open_store(path: Path | str) -> sa.Engine:
    """The taxi's database at ``path`` (created if new), with the machine store's pragmas."""
    engine = connect(path)
    tables = [
        table for model in TABLES if isinstance(table := sa.inspect(model).local_table, sa.Table)
    ]
    SQLModel.metadata.create_all(engine, tables=tables)
    return engine


def revenue(session: Session, start: datetime, end: datetime) -> int:
    """Base units of fares taken in ``[start, end)`` (what a daily deposit would send)."""
    query = select(sa.func.coalesce(sa.func.sum(col(TaxiFare.amount)), 0)).where(
        col(TaxiFare.created_at) >= start, col(TaxiFare.created_at) < end
    )
    return int(session.exec(query).one())


def daily_revenue(session: Session, day: date) -> int:
    """Fares of one UTC calendar day, as ``device.store.repo.daily_revenue`` is for sales."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return revenue(session, start, start + timedelta(days=1))


def fares_taken(session: Session) -> int:
    """Every fare taken (base units): what riders paid the ProfitCenter, for the ledger."""
    return int(session.exec(select(sa.func.coalesce(sa.func.sum(TaxiFare.amount), 0))).one())


def counts(session: Session) -> dict[str, int]:
    """Rows per table (tests check that refused requests changed nothing)."""
    return {
        model.__tablename__: int(session.exec(select(sa.func.count()).select_from(model)).one())
        for model in TABLES
    }
