"""Competition as leverage over real HTTP: a best-and-final round tells the other reference
suppliers the price to beat, never who offered it (``custobot/2``'s optional field)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from device.negotiation import (
    Bid,
    Buyer,
    BuyerCore,
    BuyerPolicy,
    CounterMove,
    Counters,
    EventKind,
    Finished,
    HttpLimits,
    NegotiationResult,
    SupplierRef,
)
from supplier.app import create_app
from supplier.keys import Signer
from supplier.protocol import WELL_KNOWN_PATH, Discovery
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread
from tests.device.negotiation.conftest import make_need, supplier_settings


@dataclass
class Recorder:
    """ASGI wrapper that keeps every request body the supplier received, byte for byte."""

    app: ASGIApp
    bodies: list[tuple[str, bytes]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self.bodies.append((str(scope["path"]), b"".join(chunks)))
            return message

        await self.app(scope, recording, send)


@contextmanager
def recorded_supplier(
    tmp_path: Path, name: str, **settings: Any
) -> Iterator[tuple[SupplierRef, Recorder]]:
    config = supplier_settings(tmp_path, name, **settings)
    signer = Signer.from_key(Account.create().key)
    store = SupplierStore(config.database)
    recorder = Recorder(create_app(config, signer, store))
    try:
        with serve_in_thread(recorder) as url:
            ref = SupplierRef(
                name=name, base_url=url, signing_address=signer.address, reliability=0.9
            )
            yield ref, recorder
    finally:
        store.close()


def negotiate(
    tmp_path: Path, limits: HttpLimits, *, best_and_final: bool, **b_settings: Any
) -> tuple[NegotiationResult, SupplierRef, Recorder]:
    """The buyer against ``rival`` (fixed price) and ``bargainer`` (``b_settings``)."""
    need = make_need(reservation=40_000_000, urgency=0.9)
    run = tmp_path / ("with" if best_and_final else "without")
    run.mkdir()
    with (
        recorded_supplier(
            run,
            "rival",
            strategy={"kind": "fixed"},
            cola=(420_000, 420_000),
            chips=(560_000, 560_000),
        ) as (rival, _),
        recorded_supplier(
            run,
            "bargainer",
            best_and_final=best_and_final,
            **b_settings,
        ) as (bargainer, recorder),
    ):
        result = asyncio.run(Buyer(limits=limits).negotiate(need, [rival, bargainer]))
    return result, rival, recorder


def counters(recorder: Recorder) -> list[dict[str, Any]]:
    return [json.loads(body) for path, body in recorder.bodies if path.endswith("/counter")]


def test_best_and_final_lowers_the_price_and_never_names_the_rival(tmp_path: Path) -> None:
    # A fixed-price rival quotes 33.60 at once; a tit-for-tat supplier with four rounds
    # would meet the buyer's final counter at that price to beat.
    bargain = {"strategy": {"kind": "tit_for_tat"}, "max_rounds": 4}
    # Honest suppliers only: generous limits, so a loaded machine cannot time them out.
    limits = HttpLimits(connect_timeout_s=10.0, read_timeout_s=20.0, request_timeout_s=30.0)
    plain, _, plain_seen = negotiate(tmp_path, limits, best_and_final=False, **bargain)
    told, rival, seen = negotiate(tmp_path, limits, best_and_final=True, **bargain)
    assert plain.offer is not None
    assert told.offer is not None
    rival_quote = next(
        e.amount
        for e in told.transcript.events
        if e.kind is EventKind.OFFER and e.supplier == "rival"
    )
    assert rival_quote == 48 * 420_000 + 24 * 560_000
    # Without the round the buyer pays the rival's price; with it, less.
    assert plain.offer.amount == rival_quote
    assert told.supplier is not None
    assert told.supplier.name == "bargainer"
    assert told.offer.amount < plain.offer.amount
    # The bargainer was told the price to beat, in the one optional field, and nothing
    # else about the rival: not its name, address, signing key, URL or quote.
    sent = counters(seen)
    assert [c.get("price_to_beat") for c in sent][-1] == rival_quote
    allowed = {"protocol", "round", "price", "final", "counter_key", "price_to_beat"}
    assert all(set(c) <= allowed for c in sent)
    raw = b"".join(body for _, body in seen.bodies).lower()
    for secret in (
        rival.name,
        rival.signing_address.lower(),
        rival.signing_address[2:].lower(),
        rival.base_url.split(":")[-1],
    ):
        assert secret.encode() not in raw, secret
    # A supplier that does not advertise it never gets the field (older suppliers refuse
    # unknown fields), and still sells at the rival's price.
    assert all("price_to_beat" not in c for c in counters(plain_seen))
    assert counters(plain_seen)


def stalled_round(*, honours: bool) -> tuple[list[CounterMove], Finished[str]]:
    """The core alone: ``b`` holds 20.00 and ``a`` 25.00, and neither moves while the
    buyer concedes, so the buyer closes early. Returns the best-and-final moves (if any)
    and the end."""
    need = make_need(reservation=30_000_000)
    now = float(int(time.time()))
    core: BuyerCore[str] = BuyerCore(need, [("a", 0.9), ("b", 0.9)], BuyerPolicy(), started_at=now)
    if honours:
        core.honours_best_and_final("a")
    expiry = int(now) + 3600

    def offer(supplier: str, amount: int, round_: int, final: bool = False) -> None:
        bid = Bid(amount, need.deliver_by, expiry, f"{supplier}{round_}", final=final)
        core.offered(supplier, bid, now, rounds_left=12 - round_)

    offer("a", 25_000_000, 0)
    offer("b", 20_000_000, 0)
    told: list[CounterMove] = []
    for round_ in range(1, 12):
        now += 0.1
        step = core.next_step(now)
        if not isinstance(step, Counters):
            return told, step
        told = [m for m in step.moves if m.best_and_final]
        for move in step.moves:
            if move.supplier == "a":
                offer("a", 19_900_000 if told else 25_000_000, round_, final=bool(told))
            else:
                offer("b", 20_000_000, round_)
    raise AssertionError("the buyer never closed early")


def test_the_buyer_closing_early_first_tells_the_others_the_price_to_beat() -> None:
    told, end = stalled_round(honours=True)
    assert [(m.supplier, m.beat, m.final) for m in told] == [("a", 20_000_000, True)]
    assert told[0].amount < 20_000_000
    assert end.winner == "a"
    assert end.bid is not None
    assert end.bid.amount == 19_900_000
    assert end.transcript.rounds < 11  # closed early, not at the round limit
    # Without the supplier's say-so there is no such round, and the held 20.00 is placed.
    told, end = stalled_round(honours=False)
    assert told == []
    assert end.winner == "b"


def test_discovery_only_mentions_best_and_final_when_the_supplier_honours_it(
    tmp_path: Path,
) -> None:
    """Older buyers refuse unknown fields: a supplier with the option off serves exactly
    the discovery document it served before the field existed."""
    for honours in (False, True):
        run = tmp_path / str(honours)
        run.mkdir()
        with recorded_supplier(run, "s", strategy={"kind": "fixed"}, best_and_final=honours) as (
            ref,
            _,
        ):
            document = httpx.get(ref.base_url + WELL_KNOWN_PATH, timeout=5).json()
        if honours:
            assert document["best_and_final"] is True
        else:
            assert "best_and_final" not in document
        assert Discovery.model_validate(document).best_and_final is honours
