"""The reference supplier's own SQLite database (SQLModel, WAL, ``synchronous=FULL``).

It remembers RFQ sessions, every quote nonce ever issued (so a restart never
signs the same nonce twice), orders seen on chain and their deliveries. Amounts
and nonces can exceed SQLite's 64-bit integers, so they are stored as decimal
text and read back as ``int``.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import String, UniqueConstraint, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Session, SQLModel, create_engine, select

from supplier.protocol import Offer, gtin_key


class IntText(TypeDecorator[int]):
    """An arbitrary-size integer stored as decimal text (money, nonces, order ids)."""

    impl = String(80)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> int | None:
        return None if value is None else int(value)


class NonceState(SQLModel, table=True):
    """One row: this database's random nonce epoch and the last counter used."""

    __tablename__ = "nonce_state"
    id: int = Field(default=1, primary_key=True)
    epoch: int = Field(sa_type=IntText)
    counter: int = 0


class RfqSession(SQLModel, table=True):
    """One negotiation: the RFQ, the totals offered and countered, the last exchange."""

    __tablename__ = "rfq_session"
    rfq_id: str = Field(primary_key=True, max_length=64)
    request_json: str
    created_at: int
    expires_at: int
    closed: bool = False
    offers_json: str = "[]"
    counters_json: str = "[]"
    last_request_json: str
    last_answer_json: str

    @property
    def offers(self) -> list[int]:
        return [int(v) for v in json.loads(self.offers_json)]

    @property
    def counters(self) -> list[int]:
        return [int(v) for v in json.loads(self.counters_json)]


class IssuedOffer(SQLModel, table=True):
    """Every signed offer, keyed by its nonce (unique forever)."""

    __tablename__ = "issued_offer"
    nonce: int = Field(sa_type=IntText, primary_key=True)
    rfq_id: str = Field(index=True, max_length=64)
    round: int
    chain_id: int
    buyer: str
    token: str
    amount: int = Field(sa_type=IntText)
    deliver_by: int
    expiry: int
    offer_json: str
    created_at: int


class OrderState(StrEnum):
    """An order's life on chain as this supplier has seen it (mirrors ProfitCenter)."""

    AWAITING_APPROVAL = "awaiting_approval"
    OPEN = "open"
    DELIVERED = "delivered"
    DISPUTED = "disputed"
    SETTLED = "settled"
    REJECTED = "rejected"
    RELEASED = "released"
    CANCELLED = "cancelled"  # the buyer's owners cancelled it before delivery
    WITHDRAWN = "withdrawn"  # we withdrew it while it waited for approval


class ObservedOrder(SQLModel, table=True):
    """An order placed on chain to this supplier, and what the supplier did about it."""

    __tablename__ = "observed_order"
    __table_args__ = (UniqueConstraint("chain_id", "profit_center", "order_id"),)
    id: int | None = Field(default=None, primary_key=True)
    chain_id: int
    profit_center: str
    order_id: str = Field(max_length=66, description="bytes32 order id, 0x hex")
    nonce: int = Field(sa_type=IntText)
    amount: int = Field(sa_type=IntText)
    known_quote: bool = Field(description="the nonce is one this supplier signed")
    state: str = OrderState.OPEN.value
    placed_block: int
    placed_tx: str
    observed_at: int
    deliver_by: int | None = None
    delivered_tx: str | None = None
    dispute_until: int | None = None
    paid: int | None = Field(default=None, sa_type=IntText)
    claimed_tx: str | None = None
    updated_at: int


class WatchCursor(SQLModel, table=True):
    """The next block to scan, per watched ProfitCenter."""

    __tablename__ = "watch_cursor"
    chain_id: int = Field(primary_key=True)
    profit_center: str = Field(primary_key=True)
    next_block: int


_TABLES = ("nonce_state", "rfq_session", "issued_offer", "observed_order", "watch_cursor")


def _engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(conn: Any, _record: Any) -> None:
        cursor = conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    return engine


