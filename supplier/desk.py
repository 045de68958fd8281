"""The supplier's sales desk: answers RFQs and counters with signed offers or declines.

Plain code that takes ``now`` (unix seconds) and never reads the clock, so the
HTTP app, the simulation and the benchmarks all drive the same logic. Every
answer is persisted with its session before it is returned; a retried request
gets the same answer back, and an out-of-sequence one changes nothing. Only the
RFQ's opener can counter (its key must open the RFQ's lock), and RFQs that never
became an order are deleted after ``rfq_retention_days``.
"""

from __future__ import annotations

import json
import threading

import structlog

from supplier.errors import (
    DuplicateRfqError,
    NotYourRfqError,
    StaleRoundError,
    UnknownRfqError,
)
from supplier.keys import Signer
from supplier.pricing import (
    NegotiationState,
    PriceBook,
    PricedOrder,
    Refusal,
    is_final,
    make_strategy,
    next_total,
    split_total,
)
from supplier.protocol import (
    PROTOCOL_VERSION,
    AcceptedToken,
    Catalog,
    Counter,
    Decline,
    DeclineReason,
    Discovery,
    Offer,
    Rfq,
    key_opens,
    parse_answer,
    sign_offer,
)
from supplier.settings import SupplierSettings
from supplier.store import RfqSession, SupplierStore

log = structlog.get_logger()
PRUNE_BATCH = 500


