"""The ``custobot/2`` wire protocol: every message the buyer and a supplier exchange.

One module imported by both sides (``device/negotiation`` and the reference
supplier), so the two can never disagree on a field. Every model forbids extra
fields and bounds every string, list and number: a message from outside that
does not fit is refused before anything looks at it.

Conventions:
- money is an integer in the token's base units (USDC: 6 decimals), serialized
  as a JSON integer (never a float, never a string);
- times are unix seconds (integers), the same clock the chain uses;
- addresses are ``0x`` + 40 hex digits; lowercase or EIP-55 checksummed input is
  accepted, a wrong checksum is refused, and output is always checksummed;
- GTINs are 8 to 14 digits; item lines are ordered by the GTIN's numeric value
  (the value the EIP-712 ``itemsHash`` encodes), and a GTIN appears once.

Flow: ``POST /rfq`` (the buyer picks ``rfq_id``, a random 16..64 character id)
is answered with an :class:`Offer` (round 0) or a :class:`Decline`.
``POST /rfq/{rfq_id}/counter`` with a :class:`Counter` naming the round it
answers is answered with the next :class:`Offer` (round + 1) or a
:class:`Decline`. Only the machine that opened an RFQ can counter it: the RFQ
carries a ``counter_lock`` (SHA-256 applied ``MAX_ROUNDS`` times to a 32-byte
secret only the buyer knows) and the counter to round ``r`` the ``counter_key``
that hashes to the lock in ``r + 1`` steps (a hash chain, as in S/KEY). A key
seen on the wire opens only the round it was sent for, which is then stale, so
neither a sniffed ``rfq_id`` nor a sniffed counter lets anyone else bargain. The buyer accepts an offer by placing its signed quote on
chain; there is no accept message. A malformed or out-of-sequence message gets a
4xx :class:`Error` and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from typing import Annotated, Final, Literal, Self

from eth_account import Account
from eth_utils import is_checksum_address, to_checksum_address
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    model_validator,
)

from contracts.quote import ItemLine, Quote, items_hash, recover_signer, sign_quote

PROTOCOL_VERSION: Final = "custobot/2"
"""``/2`` added the counter lock and key (RFQs bound to their buyer) to ``/1``."""
WELL_KNOWN_PATH = "/.well-known/custobot"

MAX_BODY_BYTES = 64 * 1024
"""Largest request or response body either side reads; larger is refused unread."""
MAX_ITEMS = 32
"""Most item lines in one RFQ or offer."""
MAX_CATALOG_ITEMS = 500
MAX_QUANTITY = 1_000_000
"""Most units of one item per RFQ (the quote encodes quantity as ``uint32``)."""
MAX_ROUNDS = 16
"""Most offers in one negotiation: offer rounds are numbered 0..MAX_ROUNDS-1."""
# Numeric bounds are powers of ten (exclusive) or integers below 2**53: the OpenAPI document
# writes numbers as doubles, and these read back to the same bound whether a
# client parses them as doubles or as decimals.
AMOUNT_BOUND = 10**28
"""Amounts in base units are below this (far beyond any real order)."""
TIMESTAMP_BOUND = 2**32
"""Times are below this: ProfitCenter refuses a deliver-by beyond ``uint32``."""
NONCE_BOUND = 10**77
"""Nonces are below this (it fits the quote's ``uint256``)."""
MAX_CHAIN_ID = 2**53 - 1
MAX_TEXT = 500


def _address(value: str) -> str:
    if not is_checksum_address(value) and value != value.lower():
        raise ValueError("address checksum is wrong (use EIP-55 or all lowercase)")
    return str(to_checksum_address(value))


Address = Annotated[
    str,
    Field(pattern=r"^0x[0-9a-fA-F]{40}$", examples=["0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"]),
    AfterValidator(_address),
]
Gtin = Annotated[str, Field(pattern=r"^[0-9]{8,14}$", examples=["05449000000996"])]
RfqId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")]
# Integers are strict: a string or a float where an integer belongs is refused.
Amount = Annotated[int, Strict(), Field(ge=0, lt=AMOUNT_BOUND, description="token base units")]
Quantity = Annotated[int, Strict(), Field(ge=1, le=MAX_QUANTITY)]
Timestamp = Annotated[int, Strict(), Field(ge=0, lt=TIMESTAMP_BOUND, description="unix seconds")]
ChainId = Annotated[int, Strict(), Field(ge=1, le=MAX_CHAIN_ID)]
Round = Annotated[int, Strict(), Field(ge=0, lt=MAX_ROUNDS)]
Flag = Annotated[bool, Strict()]
"""A JSON boolean; ``0``/``1`` or strings are refused."""
Name = Annotated[str, Field(min_length=1, max_length=64)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Bytes32Hex = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
SignatureHex = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{130}$")]
ProtocolTag = Annotated[str, Field(pattern=r"^custobot/[0-9]{1,3}$")]


class Message(BaseModel):
    """Base of every wire message: unknown fields are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _json_bool(value: object) -> object:
    if not isinstance(value, bool):
        raise ValueError("must be the JSON boolean true")
    return value


def gtin_key(gtin: str) -> int:
    """The GTIN's numeric value: what the quote's ``itemsHash`` encodes and lines sort by."""
    return int(gtin)


def _unique_gtins(gtins: list[str]) -> None:
    keys = [gtin_key(g) for g in gtins]
    if len(set(keys)) != len(keys):
        raise ValueError("a GTIN appears more than once")


# -- discovery and catalog ---------------------------------------------------------------


class AcceptedToken(Message):
    """A token the supplier takes payment in, on one chain."""

    chain_id: ChainId
    address: Address
    decimals: Annotated[int, Field(ge=0, le=36)] = 6


class Discovery(Message):
    """``GET /.well-known/custobot``: who the supplier is and what it speaks."""

    name: Name
    signing_address: Address
    chain_ids: Annotated[list[ChainId], Field(min_length=1, max_length=16)]
    tokens: Annotated[list[AcceptedToken], Field(min_length=1, max_length=32)]
    protocol_versions: Annotated[list[ProtocolTag], Field(min_length=1, max_length=8)]
    max_rounds: Annotated[int, Field(ge=1, le=MAX_ROUNDS)]
    best_and_final: Flag = Field(
        default=False,
        description="optional: the supplier honours a counter's price_to_beat (a buyer only "
        "sends that field to a supplier that says so here, so older suppliers are unaffected)",
    )


class CatalogItem(Message):
    """One orderable item; ``list_price`` is per ``unit`` in the token's base units."""

    gtin: Gtin
    name: Name
    unit: Annotated[str, Field(min_length=1, max_length=32)] = "each"
    list_price: Amount
    min_quantity: Quantity = 1
    lead_time_seconds: Annotated[int, Field(ge=0, le=365 * 86400)]


class Catalog(Message):
    """``GET /catalog``."""

    supplier: Name
    items: Annotated[list[CatalogItem], Field(max_length=MAX_CATALOG_ITEMS)]

    @model_validator(mode="after")
    def _check(self) -> Self:
        _unique_gtins([item.gtin for item in self.items])
        return self


# -- RFQ and counter (buyer → supplier) --------------------------------------------------


class RfqLine(Message):
    gtin: Gtin
    quantity: Quantity


class Rfq(Message):
    """``POST /rfq``: a machine asks for a quote. It always says that it is a machine."""

    protocol: Literal["custobot/2"] = PROTOCOL_VERSION
    rfq_id: RfqId
    items: Annotated[list[RfqLine], Field(min_length=1, max_length=MAX_ITEMS)]
    deliver_by: Timestamp
    answer_by: Timestamp
    chain_id: ChainId
    buyer: Address = Field(description="the machine's ProfitCenter (pays, verifies the quote)")
    token: Address
    machine_customer: Annotated[Literal[True], BeforeValidator(_json_bool)]
    target_price: Amount | None = Field(
        default=None, description="the buyer's opening target for the whole order"
    )
    counter_lock: Bytes32Hex = Field(
        description="SHA-256 applied MAX_ROUNDS times to a secret only the buyer knows"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        _unique_gtins([line.gtin for line in self.items])
        return self


class Counter(Message):
    """``POST /rfq/{rfq_id}/counter``: the buyer's answer to offer ``round``."""

    protocol: Literal["custobot/2"] = PROTOCOL_VERSION
    round: Round = Field(description="the round of the offer this counter answers")
    price: Amount = Field(description="total the buyer proposes for the whole order")
    final: Flag = Field(default=False, description="the buyer will not move further")
    price_to_beat: Amount | None = Field(
        default=None,
        description="optional best-and-final request: the lowest total another supplier "
        "quoted for this order (never who); only sent to suppliers whose discovery says "
        "best_and_final, with final true",
    )
    counter_key: Bytes32Hex = Field(
        description="hashes to the RFQ's counter_lock in round + 1 SHA-256 steps"
    )


# -- answers (supplier → buyer) ----------------------------------------------------------


class OfferLine(Message):
    gtin: Gtin
    quantity: Quantity
    unit_price: Amount


class Offer(Message):
    """A signed, binding offer: the EIP-712 quote fields plus the lines they hash.

    Parsing checks that the lines are ordered and unique, that ``amount`` is
    their sum and that ``items_hash`` is their hash, so a parsed offer is
    self-consistent; whether it is *acceptable* (signer, buyer, chain, token,
    lines, expiry, price) is the buyer's decision.
    """

    kind: Literal["offer"] = "offer"
    protocol: Literal["custobot/2"] = PROTOCOL_VERSION
    rfq_id: RfqId
    round: Round
    final: Flag = Field(description="the supplier will not concede further")
    chain_id: ChainId
    supplier: Address
    buyer: Address
    token: Address
    amount: Amount
    lines: Annotated[list[OfferLine], Field(min_length=1, max_length=MAX_ITEMS)]
    items_hash: Bytes32Hex
    deliver_by: Timestamp
    expiry: Timestamp
    nonce: Annotated[int, Strict(), Field(ge=0, lt=NONCE_BOUND)]
    signature: SignatureHex = Field(description="65-byte r||s||v EIP-712 signature, hex")

    @model_validator(mode="after")
    def _check(self) -> Self:
        keys = [gtin_key(line.gtin) for line in self.lines]
        if keys != sorted(set(keys)):
            raise ValueError("lines must be ordered by GTIN value, each GTIN once")
        if self.amount != sum(line.quantity * line.unit_price for line in self.lines):
            raise ValueError("amount is not the sum of quantity * unit_price over the lines")
        if self.items_hash.lower() != "0x" + items_hash(self.item_lines()).hex():
            raise ValueError("items_hash does not match the lines")
        return self

    def item_lines(self) -> list[ItemLine]:
        return [ItemLine(line.gtin, line.quantity, line.unit_price) for line in self.lines]

    def to_quote(self) -> Quote:
        """The EIP-712 quote this offer carries, as ``ProfitCenter.placeOrder`` takes it."""
        return Quote(
            supplier=self.supplier,
            buyer=self.buyer,
            token=self.token,
            amount=self.amount,
            items_hash=bytes.fromhex(self.items_hash[2:]),
            deliver_by=self.deliver_by,
            expiry=self.expiry,
            nonce=self.nonce,
        )

    def signature_bytes(self) -> bytes:
        return bytes.fromhex(self.signature[2:])

    def signer(self) -> str:
        """The address that signed the quote; ``ValueError`` on a malformed signature."""
        return recover_signer(self.to_quote(), self.chain_id, self.signature_bytes())


class DeclineReason(StrEnum):
    """Why a supplier will not make (or improve) an offer; stable codes, for machines."""

    UNKNOWN_ITEM = "unknown_item"
    BELOW_MIN_QUANTITY = "below_min_quantity"
    OUT_OF_STOCK = "out_of_stock"
    LEAD_TIME = "lead_time"
    UNSUPPORTED_CHAIN = "unsupported_chain"
    UNSUPPORTED_TOKEN = "unsupported_token"  # noqa: S105 (a reason code, not a secret)
    NOT_MACHINE_CUSTOMER = "not_machine_customer"
    ANSWER_BY_PASSED = "answer_by_passed"
    NO_AGREEMENT = "no_agreement"
    ROUNDS_EXHAUSTED = "rounds_exhausted"
    SESSION_EXPIRED = "session_expired"
    SESSION_CLOSED = "session_closed"


class Decline(Message):
    """A clear refusal; the negotiation for ``rfq_id`` is over."""

    kind: Literal["decline"] = "decline"
    protocol: Literal["custobot/2"] = PROTOCOL_VERSION
    rfq_id: RfqId
    reason: DeclineReason
    message: Text
    gtin: Gtin | None = Field(default=None, description="the item the refusal is about")


Answer = Annotated[Offer | Decline, Field(discriminator="kind")]
"""What ``POST /rfq`` and ``POST /rfq/{id}/counter`` return with status 200."""


class ErrorCode(StrEnum):
    INVALID_MESSAGE = "invalid_message"
    BODY_TOO_LARGE = "body_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    DUPLICATE_RFQ = "duplicate_rfq"
    STALE_ROUND = "stale_round"
    NOT_YOUR_RFQ = "not_your_rfq"
    RATE_LIMITED = "rate_limited"
    REQUEST_TIMEOUT = "request_timeout"
    INTERNAL = "internal"


class ErrorDetail(Message):
    loc: Annotated[str, Field(max_length=200)]
    msg: Text


class Error(Message):
    """A 4xx/5xx body: the message was not understood or not allowed; nothing changed."""

    kind: Literal["error"] = "error"
    code: ErrorCode
    message: Text
    details: Annotated[list[ErrorDetail], Field(max_length=20)] = []


def _hash_chain(value: bytes, steps: int) -> bytes:
    for _ in range(steps):
        value = hashlib.sha256(value).digest()
    return value


def counter_lock(secret: bytes) -> str:
    """The RFQ's ``counter_lock`` for the buyer's 32-byte ``secret``."""
    return "0x" + _hash_chain(secret, MAX_ROUNDS).hex()


def counter_key(secret: bytes, round: int) -> str:
    """The ``counter_key`` of the counter answering offer ``round``."""
    if not 0 <= round < MAX_ROUNDS:
        raise ValueError(f"round must be in 0..{MAX_ROUNDS - 1}")
    return "0x" + _hash_chain(secret, MAX_ROUNDS - 1 - round).hex()


def key_opens(lock: str, key: str, round: int) -> bool:
    """Whether ``key`` is the opener's key for the counter to ``round`` (constant-time compare)."""
    if not 0 <= round < MAX_ROUNDS:
        return False
    opened = _hash_chain(bytes.fromhex(key.removeprefix("0x")), round + 1)
    return hmac.compare_digest(opened, bytes.fromhex(lock.removeprefix("0x")))


_ANSWER: TypeAdapter[Offer | Decline] = TypeAdapter(Answer)


def parse_answer(raw: bytes | str) -> Offer | Decline:
    """Parse a supplier's answer body; raises ``pydantic.ValidationError`` if it is not one."""
    if len(raw) > MAX_BODY_BYTES:
        raise ValueError(f"answer body is larger than {MAX_BODY_BYTES} bytes")
    return _ANSWER.validate_json(raw)


def offer_lines(lines: list[tuple[str, int, int]]) -> list[OfferLine]:
    """``(gtin, quantity, unit_price)`` triples as offer lines in protocol order."""
    ordered = sorted(lines, key=lambda line: gtin_key(line[0]))
    return [OfferLine(gtin=g, quantity=q, unit_price=p) for g, q, p in ordered]


def sign_offer(
    *,
    private_key: bytes | str,
    rfq_id: str,
    round: int,
    final: bool,
    chain_id: int,
    buyer: str,
    token: str,
    lines: list[OfferLine],
    deliver_by: int,
    expiry: int,
    nonce: int,
) -> Offer:
    """Build and sign an offer: the amount and ``items_hash`` follow from ``lines``."""
    supplier = str(Account.from_key(private_key).address)
    item_lines = [ItemLine(line.gtin, line.quantity, line.unit_price) for line in lines]
    quote = Quote(
        supplier=supplier,
        buyer=buyer,
        token=token,
        amount=sum(line.quantity * line.unit_price for line in item_lines),
        items_hash=items_hash(item_lines),
        deliver_by=deliver_by,
        expiry=expiry,
        nonce=nonce,
    )
    signature = sign_quote(quote, chain_id, private_key)
    return Offer(
        rfq_id=rfq_id,
        round=round,
        final=final,
        chain_id=chain_id,
        supplier=supplier,
        buyer=buyer,
        token=token,
        amount=quote.amount,
        lines=lines,
        items_hash="0x" + quote.items_hash.hex(),
        deliver_by=deliver_by,
        expiry=expiry,
        nonce=nonce,
        signature="0x" + signature.hex(),
    )
