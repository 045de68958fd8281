"""Suppliers that misbehave, as small real FastAPI apps served by uvicorn.

Each one runs the reference supplier's own desk (real pricing, real signatures)
and then breaks one rule on the way out: a forged or malleable signature, a
quote for someone else, stale or late terms, a raised price, other items, or a
transport that stalls, trickles, floods or sends garbage.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse

from contracts.quote import SECP256K1_HALF_N, ItemLine, Quote, items_hash, sign_quote
from device.negotiation import Reason, SupplierRef
from supplier.desk import Desk
from supplier.keys import Signer
from supplier.protocol import (
    WELL_KNOWN_PATH,
    Counter,
    Decline,
    Offer,
    OfferLine,
    Rfq,
)
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread
from tests.device.negotiation.conftest import DAY, supplier_settings

STRANGER = "0x000000000000000000000000000000000000dEaD"


@dataclass
class Ctx:
    """What a tamper may use: the supplier's key and the offers it made so far."""

    key: bytes
    previous: dict[str, Offer]


def forge(
    offer: Offer,
    key: bytes,
    *,
    sign_chain: int | None = None,
    sign_buyer: str | None = None,
    **changes: Any,
) -> Offer:
    """``offer`` with ``changes`` applied, signed by ``key`` (the lines decide amount and hash).

    ``sign_chain`` / ``sign_buyer`` sign for another EIP-712 domain (chain id,
    verifying contract) than the offer says.
    """
    fields = offer.model_dump()
    fields.update(changes)
    lines = [OfferLine.model_validate(line) for line in fields["lines"]]
    item_lines = [ItemLine(line.gtin, line.quantity, line.unit_price) for line in lines]
    fields["amount"] = sum(line.quantity * line.unit_price for line in item_lines)
    fields["items_hash"] = "0x" + items_hash(item_lines).hex()
    quote = Quote(
        supplier=fields["supplier"],
        buyer=fields["buyer"],
        token=fields["token"],
        amount=fields["amount"],
        items_hash=items_hash(item_lines),
        deliver_by=fields["deliver_by"],
        expiry=fields["expiry"],
        nonce=fields["nonce"],
    )
    chain = fields["chain_id"] if sign_chain is None else sign_chain
    if sign_buyer is not None:
        quote = dataclasses.replace(quote, buyer=sign_buyer)
    fields["signature"] = "0x" + sign_quote(quote, chain, key).hex()
    return Offer.model_validate(fields)


def _json(offer: Offer | Decline) -> Response:
    return JSONResponse(offer.model_dump(mode="json"))


def _first_offer(tamper: Callable[[Offer, Ctx], Response]) -> Callable[[Offer, Ctx], Response]:
    """Apply ``tamper`` to the RFQ's answer only; later rounds are honest."""

    def apply(offer: Offer, ctx: Ctx) -> Response:
        return tamper(offer, ctx) if offer.round == 0 else _json(offer)

    return apply


def _high_s(offer: Offer, ctx: Ctx) -> Response:
    sig = offer.signature_bytes()
    s = int.from_bytes(sig[32:64], "big")
    malleable = sig[:32] + (2 * SECP256K1_HALF_N + 1 - s).to_bytes(32, "big") + bytes([sig[64] ^ 1])
    return _json(offer.model_copy(update={"signature": "0x" + malleable.hex()}))


def _raise_last(offer: Offer, ctx: Ctx) -> Response:
    """Honest until its final offer, which asks more than the one before (a move, not a
    breach: the earlier signed quote still binds)."""
    before = ctx.previous.get(offer.rfq_id)
    ctx.previous[offer.rfq_id] = offer
    if not offer.final or before is None:
        return _json(offer)
    lines = [line.model_dump() for line in before.lines]
    lines[0]["unit_price"] += 10_000
    return _json(forge(offer, ctx.key, lines=lines))


def _replay(offer: Offer, ctx: Ctx) -> Response:
    """Answers every counter with its first offer again: a replay, not a new round."""
    first = ctx.previous.setdefault(offer.rfq_id, offer)
    return _json(first)


def _reuse_nonce(offer: Offer, ctx: Ctx) -> Response:
    """Every later round re-signs its new price under the first offer's nonce."""
    first = ctx.previous.setdefault(offer.rfq_id, offer)
    if first is offer:
        return _json(offer)
    return _json(forge(offer, ctx.key, nonce=first.nonce))


