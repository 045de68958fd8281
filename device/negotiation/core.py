"""The buyer's bargaining logic with no I/O: the HTTP buyer and the benchmark both drive it.

Round-synchronous alternating offers with every supplier at once. The transport
reports what each supplier said (an offer already checked by ``checks``, a
decline, or a fault) and asks :meth:`BuyerCore.next_step` what to do: counter
every supplier still talking, or finish with the best offer by utility. Time
only enters through the ``now`` arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum, auto
from typing import Generic, TypeVar

from device.negotiation.need import Need
from device.negotiation.policy import (
    PPM,
    BuyerPolicy,
    concession_exponent,
    target_price,
    utility,
)
from device.negotiation.transcript import (
    Decision,
    Event,
    EventKind,
    Reason,
    Standing,
    SupplierStatus,
    Transcript,
)

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Bid(Generic[P]):
    """A supplier's firm offer as the core sees it; ``payload`` is the transport's signed quote."""

    amount: int
    deliver_by: int
    expiry: int
    payload: P
    final: bool = False


@dataclass(frozen=True, slots=True)
class CounterMove:
    """Counter ``supplier`` at ``amount``; ``beat`` is the best competing price, if any.

    ``round`` counts the buyer's counters to this supplier (1 = first);
    ``final`` says the buyer will not counter this supplier again; ``best_and_final``
    says the transport should send ``beat`` as the price to beat (never who quoted it):
    the supplier said it honours that, and ``beat`` is set.
    """

    supplier: str
    amount: int
    round: int
    beat: int | None
    final: bool
    best_and_final: bool = False


@dataclass(frozen=True, slots=True)
class Counters:
    moves: list[CounterMove]


@dataclass(frozen=True, slots=True)
class Finished(Generic[P]):
    """The end: the winning bid (``None`` for no deal) and the full transcript."""

    winner: str | None
    bid: Bid[P] | None
    transcript: Transcript


_SILENT = frozenset({Reason.TIMEOUT, Reason.UNREACHABLE, Reason.HTTP_ERROR})
"""Faults of the line, not of the quote: earlier signed quotes of that supplier stand."""


class _State(Enum):
    WAITING = auto()
    ACTIVE = auto()
    FINAL = auto()
    DECLINED = auto()
    REFUSED = auto()


@dataclass(slots=True)
class _Lane(Generic[P]):
    name: str
    reliability: float
    horizon: int
    state: _State = _State.WAITING
    bid: Bid[P] | None = None
    offers: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    refusal: Reason | None = None
    held: list[Bid[P]] = field(default_factory=list)
    """Every checked, signed quote this supplier gave in this negotiation: each binds it
    until it expires, so a later, dearer one does not cancel an earlier bargain."""

    def best_held(self, now: float, min_validity_s: int) -> Bid[P] | None:
        """The cheapest quote still valid long enough to place; among equals, the newest."""
        valid = [b for b in self.held if b.expiry >= now + min_validity_s]
        if not valid:
            return None
        low = min(b.amount for b in valid)
        return [b for b in valid if b.amount == low][-1]


@dataclass(slots=True)
class _Scored(Generic[P]):
    lane: _Lane[P]
    bid: Bid[P]
    utility: float = field(default=0.0)


class BuyerCore(Generic[P]):
    """One negotiation for one need with several suppliers, as a state machine."""

    def __init__(
        self,
        need: Need,
        suppliers: Sequence[tuple[str, float]],
        policy: BuyerPolicy,
        *,
        started_at: float,
    ) -> None:
        """``suppliers`` are (name, reliability) pairs; names must be unique."""
        names = [name for name, _ in suppliers]
        if len(set(names)) != len(names):
            raise ValueError("supplier names must be unique")
        self.need = need
        self.policy = policy
        self.started_at = started_at
        self._exponent = concession_exponent(policy, need.urgency)
        self._lanes: dict[str, _Lane[P]] = {
            name: _Lane(name, reliability, policy.max_rounds) for name, reliability in suppliers
        }
        self._events: list[Event] = []
        self._opening: int | None = None
        self._best_and_final: set[str] = set()
        self._final_round_sent = False

    def honours_best_and_final(self, supplier: str) -> None:
        """The supplier advertises that it honours a price to beat (``custobot/2`` optional)."""
        self._best_and_final.add(supplier)

    # -- what the transport reports ------------------------------------------------

    def note(
        self, kind: EventKind, supplier: str, now: float, *, detail: str = "", round_: int = 0
    ) -> None:
        """Record a message the core did not decide (discovery, RFQ sent)."""
        self._events.append(
            Event(at=now, kind=kind, supplier=supplier, round=round_, detail=detail)
        )

    def offered(
        self, supplier: str, bid: Bid[P], now: float, *, rounds_left: int | None = None
    ) -> None:
        """A checked, signed offer arrived; ``rounds_left`` is the supplier's own limit if it says.

        A dearer offer than the supplier's last is a move (tit-for-tat sellers step back
        after a low counter), not a breach: it is answered, and the earlier quotes stand.
        """
        lane = self._lanes[supplier]
        if lane.state is _State.REFUSED:
            return
        raised = lane.bid is not None and bid.amount > lane.bid.amount
        detail = "final" if bid.final else ""
        if raised and lane.bid is not None:
            note = f"raised from {lane.bid.amount}"
            detail = f"{detail}, {note}" if detail else note
        self._events.append(
            Event(
                at=now,
                kind=EventKind.OFFER,
                supplier=supplier,
                round=len(lane.sent),
                amount=bid.amount,
                deliver_by=bid.deliver_by,
                detail=detail,
            )
        )
        lane.bid = bid
        lane.held.append(bid)
        lane.offers.append(bid.amount)
        if rounds_left is not None:
            lane.horizon = min(lane.horizon, len(lane.sent) + rounds_left)
        lane.state = _State.FINAL if bid.final or len(lane.sent) >= lane.horizon else _State.ACTIVE

    def declined(self, supplier: str, now: float, detail: str) -> None:
        """The supplier will not (or no longer) bargain; an earlier signed offer still stands."""
        lane = self._lanes[supplier]
        self._events.append(
            Event(
                at=now,
                kind=EventKind.DECLINE,
                supplier=supplier,
                round=len(lane.sent),
                detail=detail[:200],
            )
        )
        lane.state = _State.FINAL if lane.bid is not None else _State.DECLINED

    def refused(
        self, supplier: str, reason: Reason, detail: str, now: float, *, amount: int | None = None
    ) -> None:
        """The buyer stops dealing with this supplier.

        A breach (bad signature, wrong buyer, expired, malformed, replay, ...) makes
        the buyer forget every quote of that supplier; a supplier that only stopped
        answering in time (timeout, unreachable, HTTP error) keeps its earlier
        signed quotes, which still bind it.
        """
        lane = self._lanes[supplier]
        self._events.append(
            Event(
                at=now,
                kind=EventKind.REJECTION,
                supplier=supplier,
                round=len(lane.sent),
                amount=amount,
                reason=reason,
                detail=detail[:200],
            )
        )
        lane.refusal = reason
        if reason in _SILENT and lane.best_held(now, self.policy.min_validity_s) is not None:
            lane.state = _State.FINAL
            return
        lane.state = _State.REFUSED
        lane.bid = None
        lane.held.clear()

    # -- what the buyer decides ----------------------------------------------------

    def next_step(self, now: float) -> Counters | Finished[P]:
        """Counter every supplier still bargaining, or finish.

        Each counter follows the concession curve from the opening towards the
        best alternative (the cheapest acceptable held quote of the *other*
        suppliers, or the reservation), paced by each supplier's own round limit,
        so the buyer never offers anyone more than it can already get elsewhere.
        Acceptance follows Baarslag et al.'s combined conditions: it closes when
        an offer is no worse than the counter it would send (AC_next), unless a
        counter just under that quote is still a concession (see :meth:`_probe`); holding
        every signed quote makes "the best offer seen, at the deadline" automatic
        (the end always places the best held quote); and it closes early when the
        opponent model says waiting cannot pay (the supplier holding the best
        quote stopped conceding while the buyer conceded) or the best quote would
        expire before another round. It also finishes when nobody is left
        bargaining or the time budget is spent.
        """
        acceptable = self._acceptable(now)
        if self._opening is None:
            firsts = [lane.bid.amount for lane in self._lanes.values() if lane.bid is not None]
            anchor = min([self.need.reservation, *firsts])
            self._opening = anchor * self.policy.opening_ppm // PPM
        elapsed = (now - self.started_at) / self.policy.time_budget_s
        if elapsed >= 1.0 or self._final_round_sent or self._expiring(now, acceptable):
            return self._finish(now, acceptable)
        if self._close_early(acceptable):
            return self._end(now, acceptable, elapsed)
        moves: list[tuple[CounterMove, str]] = []
        for lane in self._lanes.values():
            if lane.state is not _State.ACTIVE or lane.bid is None:
                continue
            if len(lane.sent) >= lane.horizon:
                lane.state = _State.FINAL
                continue
            others = [s.bid.amount for s in acceptable if s.lane is not lane]
            beat = min(others) if others else None
            amount, note = self._counter(lane, self._opening, beat, elapsed)
            if lane.bid.amount <= amount:
                probe = self._probe(lane, beat, now)
                if probe is None:
                    return self._end(now, acceptable, elapsed)
                amount, note = probe, "just under its quote, which stands"
            round_ = len(lane.sent) + 1
            if beat is not None:
                note = f"{note}, beat {beat}" if note else f"beat {beat}"
            final = round_ >= lane.horizon
            told = final and beat is not None and lane.name in self._best_and_final
            moves.append((CounterMove(lane.name, amount, round_, beat, final, told), note))
        if not moves:
            return self._end(now, acceptable, elapsed)
        return self._send(now, moves)

    def _send(self, now: float, moves: list[tuple[CounterMove, str]]) -> Counters:
        """Record the counters in the transcript and hand them to the transport."""
        for move, note in moves:
            self._lanes[move.supplier].sent.append(move.amount)
            self._events.append(
                Event(
                    at=now,
                    kind=EventKind.COUNTER,
                    supplier=move.supplier,
                    round=move.round,
                    amount=move.amount,
                    detail=note,
                )
            )
        return Counters([move for move, _ in moves])

    def _end(
        self, now: float, acceptable: list[_Scored[P]], elapsed: float
    ) -> Counters | Finished[P]:
        """Finish, unless a best-and-final round can still pay: competition as leverage.

        When the buyer is about to place its best held quote and other suppliers that
        honour a price to beat are still bargaining above it, each gets one final
        counter telling it that price (never who quoted it); the buyer then finishes
        with whatever is best.
        """
        if not acceptable or not self._best_and_final:
            return self._finish(now, acceptable)
        best = min(acceptable, key=lambda s: s.bid.amount)
        beat = best.bid.amount
        assert self._opening is not None
        moves: list[tuple[CounterMove, str]] = []
        for lane in self._lanes.values():
            if (
                lane is best.lane
                or lane.name not in self._best_and_final
                or lane.state is not _State.ACTIVE
                or lane.bid is None
                or lane.bid.amount <= beat
                or len(lane.sent) >= lane.horizon
            ):
                continue
            amount = min(self._counter(lane, self._opening, beat, elapsed)[0], max(beat - 1, 0))
            round_ = len(lane.sent) + 1
            move = CounterMove(lane.name, amount, round_, beat, True, True)
            moves.append((move, f"best and final: beat {beat}"))
        if not moves:
            return self._finish(now, acceptable)
        self._final_round_sent = True
        return self._send(now, moves)

    def _expiring(self, now: float, acceptable: list[_Scored[P]]) -> bool:
        """The best quote would expire before one more round trip (measured from the
        rounds so far) plus the time to place it: place it now."""
        if not acceptable:
            return False
        best = min(acceptable, key=lambda s: s.bid.amount)
        rounds = max(max(len(lane.sent) for lane in self._lanes.values()), 1)
        round_trip = (now - self.started_at) / rounds
        return best.bid.expiry < now + self.policy.min_validity_s + 2 * round_trip

    def _close_early(self, acceptable: list[_Scored[P]]) -> bool:
        """Whether more rounds cannot pay: the supplier holding the best quote has
        stalled (see :func:`_stalled`) and no other supplier is still bargaining below it.
        """
        if not acceptable:
            return False
        best = min(acceptable, key=lambda s: s.bid.amount)
        if not _stalled(best.lane):
            return False
        return not any(
            lane.state is _State.ACTIVE and not _stalled(lane)
            for lane in self._lanes.values()
            if lane is not best.lane
        )

    def _counter(
        self, lane: _Lane[P], opening: int, beat: int | None, elapsed: float
    ) -> tuple[int, str]:
        """The next counter to ``lane`` and a short note on why, for the transcript.

        The first counter is the opening. The second repeats it (one base unit up, so a
        seller that only moves when the buyer makes a new offer, like MiCRO, still moves):
        a supplier that then stops conceding mirrors the buyer (tit-for-tat), so its last
        word depends on the buyer's last move, and the buyer concedes at the reciprocal
        pace up to its limit on the last counter, holding firm longer against one that
        answers each concession with a bigger one (see :func:`_response_ratio`). Any other
        supplier concedes on its own clock; the buyer keeps its urgency's pace and puts
        its limit one round beyond its last counter, so that supplier's final offer (its
        lowest) is taken if it is within the reservation, rather than the buyer offering
        its reservation itself; it matches that supplier's concessions unless their pace
        falls short of the limit by its deadline (see :func:`_falls_short`).
        """
        sent = len(lane.sent)
        limit = self._limit(beat)
        if sent == 0:
            return min(opening, limit), "opening"
        if sent == 1 and lane.horizon >= 3:
            return min(lane.sent[0] + 1, limit), "hold: does the supplier reciprocate?"
        if _reciprocates(lane):
            progress = max(sent / (lane.horizon - 1), elapsed)
            pace = self.policy.reciprocal_exponent
            if pace is None:
                pace = self.policy.urgent_exponent
            ratio = _response_ratio(lane)
            if ratio is not None and ratio > 1:
                # It answers each concession with a bigger one: hold firm longer and concede
                # later in bigger steps, which by the deadline approach its replies in size.
                pace = max(pace / ratio, self.policy.patient_exponent)
            amount = max(target_price(opening, limit, progress, pace), min(lane.sent[-1], limit))
            return amount, "supplier reciprocates"
        progress = max(sent / lane.horizon, elapsed)
        # While the supplier is still coming down by itself, concede at the patient pace
        # whatever the urgency: its quotes are held, so waiting costs nothing; urgency
        # speeds the buyer only against a supplier that waits for it.
        moving = len(lane.offers) >= 2 and _came_down(lane.offers[-2], lane.offers[-1], 0)
        exponent = self.policy.patient_exponent if moving else self._exponent
        amount = max(target_price(opening, limit, progress, exponent), min(lane.sent[-1], limit))
        conceded = lane.offers[-2] - lane.offers[-1] if len(lane.offers) >= 2 else 0
        matching = _concedes_alone(lane) and not _falls_short(lane, limit)
        if amount > lane.sent[-1] + conceded and matching:
            # Opponent model: a supplier conceding on its own clock towards the limit is
            # matched, not outrun; every quote it gives is held, so a counter above its own
            # path only costs.
            return lane.sent[-1] + conceded, "match the supplier's concession"
        return amount, ""

    def _limit(self, beat: int | None) -> int:
        """The most the buyer would counter: its reservation, or a cheaper competing quote."""
        return self.need.reservation if beat is None else min(beat, self.need.reservation)

    def _probe(self, lane: _Lane[P], beat: int | None, now: float) -> int | None:
        """Where AC_next would close on ``lane``'s quote, a counter one base unit under it,
        if that is still a concession within the limit, else ``None`` (close).

        Such a counter is free while the quote binds (the buyer can still place it): the
        supplier takes the lower price or answers, and one that reciprocates answers the
        buyer's concession with one of its own, so it can end below the quote.
        """
        held = lane.best_held(now, self.policy.min_validity_s)
        if held is None or not lane.sent:
            return None
        probe = held.amount - 1
        if probe <= lane.sent[-1] or probe > self._limit(beat):
            return None
        return probe

    def _acceptable(self, now: float) -> list[_Scored[P]]:
        """Per supplier, its best held quote if the buyer could place it right now:
        within the reservation and not about to expire."""
        out: list[_Scored[P]] = []
        for lane in self._lanes.values():
            if lane.state is _State.REFUSED:
                continue
            bid = lane.best_held(now, self.policy.min_validity_s)
            if bid is None or bid.amount > self.need.reservation:
                continue
            out.append(_Scored(lane, bid))
        return out

    def _finish(self, now: float, acceptable: list[_Scored[P]]) -> Finished[P]:
        need = self.need
        for scored in acceptable:
            scored.utility = utility(
                self.policy,
                amount=scored.bid.amount,
                reservation=need.reservation,
                deliver_by=scored.bid.deliver_by,
                deadline=need.deliver_by,
                now=now,
                reliability=scored.lane.reliability,
                urgency=need.urgency,
            )
        ranked = sorted(acceptable, key=lambda s: (-s.utility, s.bid.amount, s.lane.name))
        best = ranked[0] if ranked else None
        if best is not None:
            self._events.append(
                Event(
                    at=now,
                    kind=EventKind.ACCEPT,
                    supplier=best.lane.name,
                    round=len(best.lane.sent),
                    amount=best.bid.amount,
                    deliver_by=best.bid.deliver_by,
                )
            )
        scores = {s.lane.name: s.utility for s in acceptable}
        standings = [self._standing(lane, best, scores, now) for lane in self._lanes.values()]
        decision = Decision(
            winner=None if best is None else best.lane.name,
            amount=None if best is None else best.bid.amount,
            deliver_by=None if best is None else best.bid.deliver_by,
            utility=None if best is None else best.utility,
            reservation=need.reservation,
            standings=standings,
            summary=_summary(best, standings, need),
        )
        transcript = Transcript(
            started_at=self.started_at,
            finished_at=now,
            reservation=need.reservation,
            deliver_by=need.deliver_by,
            urgency=need.urgency,
            rounds=max((len(lane.sent) for lane in self._lanes.values()), default=0),
            events=self._events,
            decision=decision,
        )
        return Finished(
            winner=None if best is None else best.lane.name,
            bid=None if best is None else best.bid,
            transcript=transcript,
        )

    def _standing(
        self, lane: _Lane[P], best: _Scored[P] | None, scores: dict[str, float], now: float
    ) -> Standing:
        bid = lane.best_held(now, self.policy.min_validity_s) or lane.bid
        reason = lane.refusal
        if lane.state is _State.REFUSED:
            status = SupplierStatus.REFUSED
        elif bid is None:
            status = (
                SupplierStatus.DECLINED
                if lane.state is _State.DECLINED
                else SupplierStatus.NO_OFFER
            )
        elif best is not None and best.lane is lane:
            status = SupplierStatus.WON
        elif bid.amount > self.need.reservation:
            status, reason = SupplierStatus.OVER_RESERVATION, Reason.OVER_RESERVATION
        elif lane.name not in scores:
            status, reason = SupplierStatus.REFUSED, Reason.EXPIRED
        else:
            status = SupplierStatus.OUTBID
        return Standing(
            supplier=lane.name,
            status=status,
            amount=None if bid is None else bid.amount,
            deliver_by=None if bid is None else bid.deliver_by,
            reliability=lane.reliability,
            utility=scores.get(lane.name),
            reason=reason,
        )


def _summary(best: _Scored[P] | None, standings: list[Standing], need: Need) -> str:
    """One human sentence for the dashboard: the winner and what it beat."""
    decimals = need.token_decimals
    others = []
    for s in standings:
        if best is not None and s.supplier == best.lane.name:
            continue
        what = _money(s.amount, decimals) if s.amount is not None else "no offer"
        why = s.status.value if s.reason is None else f"{s.status.value}: {s.reason.value}"
        others.append(f"{s.supplier} {what} ({why})")
    against = "; against " + ", ".join(others) if others else "; no alternatives"
    reservation = _money(need.reservation, decimals)
    if best is None:
        return f"no deal within reservation {reservation}" + against
    delivery = datetime.fromtimestamp(best.bid.deliver_by, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"bought from {best.lane.name} at {_money(best.bid.amount, decimals)} "
        f"(reservation {reservation}), delivery by {delivery}, "
        f"reliability {best.lane.reliability:.2f}, utility {best.utility:.3f}" + against
    )


def _money(amount: int, decimals: int) -> str:
    """Base units as token units, exactly: 8_400_000 with 6 decimals is ``8.40``."""
    if decimals == 0:
        return str(amount)
    whole, frac = divmod(amount, 10**decimals)
    digits = f"{frac:0{decimals}d}".rstrip("0").ljust(min(2, decimals), "0")
    return f"{whole}.{digits}"


def _stalled(lane: _Lane[P]) -> bool:
    """Opponent model: the supplier's last three offers (a least-squares line through
    them) did not come down while the buyer's counters went up, so it answers
    concessions with none and its later offers are not expected to beat its best."""
    offers, sent = lane.offers, lane.sent
    if len(offers) < 3 or len(sent) < 2 or sent[-1] <= sent[-3 if len(sent) >= 3 else 0]:
        return False
    last = offers[-3:]
    slope = (last[2] - last[0]) / 2  # least-squares slope of three equally spaced points
    return slope >= 0


def _came_down(before: int, after: int, by: int) -> bool:
    """Whether a supplier's price fell by more than ``by`` plus rounding (a ppm of the
    price and 100 base units: splitting a total over item lines moves it by a few units)."""
    return before - after > by + after // 1_000_000 + 100


def _concedes_alone(lane: _Lane[P]) -> bool:
    """True if the supplier ever conceded more than the buyer's move it answered (beyond
    a ppm and 100 base units of rounding): it concedes on its own clock (time-dependent),
    not only in reply to the buyer (tit-for-tat), so the buyer matches it from then on."""
    sent, offers = lane.sent, lane.offers
    for i in range(1, min(len(sent), len(offers) - 1)):
        ours = sent[i] - sent[i - 1]
        if _came_down(offers[i], offers[i + 1], max(ours, 0)):
            return True
    return False


def _response_ratio(lane: _Lane[P]) -> float | None:
    """Opponent model of a reciprocating supplier: how much it conceded per unit of the
    buyer's latest concession it answered (beyond a ppm and 100 base units of rounding);
    ``None`` before it answered one."""
    sent, offers = lane.sent, lane.offers
    for i in range(min(len(sent), len(offers) - 1) - 1, 0, -1):
        ours = sent[i] - sent[i - 1]
        if ours > sent[i] // 1_000_000 + 100:
            return (offers[i] - offers[i + 1]) / ours
    return None


def _falls_short(lane: _Lane[P], limit: int) -> bool:
    """Opponent model of a supplier conceding on its own clock: if its concessions are not
    speeding up (the last no bigger than its average so far), its last pace run to its
    deadline leaves it above ``limit``; matching such a supplier never reaches a deal.
    An accelerating supplier (Boulware, aspiration) is not judged by its early pace."""
    offers = lane.offers
    if len(offers) < 3:
        return False
    last = offers[-2] - offers[-1]
    average = (offers[0] - offers[-1]) / (len(offers) - 1)
    if last <= 0 or last > average:
        return False
    return offers[-1] - last * (lane.horizon - len(lane.sent)) > limit


def _reciprocates(lane: _Lane[P]) -> bool:
    """True if the supplier conceded after the buyer's first counter but not after its hold."""
    offers = lane.offers
    if len(lane.sent) < 2 or len(offers) < 3 or lane.sent[1] - lane.sent[0] > 1:
        return False
    return _came_down(offers[0], offers[1], 0) and not _came_down(offers[1], offers[2], 0)
