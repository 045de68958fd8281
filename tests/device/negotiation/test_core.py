"""The bargaining logic in-process: limits, concession pace, alternatives, utility, transcript."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.negotiation import STRATEGIES
from device.negotiation import (
    BuyerPolicy,
    EventKind,
    SupplierStatus,
    Transcript,
)
from device.negotiation.inprocess import Quoted, negotiate_in_process
from supplier.inprocess import InProcessDesk
from supplier.pricing import PricedLine, PricedOrder
from tests.device.negotiation.conftest import COLA, make_need

NOW = float(int(time.time()))
POLICY = BuyerPolicy()


class Clock:
    """Simulated time: a tenth of a second per reading (a LAN round trip)."""

    def __init__(self, start: float = NOW, step: float = 0.1) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@dataclass
class Scripted:
    """A supplier that answers with a fixed list of prices, then repeats its last one as final."""

    name: str
    prices: list[int]
    reliability: float = 0.9
    deliver_in_s: int = 86400
    max_rounds: int = 8
    answered: int = 0
    counters: list[int] = field(default_factory=list)

    def open(self, now: float) -> Quoted | None:
        return self._next(now)

    def counter(self, price: int, final: bool, now: float) -> Quoted | None:
        self.counters.append(price)
        return self._next(now)

    def _next(self, now: float) -> Quoted | None:
        if self.answered >= len(self.prices):
            return None
        price = self.prices[self.answered]
        self.answered += 1
        final = self.answered == len(self.prices)
        return Quoted(price, int(NOW) + self.deliver_in_s, int(now) + 300, final)


def priced(list_total: int, floor_total: int) -> PricedOrder:
    """A one-line order of 10 colas with these totals."""
    return PricedOrder((PricedLine(COLA, 10, list_total // 10, floor_total // 10),))


def strategy_supplier(
    kind: str, list_total: int, floor_total: int, max_rounds: int = 8
) -> InProcessDesk:
    need = make_need()
    return InProcessDesk(
        kind,
        STRATEGIES[kind](),
        priced(list_total, floor_total),
        max_rounds=max_rounds,
        deliver_by=need.deliver_by,
        opened_at=NOW,
    )


def counters_to(transcript: Transcript, supplier: str) -> list[int]:
    return [
        e.amount
        for e in transcript.events
        if e.kind is EventKind.COUNTER and e.supplier == supplier and e.amount is not None
    ]


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(sorted(STRATEGIES)),
    list_unit=st.integers(100_000, 5_000_000),
    floor_pct=st.integers(40, 100),
    reservation_pct=st.integers(20, 160),
    urgency=st.floats(0.0, 1.0),
    max_rounds=st.integers(1, 16),
)
def test_never_pays_above_reservation_and_closes_time_dependent_deals(
    kind: str, list_unit: int, floor_pct: int, reservation_pct: int, urgency: float, max_rounds: int
) -> None:
    list_total = list_unit * 10
    floor_total = list_total * floor_pct // 100
    reservation = max(1, list_total * reservation_pct // 100)
    need = make_need(reservation=reservation, urgency=urgency)
    supplier = strategy_supplier(kind, list_total, floor_total, max_rounds)
    result = negotiate_in_process(need, [supplier], POLICY, clock=Clock())
    if result.bid is not None:
        assert result.bid.amount <= reservation
        assert result.transcript.decision.amount == result.bid.amount
    lowest = list_total if kind == "fixed" else floor_total
    if kind != "tit_for_tat" and reservation >= lowest + 10:
        assert result.bid is not None, result.transcript.decision.summary


def test_urgent_buyer_concedes_faster_only_where_conceding_buys_something() -> None:
    """Against a supplier that does not move, urgency speeds the buyer's concession; against
    one that concedes on its own clock, the buyer matches it at any urgency and, holding
    every quote, ends with its last (lowest) offer."""
    counters: dict[float, list[int]] = {}
    for urgency in (0.0, 1.0):
        stubborn = Scripted("stubborn", [9_500_000] * 9, max_rounds=10)
        need = make_need(reservation=9_000_000, urgency=urgency)
        result = negotiate_in_process(need, [stubborn], POLICY, clock=Clock())
        assert result.bid is None
        counters[urgency] = counters_to(result.transcript, "stubborn")
    patient, urgent = counters[0.0], counters[1.0]
    assert patient[0] == urgent[0]  # both open at the same anchor
    assert all(u >= p for u, p in zip(urgent, patient, strict=True))
    assert urgent[3] > patient[3]
    assert max(urgent) <= 9_000_000
    for urgency in (0.0, 1.0):
        supplier = strategy_supplier("boulware", 10_000_000, 6_000_000, max_rounds=10)
        need = make_need(reservation=9_000_000, urgency=urgency)
        result = negotiate_in_process(need, [supplier], POLICY, clock=Clock())
        assert result.bid is not None
        assert result.bid.amount == 6_000_000
        details = [e.detail for e in result.transcript.events if e.kind is EventKind.COUNTER]
        assert "match the supplier's concession" in details


def test_best_alternative_caps_every_counter_and_is_named() -> None:
    fixed = Scripted("fixed", [8_000_000])  # a firm, final offer
    tough = strategy_supplier("boulware", 12_000_000, 5_000_000, max_rounds=8)
    need = make_need(reservation=10_000_000, urgency=1.0)
    result = negotiate_in_process(need, [fixed, tough], POLICY, clock=Clock())
    to_tough = counters_to(result.transcript, "boulware")
    assert to_tough
    assert max(to_tough) <= 8_000_000
    assert all(
        "beat 8000000" in e.detail
        for e in result.transcript.events
        if e.kind is EventKind.COUNTER and e.supplier == "boulware"
    )
    assert result.bid is not None
    assert result.bid.amount <= 8_000_000


def test_reliability_and_delivery_decide_between_close_prices() -> None:
    need = make_need(reservation=10_000_000)
    flaky = Scripted("flaky", [8_000_000], reliability=0.4)
    steady = Scripted("steady", [8_100_000], reliability=0.98)
    result = negotiate_in_process(need, [flaky, steady], POLICY, clock=Clock())
    assert result.winner == "steady"
    # A much lower price still beats reliability...
    cheap = Scripted("cheap", [5_000_000], reliability=0.8)
    steady = Scripted("steady", [8_100_000], reliability=0.98)
    assert negotiate_in_process(need, [cheap, steady], POLICY, clock=Clock()).winner == "cheap"
    # ...and at the same price, the earlier delivery wins.
    late = Scripted("late", [8_000_000], deliver_in_s=2 * 86400)
    early = Scripted("early", [8_000_000], deliver_in_s=3600)
    assert negotiate_in_process(need, [late, early], POLICY, clock=Clock()).winner == "early"


def test_over_reservation_everywhere_means_no_deal_with_reasons() -> None:
    need = make_need(reservation=5_000_000)
    dear = Scripted("dear", [9_000_000])
    stubborn = strategy_supplier("fixed", 7_000_000, 7_000_000)
    result = negotiate_in_process(need, [dear, stubborn], POLICY, clock=Clock())
    assert result.bid is None
    assert result.winner is None
    decision = result.transcript.decision
    assert decision.winner is None
    assert {s.status for s in decision.standings} == {SupplierStatus.OVER_RESERVATION}
    assert decision.summary.startswith("no deal within reservation 5.00; against dear 9.00")


def test_time_budget_ends_the_negotiation_with_the_best_offer_so_far() -> None:
    need = make_need(reservation=10_000_000)
    supplier = strategy_supplier("boulware", 9_000_000, 5_000_000, max_rounds=16)
    slow_clock = Clock(step=POLICY.time_budget_s / 4)
    result = negotiate_in_process(need, [supplier], POLICY, clock=slow_clock)
    assert result.transcript.rounds < 15
    assert result.bid is not None
    assert result.bid.amount <= 9_000_000


def test_reciprocating_supplier_is_detected_and_a_thin_deal_zone_still_closes() -> None:
    need = make_need(reservation=6_100_000, urgency=0.0)
    tft = strategy_supplier("tit_for_tat", 10_000_000, 6_000_000, max_rounds=8)
    result = negotiate_in_process(need, [tft], POLICY, clock=Clock())
    details = [e.detail for e in result.transcript.events if e.kind is EventKind.COUNTER]
    assert details[0] == "opening"
    assert details[1].startswith("hold")
    assert "supplier reciprocates" in details[2:]
    assert result.bid is not None
    assert result.bid.amount <= 6_100_000
    # A time-dependent supplier keeps conceding after the hold and is not taken for one.
    boulware = strategy_supplier("boulware", 10_000_000, 6_000_000, max_rounds=8)
    result = negotiate_in_process(need, [boulware], POLICY, clock=Clock())
    assert all("reciprocates" not in e.detail for e in result.transcript.events)
    assert result.bid is not None
    assert result.bid.amount <= 6_100_000


def test_transcript_round_trips_through_json_and_explains_the_choice() -> None:
    need = make_need(reservation=10_000_000)
    a = Scripted("a", [9_500_000, 9_000_000, 8_000_000])
    b = Scripted("b", [9_900_000, 9_800_000, 9_700_000])
    result = negotiate_in_process(need, [a, b], POLICY, clock=Clock())
    transcript = result.transcript
    assert Transcript.model_validate_json(transcript.model_dump_json()) == transcript
    kinds = [e.kind for e in transcript.events]
    assert kinds.count(EventKind.RFQ) == 2
    assert kinds[-1] is EventKind.ACCEPT
    assert transcript.decision.winner == "a"
    assert transcript.decision.amount == 8_000_000
    assert transcript.decision.summary.startswith("bought from a at 8.00 (reservation 10.00)")
    assert "b 9.70 (outbid)" in transcript.decision.summary
    assert [e.at for e in transcript.events] == sorted(e.at for e in transcript.events)


def test_the_transcript_holds_exactly_the_counters_that_were_sent() -> None:
    need = make_need(reservation=10_000_000, urgency=1.0)
    slow = Scripted("slow", [9_900_000, 9_800_000, 9_700_000, 9_600_000])
    quick = Scripted("quick", [9_500_000, 9_000_000, 3_000_000, 2_000_000])
    result = negotiate_in_process(need, [slow, quick], POLICY, clock=Clock())
    assert result.winner == "quick"
    for supplier in (slow, quick):
        assert counters_to(result.transcript, supplier.name) == supplier.counters