class Desk:
    """One supplier's negotiation logic over its price book, strategy, key and store."""

    def __init__(self, config: SupplierSettings, signer: Signer, store: SupplierStore) -> None:
        self.config = config
        self.signer = signer
        self.store = store
        self.book = PriceBook(config.items)
        self.strategy = make_strategy(config.strategy)
        self._lock = threading.Lock()
        self._next_prune = 0

    def discovery(self) -> Discovery:
        return Discovery(
            name=self.config.name,
            signing_address=self.signer.address,
            chain_ids=self.config.chain_ids,
            tokens=[AcceptedToken.model_validate(t.model_dump()) for t in self.config.tokens],
            protocol_versions=[PROTOCOL_VERSION],
            max_rounds=self.config.max_rounds,
            best_and_final=self.config.best_and_final,
        )

    def catalog(self) -> Catalog:
        return self.book.catalog(self.config.name)

    # -- RFQ ------------------------------------------------------------------------------

    def open(self, rfq: Rfq, now: int) -> Offer | Decline:
        """Answer a new RFQ with the first offer (round 0) or a decline."""
        request = rfq.model_dump_json()
        with self._lock:
            self._prune(now)
            existing = self.store.rfq_session(rfq.rfq_id)
            if existing is not None:
                if existing.request_json == request and not existing.counters:
                    return parse_answer(existing.last_answer_json)  # a retried RFQ
                raise DuplicateRfqError(rfq.rfq_id)
            session = RfqSession(
                rfq_id=rfq.rfq_id,
                request_json=request,
                created_at=now,
                expires_at=now + self.config.session_ttl_seconds,
                last_request_json=request,
                last_answer_json="",
            )
            priced = self._price(rfq, now)
            if isinstance(priced, Refusal):
                answer = Decline(
                    rfq_id=rfq.rfq_id,
                    reason=priced.reason,
                    message=priced.message,
                    gtin=priced.gtin,
                )
                self._close(session, answer, now)
                log.info("rfq_declined", rfq=rfq.rfq_id, reason=priced.reason.value)
                return answer
            offer = self._offer(session, rfq, priced, counter=rfq.target_price, now=now)
            log.info("rfq_offered", rfq=rfq.rfq_id, amount=offer.amount, final=offer.final)
            return offer

    def counter(self, rfq_id: str, counter: Counter, now: int) -> Offer | Decline:
        """Answer the buyer's counter to the latest offer with the next offer or a decline."""
        request = counter.model_dump_json()
        with self._lock:
            session = self.store.rfq_session(rfq_id)
            if session is None:
                raise UnknownRfqError(rfq_id)
            rfq = Rfq.model_validate_json(session.request_json)
            if not key_opens(rfq.counter_lock, counter.counter_key, counter.round):
                log.warning("counter_not_from_opener", rfq=rfq_id, round=counter.round)
                raise NotYourRfqError(rfq_id)
            if session.last_request_json == request:
                return parse_answer(session.last_answer_json)  # a retried counter
            if session.closed:
                return Decline(
                    rfq_id=rfq_id,
                    reason=DeclineReason.SESSION_CLOSED,
                    message="negotiation is over",
                )
            latest = len(session.offers) - 1
            if counter.round != latest:
                raise StaleRoundError(rfq_id, counter.round, latest)
            session.last_request_json = request
            session.counters_json = json.dumps([*session.counters, counter.price])
            last = parse_answer(session.last_answer_json)
            decline: Decline | None = None
            if now > session.expires_at:
                decline = Decline(
                    rfq_id=rfq_id,
                    reason=DeclineReason.SESSION_EXPIRED,
                    message="negotiation time is over",
                )
            elif isinstance(last, Offer) and last.final:
                decline = Decline(
                    rfq_id=rfq_id,
                    reason=DeclineReason.NO_AGREEMENT,
                    message=f"our offer of round {latest} ({last.amount}) was final",
                )
            if decline is not None:
                self._close(session, decline, now)
                log.info("counter_declined", rfq=rfq_id, reason=decline.reason.value)
                return decline
            # Prices are those of the session's start; only a changed catalog can refuse now.
            priced = self.book.price(rfq.items, deliver_by=rfq.deliver_by, now=session.created_at)
            if isinstance(priced, Refusal):
                decline = Decline(
                    rfq_id=rfq_id, reason=priced.reason, message=priced.message, gtin=priced.gtin
                )
                self._close(session, decline, now)
                return decline
            beat = counter.price_to_beat if self.config.best_and_final else None
            offer = self._offer(
                session,
                rfq,
                priced,
                counter=counter.price,
                now=now,
                buyer_final=counter.final or beat is not None,
                beat=beat,
            )
            log.info("counter_offered", rfq=rfq_id, round=offer.round, amount=offer.amount)
            return offer

    def _prune(self, now: int) -> None:
        """Now and then, forget the RFQs that never became an order (a bounded batch)."""
        if now < self._next_prune:
            return
        self._next_prune = now + self.config.prune_every_seconds
        pruned = self.store.prune_rfqs(
            now - self.config.rfq_retention_days * 86400, limit=PRUNE_BATCH
        )
        if pruned:
            log.info("rfqs_pruned", count=pruned)
        if pruned >= PRUNE_BATCH:  # a backlog: go on at the next RFQ
            self._next_prune = now

    # -- helpers --------------------------------------------------------------------------

    def _price(self, rfq: Rfq, now: int) -> PricedOrder | Refusal:
        """The order priced for this RFQ, or why this supplier cannot serve it."""
        if rfq.chain_id not in self.config.chain_ids:
            return Refusal(
                DeclineReason.UNSUPPORTED_CHAIN,
                f"chain {rfq.chain_id} is not one of {self.config.chain_ids}",
            )
        if not self.config.accepts(rfq.chain_id, rfq.token):
            return Refusal(
                DeclineReason.UNSUPPORTED_TOKEN,
                f"token {rfq.token} is not accepted on chain {rfq.chain_id}",
            )
        if rfq.answer_by < now:
            return Refusal(DeclineReason.ANSWER_BY_PASSED, f"answer_by {rfq.answer_by} has passed")
        return self.book.price(
            rfq.items,
            deliver_by=rfq.deliver_by,
            now=now,
            committed=self.store.committed_quantities(),
        )

    def _offer(
        self,
        session: RfqSession,
        rfq: Rfq,
        priced: PricedOrder,
        *,
        counter: int | None,
        now: int,
        buyer_final: bool = False,
        beat: int | None = None,
    ) -> Offer:
        offers = session.offers
        round_ = len(offers)
        state = NegotiationState(
            round=round_,
            max_rounds=self.config.max_rounds,
            elapsed=(now - session.created_at) / self.config.session_ttl_seconds,
            list_total=priced.list_total,
            floor_total=priced.floor_total,
            offers=tuple(offers),
            counters=tuple(session.counters),
            target_price=rfq.target_price,
        )
        total = next_total(self.strategy, state, counter)
        if beat is not None and priced.floor_total < beat <= total:
            # Best and final: just under the competing price if the floor allows; the
            # buyer never says who quoted it, so this is all the supplier learns.
            under = beat - max(1, beat // 1000)
            if counter is not None:  # never below the buyer's own counter
                under = max(under, min(counter, beat - 1))
            total = max(priced.floor_total, under)
        lines = split_total(priced, total)
        amount = sum(line.quantity * line.unit_price for line in lines)
        final = is_final(self.strategy, state, amount, counter, buyer_final=buyer_final)
        offer = sign_offer(
            private_key=self.signer.private_key,
            rfq_id=rfq.rfq_id,
            round=round_,
            final=final,
            chain_id=rfq.chain_id,
            buyer=rfq.buyer,
            token=rfq.token,
            lines=lines,
            deliver_by=rfq.deliver_by,
            expiry=now + self.config.quote_ttl_seconds,
            nonce=self.store.allocate_nonce(),
        )
        session.offers_json = json.dumps([*offers, offer.amount])
        session.last_answer_json = offer.model_dump_json()
        self.store.save_session(session, offer, now)
        return offer

    def _close(self, session: RfqSession, answer: Decline, now: int) -> None:
        session.closed = True
        session.last_answer_json = answer.model_dump_json()
        self.store.save_session(session, None, now)
