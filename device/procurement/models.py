"""Tables of the buying loop: the chain outbox and the machine's purchase orders."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from device.store.models import EnumText, UTCDateTime


class IntentState(StrEnum):
    PENDING = "pending"  # written, nothing signed yet
    SIGNED = "signed"  # raw transaction stored (and maybe broadcast); nonce fixed
    MINED = "mined"  # receipt with status 1
    DONE_ELSEWHERE = "done_elsewhere"  # the chain already shows the effect
    FAILED = "failed"  # reverted (preflight or mined): will not be retried


class ChainIntent(SQLModel, table=True):
    """One transaction the machine means to send, written before anything is signed.

    ``key`` makes every intent idempotent (``place:<order id>``, ``confirm:<order id>``,
    ``deposit:<day>``); the signed raw transaction is stored before it is broadcast,
    so a restart re-sends the very same transaction and never a second one.
    """

    __tablename__ = "chain_intent"
    __table_args__ = (
        sa.UniqueConstraint("key", name="uq_chain_intent_key"),
        sa.Index("ix_chain_intent_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_type=sa.String(120))
    kind: str = Field(sa_type=sa.String(32))
    payload: str = Field(sa_type=sa.Text)
    state: IntentState = Field(sa_type=EnumText(IntentState))
    nonce: int | None = None
    tx_hash: str | None = Field(default=None, sa_type=sa.String(66))
    raw_tx: str | None = Field(default=None, sa_type=sa.Text)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=sa.String(300))
    block_number: int | None = None
    gas_used: int | None = None
    gas_cost: int | None = Field(default=None, sa_type=sa.BigInteger)  # wei
    created_at: datetime = Field(sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrderState(StrEnum):
    PLACING = "placing"  # quote won; the placeOrder intent is in the outbox
    AWAITING_APPROVAL = "awaiting_approval"  # on-chain, waiting for the governor
    OPEN = "open"  # on-chain and approved: the supplier may deliver
    SETTLED = "settled"  # delivery confirmed and paid (in full or in part)
    DISPUTED = "disputed"  # short, wrong or missing delivery disputed on-chain
    REJECTED = "rejected"  # the governor said no
    RELEASED = "released"  # undelivered past its deadline, reservation released
    FAILED = "failed"  # placing reverted (budget, cap, pause...)


OPEN_ORDER_STATES = (OrderState.PLACING, OrderState.AWAITING_APPROVAL, OrderState.OPEN)


class PurchaseOrder(SQLModel, table=True):
    """A restocking order from the winning quote to its settlement.

    ``need_key`` names the need it serves and is unique: a need is ordered once,
    whatever restarts happen between the negotiation and the chain.
    """

    __tablename__ = "purchase_order"
    __table_args__ = (
        sa.UniqueConstraint("need_key", name="uq_purchase_order_need"),
        sa.UniqueConstraint("order_id", name="uq_purchase_order_order_id"),
        sa.Index("ix_purchase_order_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    need_key: str = Field(sa_type=sa.String(120))
    order_id: str = Field(sa_type=sa.String(66))  # bytes32 hex, as the contract keys it
    supplier_name: str = Field(sa_type=sa.String(64))
    supplier_address: str = Field(sa_type=sa.String(42))
    amount: int = Field(sa_type=sa.BigInteger)
    reservation_price: int = Field(sa_type=sa.BigInteger)
    lines: str = Field(sa_type=sa.Text)  # JSON: [{gtin, slot_id, quantity, unit_price}]
    quote: str = Field(sa_type=sa.Text)  # JSON of the signed quote fields
    signature: str = Field(sa_type=sa.String(140))
    transcript: str = Field(sa_type=sa.Text)  # JSON: the whole negotiation
    state: OrderState = Field(sa_type=EnumText(OrderState, 24))
    deliver_by: datetime = Field(sa_type=UTCDateTime)
    delivered: str | None = Field(default=None, sa_type=sa.Text)  # JSON: {gtin: quantity}
    paid: int | None = Field(default=None, sa_type=sa.BigInteger)
    note: str | None = Field(default=None, sa_type=sa.String(300))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
