"""The buyer over HTTP: RFQs to every eligible supplier at once, counters in parallel rounds.

Everything a supplier sends is untrusted: each request has connect/read
timeouts and an overall deadline, each body a size cap, each answer is parsed
with the ``custobot/2`` models and each offer passes :func:`check_quote` before
the :class:`BuyerCore` sees it. One supplier that is slow, silent, huge or
lying is refused (with its reason in the transcript) and the others go on; so
is one whose quote reuses a nonce (within the negotiation, or one whose order id
the caller's ``used`` says is taken), and one whose answer makes anything here
raise. Counters carry the key of the RFQ's hash-chain lock, so only this buyer
can bargain on its RFQs.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
import structlog
from pydantic import ValidationError

from device.negotiation.checks import Refusal, check_quote
from device.negotiation.core import Bid, BuyerCore, CounterMove, Counters
from device.negotiation.errors import SupplierError
from device.negotiation.need import Need, SupplierRef
from device.negotiation.policy import BuyerPolicy
from device.negotiation.transcript import EventKind, Reason, Transcript
from supplier.protocol import (
    MAX_BODY_BYTES,
    PROTOCOL_VERSION,
    WELL_KNOWN_PATH,
    Catalog,
    Counter,
    Decline,
    Discovery,
    Error,
    Offer,
    Rfq,
    RfqLine,
    counter_key,
    counter_lock,
    parse_answer,
)

log = structlog.get_logger()
M = TypeVar("M", Discovery, Catalog)
UsedQuote = Callable[[str, int], bool]
"""``used(supplier, nonce)``: whether the order id of that quote is already taken."""


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Real-time limits per request; the whole negotiation is bounded by the policy's budget."""

    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    request_timeout_s: float = 8.0
    max_body_bytes: int = MAX_BODY_BYTES
    max_catalog_bytes: int = 512 * 1024


@dataclass(frozen=True, slots=True)
class NegotiationResult:
    """The winner's signed offer (``None`` when there is no deal) and the transcript."""

    supplier: SupplierRef | None
    offer: Offer | None
    transcript: Transcript


@dataclass(slots=True)
class _Session:
    ref: SupplierRef
    rfq_id: str
    max_rounds: int = 1
    last_round: int = 0
    open: bool = field(default=True)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    nonces: dict[int, int] = field(default_factory=dict)
    """Nonce -> round of every quote this supplier offered in this negotiation."""
    used: UsedQuote | None = None


def _new_rfq_id() -> str:
    return secrets.token_urlsafe(18)


