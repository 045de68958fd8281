"""The record of one negotiation: every message, every refusal and why the winner won.

Pydantic models so the loop can store it as JSON and the dashboard can show it
(``Transcript.model_dump_json()`` / ``Transcript.model_validate_json()``).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Reason(StrEnum):
    """Why the buyer refused an offer or stopped talking to a supplier."""

    BAD_SIGNATURE = "bad_signature"
    WRONG_SIGNER = "wrong_signer"
    WRONG_SUPPLIER = "wrong_supplier"
    WRONG_BUYER = "wrong_buyer"
    WRONG_CHAIN = "wrong_chain"
    WRONG_TOKEN = "wrong_token"  # noqa: S105 (a reason code, not a secret)
    ITEMS_MISMATCH = "items_mismatch"
    ITEMS_HASH_MISMATCH = "items_hash_mismatch"
    AMOUNT_MISMATCH = "amount_mismatch"
    EXPIRED = "expired"
    DELIVERY_OUTSIDE_WINDOW = "delivery_outside_window"
    OVER_RESERVATION = "over_reservation"
    PRICE_RAISED = "price_raised"
    SIGNER_CHANGED = "signer_changed"
    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    HTTP_ERROR = "http_error"
    REPLAYED_QUOTE = "replayed_quote"
    """The quote's nonce was offered before, or its order id is already used."""
    WRONG_RFQ = "wrong_rfq"
    """The answer names another RFQ than the one it answers."""
    FAULT = "fault"
    """Dealing with this supplier's answer raised an unexpected error (contained to it)."""


class EventKind(StrEnum):
    DISCOVERY = "discovery"
    RFQ = "rfq"
    OFFER = "offer"
    COUNTER = "counter"
    DECLINE = "decline"
    REJECTION = "rejection"
    ACCEPT = "accept"


class SupplierStatus(StrEnum):
    """Where a supplier stood when the negotiation ended."""

    WON = "won"
    OUTBID = "outbid"
    OVER_RESERVATION = "over_reservation"
    DECLINED = "declined"
    REFUSED = "refused"
    NO_OFFER = "no_offer"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Event(_Record):
    """One step: ``at`` is the injected clock's unix time, ``round`` 0 is the RFQ."""

    at: float
    kind: EventKind
    supplier: str
    round: int
    amount: int | None = None
    deliver_by: int | None = None
    reason: Reason | None = None
    detail: str = ""


class Standing(_Record):
    """A supplier's last word and how it compared with the winner."""

    supplier: str
    status: SupplierStatus
    amount: int | None
    deliver_by: int | None
    reliability: float
    utility: float | None
    reason: Reason | None = None


class Decision(_Record):
    """The outcome and its explanation: who won, at what price, against which alternatives."""

    winner: str | None
    amount: int | None
    deliver_by: int | None
    utility: float | None
    reservation: int
    standings: list[Standing]
    summary: str


class Transcript(_Record):
    """Everything that happened in one negotiation, in order."""

    started_at: float
    finished_at: float
    reservation: int
    deliver_by: int
    urgency: float
    rounds: int
    events: list[Event]
    decision: Decision