def replay_across_negotiations(offer: Offer, ctx: Ctx) -> Response:
    """Answers every RFQ after its first with the very quote of its first negotiation.

    Only the unsigned envelope (RFQ id, round) is new: the quote is byte-identical.
    """
    first = ctx.previous.setdefault("first", offer)
    return _json(first.model_copy(update={"rfq_id": offer.rfq_id, "round": offer.round}))


def _endless_headers(offer: Offer, ctx: Ctx) -> Response:
    """A head far beyond any sane size (2,000 headers of 100 bytes)."""
    return Response(
        offer.model_dump_json(),
        media_type="application/json",
        headers={f"x-pad-{i}": "p" * 100 for i in range(2000)},
    )


def _swap_quantities(offer: Offer, ctx: Ctx) -> Response:
    lines = [line.model_dump() for line in offer.lines]
    lines[0]["quantity"], lines[1]["quantity"] = lines[1]["quantity"], lines[0]["quantity"]
    return _json(forge(offer, ctx.key, lines=lines))


def _one_short(offer: Offer, ctx: Ctx) -> Response:
    lines = [line.model_dump() for line in offer.lines]
    lines[0]["quantity"] -= 1
    return _json(forge(offer, ctx.key, lines=lines))


def _hash_mismatch(offer: Offer, ctx: Ctx) -> Response:
    body = offer.model_dump(mode="json")
    body["items_hash"] = "0x" + "11" * 32
    return JSONResponse(body)


def _garbage(offer: Offer, ctx: Ctx) -> Response:
    return Response(b'{"kind": "offer", "amount": 1,,', media_type="application/json")


def _huge_declared(offer: Offer, ctx: Ctx) -> Response:
    padding = "x" * (4 * 1024 * 1024)
    return Response(
        f'{{"kind": "offer", "pad": "{padding}"}}'.encode(), media_type="application/json"
    )


def _huge_chunked(offer: Offer, ctx: Ctx) -> Response:
    async def flood() -> AsyncIterator[bytes]:
        yield b'{"kind": "offer", "pad": "'
        for _ in range(64):
            yield b"x" * 65536
        yield b'"}'

    return StreamingResponse(flood(), media_type="application/json")


def _trickle(offer: Offer, ctx: Ctx) -> Response:
    """The right answer, one byte every 0.2 s: each read is quick, the whole is far too slow."""
    body = offer.model_dump_json().encode()

    async def drip() -> AsyncIterator[bytes]:
        for i in range(len(body)):
            await asyncio.sleep(0.2)
            yield body[i : i + 1]

    return StreamingResponse(drip(), media_type="application/json")


