"""Against a seller that mirrors the buyer's concessions (NegMAS's naive tit-for-tat answers
each unit the buyer bids above its floor with more than a unit of its own), the buyer ends
below the price where the two would meet by even steps, and never above its reservation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from device.negotiation import BuyerPolicy
from device.negotiation.inprocess import Quoted, negotiate_in_process
from tests.device.negotiation.conftest import make_need
from tests.device.negotiation.test_core import NOW, Clock

TOP = 10_000_000
FLOOR = 7_000_000


@dataclass
class Mirror:
    """Its price falls ``ratio`` units per unit the buyer's counter stands above ``FLOOR``,
    like NegMAS's ``NaiveTitForTatNegotiator``: a token concession first, then a mirror of
    the buyer's level; it takes a counter halfway between its floor and its list price."""

    ratio: float
    max_rounds: int
    name: str = "mirror"
    reliability: float = 0.9
    answered: int = 0

    def open(self, now: float) -> Quoted | None:
        return self._quote(TOP, now)

    def counter(self, price: int, final: bool, now: float) -> Quoted | None:
        if price >= (TOP + FLOOR) // 2:
            return self._quote(price, now, final=True)
        if self.answered == 1:
            return self._quote(TOP - 10_000, now)
        return self._quote(TOP - int(self.ratio * max(price - FLOOR, 0)), now)

    def _quote(self, amount: int, now: float, *, final: bool = False) -> Quoted:
        self.answered += 1
        last = final or self.answered >= self.max_rounds
        return Quoted(amount, int(NOW) + 86400, int(now) + 3600, last)


@pytest.mark.parametrize("rounds", [10, 16, 20])
def test_against_a_two_for_one_mirror_the_buyer_ends_below_where_even_steps_meet(
    rounds: int,
) -> None:
    """Where the seller's price and the buyer's counter would meet is
    ``(TOP + 2 * FLOOR) / 3`` = 8.0 USDC; conceding in even steps and closing on the first
    quote no dearer than its next counter, the buyer paid 8.05-8.56 USDC here. Holding firm
    longer against a seller that answers with more than it gets, and countering just under
    a quote it would take, it pays less."""
    meet = (TOP + 2 * FLOOR) // 3
    need = make_need(reservation=9_500_000, urgency=0.5)
    result = negotiate_in_process(need, [Mirror(2.0, rounds)], BuyerPolicy(), clock=Clock())
    assert result.bid is not None, result.transcript.decision.summary
    assert result.bid.amount < meet
    assert result.bid.amount <= need.reservation


@pytest.mark.parametrize("ratio", [1.2, 1.5, 2.0, 3.0, 4.0])
@pytest.mark.parametrize("rounds", [6, 10, 20, 50])
def test_against_any_mirror_the_buyer_agrees_within_its_reservation(
    ratio: float, rounds: int
) -> None:
    need = make_need(reservation=9_000_000, urgency=0.3)
    result = negotiate_in_process(need, [Mirror(ratio, rounds)], BuyerPolicy(), clock=Clock())
    assert result.bid is not None, result.transcript.decision.summary
    assert result.bid.amount <= need.reservation


def test_where_it_would_take_a_quote_it_first_counters_one_unit_under_it() -> None:
    """The quote binds, so a counter under it costs nothing: here the mirror answers it with
    a price far below both (16 rounds, where that moment comes)."""
    need = make_need(reservation=9_500_000, urgency=0.5)
    result = negotiate_in_process(need, [Mirror(2.0, 16)], BuyerPolicy(), clock=Clock())
    events = result.transcript.events
    probes = [i for i, e in enumerate(events) if "just under its quote" in e.detail]
    assert len(probes) == 1
    quote, probe = events[probes[0] - 1], events[probes[0]]
    assert quote.amount is not None
    assert probe.amount == quote.amount - 1
    assert result.bid is not None
    assert result.bid.amount < probe.amount