class SupplierStore:
    """All database access of the supplier; thread-safe for one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine = _engine(path)
        SQLModel.metadata.create_all(
            self.engine, tables=[SQLModel.metadata.tables[name] for name in _TABLES]
        )
        self._lock = threading.Lock()
        with self.session() as db:
            if db.get(NonceState, 1) is None:
                # A random 96-bit epoch keeps nonces apart even if the database is lost;
                # epoch << 128 | counter stays below the protocol's NONCE_BOUND.
                db.add(NonceState(id=1, epoch=secrets.randbits(96), counter=0))
                db.commit()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as db:
            yield db

    def close(self) -> None:
        self.engine.dispose()

    # -- nonces ---------------------------------------------------------------------------

    def allocate_nonce(self) -> int:
        """A nonce never returned before by this database (committed before it is used)."""
        with self._lock, self.engine.begin() as conn:
            row = conn.execute(
                text(
                    "UPDATE nonce_state SET counter = counter + 1 WHERE id = 1 "
                    "RETURNING epoch, counter"
                )
            ).one()
        return (int(row[0]) << 128) | int(row[1])

    def issued_nonces(self) -> list[int]:
        with self.session() as db:
            return sorted(db.exec(select(IssuedOffer.nonce)).all())

    def issued_offer(self, nonce: int) -> IssuedOffer | None:
        with self.session() as db:
            return db.get(IssuedOffer, nonce)

    # -- sessions -------------------------------------------------------------------------

    def rfq_session(self, rfq_id: str) -> RfqSession | None:
        with self.session() as db:
            return db.get(RfqSession, rfq_id)

    def save_session(self, session: RfqSession, offer: Offer | None, now: int) -> None:
        """Write the session and (atomically with it) the offer just signed."""
        with self.session() as db:
            db.merge(session)
            if offer is not None:
                o = offer
                db.add(
                    IssuedOffer(
                        nonce=o.nonce,
                        rfq_id=o.rfq_id,
                        round=o.round,
                        chain_id=o.chain_id,
                        buyer=o.buyer,
                        token=o.token,
                        amount=o.amount,
                        deliver_by=o.deliver_by,
                        expiry=o.expiry,
                        offer_json=o.model_dump_json(),
                        created_at=now,
                    )
                )
            db.commit()

    def prune_rfqs(self, before: int, limit: int = 500) -> int:
        """Delete up to ``limit`` RFQs opened before ``before`` that never became an order.

        Their offers go with them: by then every quote has expired, so none can
        still be placed, and nonces come from the counter, never from these rows.
        Returns how many RFQs were deleted; repeated calls finish a large backlog.
        """
        with self._lock, self.engine.begin() as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    text(
                        "SELECT s.rfq_id FROM rfq_session s WHERE s.created_at < :before "
                        "AND NOT EXISTS (SELECT 1 FROM issued_offer o JOIN observed_order w "
                        "ON w.nonce = o.nonce WHERE o.rfq_id = s.rfq_id) LIMIT :limit"
                    ),
                    {"before": before, "limit": limit},
                )
            ]
            if ids:
                params = [{"rfq_id": rfq_id} for rfq_id in ids]
                conn.execute(text("DELETE FROM issued_offer WHERE rfq_id = :rfq_id"), params)
                conn.execute(text("DELETE FROM rfq_session WHERE rfq_id = :rfq_id"), params)
        return len(ids)

    def rfq_count(self) -> int:
        with self.session() as db:
            return len(db.exec(select(RfqSession.rfq_id)).all())

    # -- orders ---------------------------------------------------------------------------

    def orders(self) -> list[ObservedOrder]:
        with self.session() as db:
            return list(db.exec(select(ObservedOrder).order_by(ObservedOrder.id)).all())  # type: ignore[arg-type]

    def order(self, local_id: int) -> ObservedOrder | None:
        with self.session() as db:
            return db.get(ObservedOrder, local_id)

    def order_by_chain_id(
        self, chain_id: int, profit_center: str, order_id: str
    ) -> ObservedOrder | None:
        with self.session() as db:
            return db.exec(
                select(ObservedOrder).where(
                    ObservedOrder.chain_id == chain_id,
                    ObservedOrder.profit_center == profit_center,
                    ObservedOrder.order_id == order_id,
                )
            ).first()

    def save_order(self, order: ObservedOrder) -> ObservedOrder:
        with self.session() as db:
            merged = db.merge(order)
            db.commit()
            db.refresh(merged)
            return merged

    def cursor(self, chain_id: int, profit_center: str, default: int) -> int:
        with self.session() as db:
            row = db.get(WatchCursor, (chain_id, profit_center))
            return default if row is None else row.next_block

    def set_cursor(self, chain_id: int, profit_center: str, next_block: int) -> None:
        with self.session() as db:
            db.merge(
                WatchCursor(chain_id=chain_id, profit_center=profit_center, next_block=next_block)
            )
            db.commit()

    def committed_quantities(self) -> dict[int, int]:
        """Units per GTIN value promised in live orders placed on chain with our quotes."""
        released = (OrderState.REJECTED.value, OrderState.RELEASED.value)
        committed: dict[int, int] = {}
        with self.session() as db:
            nonces = db.exec(
                select(ObservedOrder.nonce).where(ObservedOrder.state.not_in(released))  # type: ignore[attr-defined]
            ).all()
            for nonce in nonces:
                issued = db.get(IssuedOffer, nonce)
                if issued is None:
                    continue
                for line in Offer.model_validate_json(issued.offer_json).lines:
                    key = gtin_key(line.gtin)
                    committed[key] = committed.get(key, 0) + line.quantity
        return committed