TAMPERS: dict[str, tuple[Callable[[Offer, Ctx], Response], Reason]] = {
    "malleable_signature": (_first_offer(_high_s), Reason.BAD_SIGNATURE),
    "other_signer": (
        _first_offer(lambda o, c: _json(forge(o, Account.create().key))),
        Reason.WRONG_SIGNER,
    ),
    "pays_stranger": (
        _first_offer(lambda o, c: _json(forge(o, c.key, supplier=STRANGER))),
        Reason.WRONG_SUPPLIER,
    ),
    "other_buyer": (
        _first_offer(lambda o, c: _json(forge(o, c.key, buyer=STRANGER))),
        Reason.WRONG_BUYER,
    ),
    "other_chain": (
        _first_offer(lambda o, c: _json(forge(o, c.key, chain_id=5))),
        Reason.WRONG_CHAIN,
    ),
    "signed_for_other_chain": (
        _first_offer(lambda o, c: _json(forge(o, c.key, sign_chain=5))),
        Reason.WRONG_SIGNER,
    ),
    "signed_for_other_contract": (
        _first_offer(lambda o, c: _json(forge(o, c.key, sign_buyer=STRANGER))),
        Reason.WRONG_SIGNER,
    ),
    "answers_other_rfq": (
        _first_offer(lambda o, c: _json(o.model_copy(update={"rfq_id": "another-rfq-0000001"}))),
        Reason.WRONG_RFQ,
    ),
    "nonce_reused_in_negotiation": (_reuse_nonce, Reason.REPLAYED_QUOTE),
    "endless_headers": (_first_offer(_endless_headers), Reason.MALFORMED),
    "redirects": (
        _first_offer(lambda o, c: RedirectResponse("http://127.0.0.1:9/rfq", status_code=307)),
        Reason.HTTP_ERROR,
    ),
    "other_token": (
        _first_offer(lambda o, c: _json(forge(o, c.key, token=STRANGER))),
        Reason.WRONG_TOKEN,
    ),
    "expired": (
        _first_offer(lambda o, c: _json(forge(o, c.key, expiry=int(time.time()) - 60))),
        Reason.EXPIRED,
    ),
    "late_delivery": (
        _first_offer(lambda o, c: _json(forge(o, c.key, deliver_by=o.deliver_by + DAY))),
        Reason.DELIVERY_OUTSIDE_WINDOW,
    ),
    "replayed_offer": (_replay, Reason.MALFORMED),
    "swapped_quantities": (_first_offer(_swap_quantities), Reason.ITEMS_MISMATCH),
    "one_short": (_first_offer(_one_short), Reason.ITEMS_MISMATCH),
    "hash_mismatch": (_first_offer(_hash_mismatch), Reason.MALFORMED),
    "malformed_json": (_first_offer(_garbage), Reason.MALFORMED),
    "huge_body": (_first_offer(_huge_declared), Reason.TOO_LARGE),
    "huge_chunked_body": (_first_offer(_huge_chunked), Reason.TOO_LARGE),
    "very_slow": (_first_offer(_trickle), Reason.TIMEOUT),
    "server_error": (
        _first_offer(
            lambda o, c: JSONResponse(
                {"kind": "error", "code": "internal", "message": "boom"}, status_code=500
            )
        ),
        Reason.HTTP_ERROR,
    ),
}
NEGOTIATES = frozenset({"replayed_offer", "nonce_reused_in_negotiation"})
"""Misbehaviours that only show after the first round (the others need none)."""
SILENT = "never_answers"
SIGNER_CHANGED = "signer_changed"
EXPECTED: dict[str, Reason] = {
    **{kind: reason for kind, (_, reason) in TAMPERS.items()},
    SILENT: Reason.TIMEOUT,
    SIGNER_CHANGED: Reason.SIGNER_CHANGED,
}


EXTRA_TAMPERS: dict[str, Callable[[Offer, Ctx], Response]] = {
    "replays_across_negotiations": replay_across_negotiations,
    "raises_last_round": _raise_last,
}
"""Misbehaviours that need more than one negotiation to show (their own tests)."""


def hostile_app(kind: str, desk: Desk, ctx: Ctx) -> FastAPI:
    """The protocol's four routes around a real desk, misbehaving as ``kind`` says."""
    app = FastAPI()
    tamper = TAMPERS[kind][0] if kind in TAMPERS else EXTRA_TAMPERS.get(kind)

    @app.get(WELL_KNOWN_PATH)
    def discovery() -> Response:
        found = desk.discovery()
        if kind == SIGNER_CHANGED:
            found = found.model_copy(update={"signing_address": STRANGER})
        return JSONResponse(found.model_dump(mode="json"))

    @app.get("/catalog")
    def catalog() -> Response:
        return JSONResponse(desk.catalog().model_dump(mode="json"))

    @app.post("/rfq")
    async def rfq(request: Request) -> Response:
        if kind == SILENT:
            while not await request.is_disconnected():
                await asyncio.sleep(0.05)
            return Response(status_code=204)
        answer = desk.open(Rfq.model_validate_json(await request.body()), int(time.time()))
        return _answer(answer)

    @app.post("/rfq/{rfq_id}/counter")
    async def counter(rfq_id: str, request: Request) -> Response:
        body = Counter.model_validate_json(await request.body())
        return _answer(desk.counter(rfq_id, body, int(time.time())))

    def _answer(answer: Offer | Decline) -> Response:
        if isinstance(answer, Decline) or tamper is None:
            return _json(answer)
        return tamper(answer, ctx)

    return app


@contextmanager
def hostile_supplier(
    tmp_path: Path, kind: str, *, strategy: dict[str, Any], **prices: Any
) -> Iterator[SupplierRef]:
    """Serve the ``kind`` misbehaviour on a free port; its ref advertises the real key."""
    config = supplier_settings(tmp_path, kind, strategy=strategy, **prices)
    key = bytes(Account.create().key)
    signer = Signer.from_key(key)
    store = SupplierStore(config.database)
    ctx = Ctx(key=key, previous={})
    try:
        with serve_in_thread(hostile_app(kind, Desk(config, signer, store), ctx)) as url:
            yield SupplierRef(
                name=kind, base_url=url, signing_address=signer.address, reliability=0.99
            )
    finally:
        store.close()