class Buyer:
    """Negotiates one need at a time with many suppliers; reusable and stateless between calls.

    Rounds are synchronous: every supplier still bargaining gets its counter at
    once, and the next round starts when all have answered or timed out. A
    supplier that is slow but within the limits therefore slows every round;
    ``HttpLimits.request_timeout_s`` bounds one round and the policy's
    ``time_budget_s`` the whole negotiation.
    """

    def __init__(
        self,
        policy: BuyerPolicy | None = None,
        *,
        limits: HttpLimits | None = None,
        clock: Callable[[], float] = time.time,
        new_rfq_id: Callable[[], str] = _new_rfq_id,
    ) -> None:
        """``clock`` returns unix seconds; it drives the negotiation logic and quote expiry."""
        self.policy = policy or BuyerPolicy()
        self.limits = limits or HttpLimits()
        self._clock = clock
        self._new_rfq_id = new_rfq_id

    async def negotiate(
        self, need: Need, suppliers: Sequence[SupplierRef], *, used: UsedQuote | None = None
    ) -> NegotiationResult:
        """Run the whole negotiation and return the best acceptable signed offer, if any.

        ``used`` tells which quotes were already placed (locally or on chain): such a
        quote is refused as a replay. Nonces reused within this negotiation always are.
        """
        started = self._clock()
        core: BuyerCore[Offer] = BuyerCore(
            need, [(s.name, s.reliability) for s in suppliers], self.policy, started_at=started
        )
        sessions = {s.name: _Session(s, self._new_rfq_id(), used=used) for s in suppliers}
        async with self._client() as client:
            await asyncio.gather(
                *(self._open(client, core, need, session, started) for session in sessions.values())
            )
            while True:
                step = core.next_step(self._clock())
                if not isinstance(step, Counters):
                    break
                await asyncio.gather(
                    *(
                        self._counter(client, core, need, sessions[move.supplier], move, started)
                        for move in step.moves
                    )
                )
        winner = None if step.winner is None else sessions[step.winner].ref
        log.info(
            "negotiation_finished",
            winner=step.winner,
            amount=None if step.bid is None else step.bid.amount,
            reservation=need.reservation,
            rounds=step.transcript.rounds,
        )
        return NegotiationResult(
            winner, None if step.bid is None else step.bid.payload, step.transcript
        )

    async def discover(self, name: str, base_url: str, *, reliability: float = 0.9) -> SupplierRef:
        """A new supplier's ref with the signing address it advertises now (trust on first use).

        The caller pins the address (config, database); later negotiations refuse
        the supplier if its discovery document ever names another key. Raises
        :class:`SupplierError` if the supplier cannot be reached or answers badly.
        """
        probe = SupplierRef(
            name=name,
            base_url=base_url,
            signing_address="0x" + "00" * 20,
            reliability=reliability,
        )
        async with self._client() as client:
            raw = await self._fetch(client, probe, "GET", WELL_KNOWN_PATH, None, self._clock())
        discovery = _parse(probe, Discovery, raw)
        return probe.model_copy(update={"signing_address": discovery.signing_address})

    async def catalog(self, ref: SupplierRef) -> Catalog:
        """The supplier's catalog (what the planner prices from), size-capped and timed."""
        async with self._client() as client:
            raw = await self._fetch(
                client, ref, "GET", "/catalog", None, self._clock(), self.limits.max_catalog_bytes
            )
        return _parse(ref, Catalog, raw)

    # -- one supplier --------------------------------------------------------------

    async def _open(
        self,
        client: httpx.AsyncClient,
        core: BuyerCore[Offer],
        need: Need,
        session: _Session,
        started: float,
    ) -> None:
        """Discovery and catalog, then the RFQ; any fault refuses this supplier only."""
        ref = session.ref
        try:
            fetched = await asyncio.gather(
                self._fetch(client, ref, "GET", WELL_KNOWN_PATH, None, started),
                self._fetch(
                    client, ref, "GET", "/catalog", None, started, self.limits.max_catalog_bytes
                ),
                return_exceptions=True,
            )
            bodies: list[bytes] = []
            for item in fetched:
                if isinstance(item, BaseException):
                    raise item
                bodies.append(item)
            discovery_raw, catalog_raw = bodies
            discovery = _parse(ref, Discovery, discovery_raw)
            catalog = _parse(ref, Catalog, catalog_raw)
            now = self._clock()
            core.note(
                EventKind.DISCOVERY,
                ref.name,
                now,
                detail=f"{discovery.name}, max {discovery.max_rounds} rounds",
            )
            if discovery.signing_address != ref.signing_address:
                raise SupplierError(
                    ref.name,
                    Reason.SIGNER_CHANGED,
                    f"advertises {discovery.signing_address}, expected {ref.signing_address}",
                )
            unfit = _unfit(need, discovery, catalog, now)
            if unfit is not None:
                core.declined(ref.name, now, unfit)
                return
            session.max_rounds = discovery.max_rounds
            if discovery.best_and_final:
                core.honours_best_and_final(ref.name)
            rfq = Rfq(
                rfq_id=session.rfq_id,
                items=[RfqLine(gtin=i.gtin, quantity=i.quantity) for i in need.items],
                deliver_by=need.deliver_by,
                answer_by=int(started + self.policy.time_budget_s),
                chain_id=need.chain_id,
                buyer=need.profit_center,
                token=need.token,
                machine_customer=True,
                counter_lock=counter_lock(session.secret),
            )
            core.note(EventKind.RFQ, ref.name, now, detail=f"rfq {session.rfq_id}")
            raw = await self._fetch(
                client, ref, "POST", "/rfq", rfq.model_dump_json().encode(), started
            )
            self._take(core, need, session, raw, expected_round=0)
        except SupplierError as exc:
            self._refuse(core, exc)
        except Exception as exc:  # an untrusted party: nothing it sends may end the negotiation
            self._fault(core, ref.name, exc)

    async def _counter(
        self,
        client: httpx.AsyncClient,
        core: BuyerCore[Offer],
        need: Need,
        session: _Session,
        move: CounterMove,
        started: float,
    ) -> None:
        ref = session.ref
        try:
            body = Counter(
                round=session.last_round,
                price=move.amount,
                final=move.final,
                price_to_beat=move.beat if move.best_and_final else None,
                counter_key=counter_key(session.secret, session.last_round),
            )
            raw = await self._fetch(
                client,
                ref,
                "POST",
                f"/rfq/{session.rfq_id}/counter",
                # no null optional fields: a supplier without them refuses unknown ones
                body.model_dump_json(exclude_none=True).encode(),
                started,
            )
            self._take(core, need, session, raw, expected_round=session.last_round + 1)
        except SupplierError as exc:
            self._refuse(core, exc)
        except Exception as exc:
            self._fault(core, ref.name, exc)

    def _take(
        self, core: BuyerCore[Offer], need: Need, session: _Session, raw: bytes, expected_round: int
    ) -> None:
        """Parse and check one answer, then tell the core what it was."""
        ref = session.ref
        try:
            answer = parse_answer(raw)
        except (ValidationError, ValueError) as exc:
            raise SupplierError(ref.name, Reason.MALFORMED, _short(exc)) from exc
        now = self._clock()
        if isinstance(answer, Decline):
            core.declined(ref.name, now, f"{answer.reason.value}: {answer.message}")
            return
        if answer.rfq_id != session.rfq_id:
            raise SupplierError(ref.name, Reason.WRONG_RFQ, "answer names another RFQ")
        if answer.round != expected_round:
            raise SupplierError(
                ref.name,
                Reason.MALFORMED,
                f"answer for round {answer.round}, expected round {expected_round}",
            )
        refusal = check_quote(
            need,
            ref.signing_address,
            answer.to_quote(),
            answer.signature_bytes(),
            answer.item_lines(),
            chain_id=answer.chain_id,
            now=int(now),
            min_validity_s=self.policy.min_validity_s,
        )
        if refusal is None:
            refusal = self._replay(session, answer)
        if refusal is not None:
            core.refused(ref.name, refusal.reason, refusal.detail, now, amount=answer.amount)
            log.warning("offer_refused", supplier=ref.name, reason=refusal.reason.value)
            return
        session.nonces[answer.nonce] = answer.round
        session.last_round = answer.round
        rounds_left = session.max_rounds - 1 - answer.round
        bid = Bid(answer.amount, answer.deliver_by, answer.expiry, answer, final=answer.final)
        core.offered(ref.name, bid, now, rounds_left=rounds_left)

    @staticmethod
    def _replay(session: _Session, answer: Offer) -> Refusal | None:
        """A quote nonce is used once: not twice in this negotiation, never once placed."""
        earlier = session.nonces.get(answer.nonce)
        if earlier is not None:
            return Refusal(Reason.REPLAYED_QUOTE, f"nonce already offered in round {earlier}")
        if session.used is not None and session.used(answer.supplier, answer.nonce):
            return Refusal(Reason.REPLAYED_QUOTE, "the quote's order id is already used")
        return None

    def _fault(self, core: BuyerCore[Offer], supplier: str, exc: Exception) -> None:
        """An unexpected error while dealing with one supplier: refuse it, the others go on."""
        core.refused(supplier, Reason.FAULT, type(exc).__name__, self._clock())
        log.error("supplier_fault", supplier=supplier, error=type(exc).__name__)

    def _refuse(self, core: BuyerCore[Offer], exc: SupplierError) -> None:
        core.refused(exc.supplier, exc.reason, exc.detail, self._clock())
        log.warning("supplier_refused", supplier=exc.supplier, reason=exc.reason.value)

    # -- HTTP ------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        """No redirects, no compression (a small body must stay small), real timeouts."""
        timeout = httpx.Timeout(
            self.limits.request_timeout_s,
            connect=self.limits.connect_timeout_s,
            read=self.limits.read_timeout_s,
        )
        headers = {"accept": "application/json", "accept-encoding": "identity"}
        return httpx.AsyncClient(timeout=timeout, headers=headers, follow_redirects=False)

    async def _fetch(
        self,
        client: httpx.AsyncClient,
        ref: SupplierRef,
        method: str,
        path: str,
        body: bytes | None,
        started: float,
        cap: int | None = None,
    ) -> bytes:
        """One request with a hard deadline and a body cap; returns the 200 body."""
        cap = self.limits.max_body_bytes if cap is None else cap
        remaining = started + self.policy.time_budget_s - self._clock()
        budget = min(self.limits.request_timeout_s, remaining)
        if budget <= 0:
            raise SupplierError(ref.name, Reason.TIMEOUT, "negotiation time budget spent")
        url = ref.base_url.rstrip("/") + path
        headers = {"content-type": "application/json"} if body is not None else None
        try:
            async with (
                asyncio.timeout(budget),
                client.stream(method, url, content=body, headers=headers) as response,
            ):
                raw = await _read_capped(ref, response, cap)
        except TimeoutError as exc:
            raise SupplierError(ref.name, Reason.TIMEOUT, f"{method} {path}: no answer") from exc
        except httpx.TimeoutException as exc:
            raise SupplierError(
                ref.name, Reason.TIMEOUT, f"{method} {path}: {type(exc).__name__}"
            ) from exc
        except httpx.ProtocolError as exc:
            raise SupplierError(
                ref.name, Reason.MALFORMED, f"{method} {path}: HTTP {type(exc).__name__}"
            ) from exc
        except httpx.HTTPError as exc:
            raise SupplierError(
                ref.name, Reason.UNREACHABLE, f"{method} {path}: {type(exc).__name__}"
            ) from exc
        if response.status_code != 200:
            raise SupplierError(
                ref.name, Reason.HTTP_ERROR, f"{method} {path}: {_error_text(response, raw)}"
            )
        return raw


async def _read_capped(ref: SupplierRef, response: httpx.Response, cap: int) -> bytes:
    """The body, refusing as soon as it (or its declared length) passes ``cap``."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise SupplierError(ref.name, Reason.TOO_LARGE, f"declares {declared} bytes, cap {cap}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > cap:
            raise SupplierError(ref.name, Reason.TOO_LARGE, f"body passed {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _error_text(response: httpx.Response, raw: bytes) -> str:
    """``status code: message`` from a protocol ``Error`` body, or just the status."""
    try:
        error = Error.model_validate_json(raw)
    except ValidationError:
        return f"HTTP {response.status_code}"
    return f"HTTP {response.status_code} {error.code.value}: {error.message[:120]}"


def _parse(ref: SupplierRef, model: type[M], raw: bytes) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise SupplierError(ref.name, Reason.MALFORMED, _short(exc)) from exc


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid"}
        return f"{exc.error_count()} error(s), first: {first.get('msg', '')}"[:200]
    return str(exc)[:200]


def _unfit(need: Need, discovery: Discovery, catalog: Catalog, now: float) -> str | None:
    """Why this supplier cannot serve the need at all, judged from what it advertises."""
    if PROTOCOL_VERSION not in discovery.protocol_versions:
        return f"speaks {discovery.protocol_versions}, not {PROTOCOL_VERSION}"
    if not any(t.chain_id == need.chain_id and t.address == need.token for t in discovery.tokens):
        return f"does not take token {need.token} on chain {need.chain_id}"
    offered = {int(item.gtin): item for item in catalog.items}
    for wanted in need.items:
        item = offered.get(int(wanted.gtin))
        if item is None:
            return f"catalog: no {wanted.gtin}"
        if wanted.quantity < item.min_quantity:
            return f"catalog: {wanted.gtin} minimum quantity {item.min_quantity}"
        if now + item.lead_time_seconds > need.deliver_by:
            return f"catalog: {wanted.gtin} lead time {item.lead_time_seconds} s is too long"
    return None
