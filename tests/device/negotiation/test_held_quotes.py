"""Every valid signed quote binds its supplier until it expires: the buyer keeps them all and
ends by placing the best one within its reservation, whatever the suppliers do later."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from device.negotiation import Buyer, BuyerPolicy, EventKind, HttpLimits, check_quote
from device.negotiation.inprocess import Quoted, negotiate_in_process
from tests.device.negotiation.conftest import make_need, reference_supplier
from tests.device.negotiation.hostile import hostile_supplier
from tests.device.negotiation.test_core import NOW, Clock, Scripted, counters_to

CHEAP = {"cola": (300_000, 200_000), "chips": (400_000, 300_000)}
UNIT = 100_000
"""The issue's prices are in units of 0.10 USDC: 79 is 7_900_000 base units."""


def test_the_issue_21_script_ends_in_a_deal_at_79() -> None:
    """Floor 65, reservation 80, urgency 0.19, 10 rounds: at 79 the buyer counters, at 83
    it answers again (no ``price_raised`` refusal), and it ends by placing the 79 quote."""
    prices = [p * UNIT for p in (100, 100, 100, 100, 100, 99, 95, 79, 83)]
    seller = Scripted("seller", prices, max_rounds=10)
    need = make_need(reservation=80 * UNIT, urgency=0.19)
    result = negotiate_in_process(need, [seller], BuyerPolicy(), clock=Clock())
    assert result.bid is not None, result.transcript.decision.summary
    assert result.bid.amount == 79 * UNIT
    assert result.winner == "seller"
    assert not [e for e in result.transcript.events if e.kind is EventKind.REJECTION]
    # The rise to 83 was answered with a counter, not a refusal.
    assert len(counters_to(result.transcript, "seller")) == len(prices) - 1
    assert result.transcript.decision.amount == 79 * UNIT


def test_a_supplier_that_raises_is_answered_and_its_earlier_quote_beats_the_rest() -> None:
    raiser = Scripted("raiser", [9_000_000, 7_000_000, 6_500_000, 9_500_000], max_rounds=4)
    honest = Scripted("honest", [9_000_000, 8_800_000, 8_600_000, 8_400_000], max_rounds=4)
    need = make_need(reservation=10_000_000, urgency=0.0)
    result = negotiate_in_process(need, [raiser, honest], BuyerPolicy(), clock=Clock())
    assert not [e for e in result.transcript.events if e.kind is EventKind.REJECTION]
    assert result.winner == "raiser"
    assert result.bid is not None
    assert result.bid.amount == 6_500_000
    raised = [e for e in result.transcript.events if "raised from 6500000" in e.detail]
    assert [e.amount for e in raised] == [9_500_000]


@dataclass
class Drawn:
    """A supplier answering with a drawn price sequence; each quote lives ``ttl`` seconds."""

    name: str
    prices: list[int]
    ttls: list[int]
    max_rounds: int
    reliability: float = 0.9
    answered: int = 0
    quotes: list[Quoted] = field(default_factory=list)

    def open(self, now: float) -> Quoted | None:
        return self._next(now)

    def counter(self, price: int, final: bool, now: float) -> Quoted | None:
        return self._next(now)

    def _next(self, now: float) -> Quoted | None:
        if self.answered >= len(self.prices):
            return None
        i = self.answered
        self.answered += 1
        quote = Quoted(
            self.prices[i], int(NOW) + 86400, int(now) + self.ttls[i], i == len(self.prices) - 1
        )
        self.quotes.append(quote)
        return quote


POLICY = BuyerPolicy(min_validity_s=5)


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    sellers=st.integers(1, 3),
    reservation=st.integers(50, 150),
    urgency=st.floats(0.0, 1.0),
)
def test_never_walks_away_from_a_held_quote_nor_pays_above_or_places_a_stale_one(
    data: st.DataObject, sellers: int, reservation: int, urgency: float
) -> None:
    counterparts = []
    for n in range(sellers):
        length = data.draw(st.integers(1, 12), label=f"length{n}")
        prices = data.draw(st.lists(st.integers(40, 200), min_size=length, max_size=length))
        ttls = data.draw(
            st.lists(st.sampled_from([6, 8, 30, 600]), min_size=length, max_size=length)
        )
        max_rounds = data.draw(st.integers(length, 16), label=f"rounds{n}")
        counterparts.append(Drawn(f"s{n}", [p * UNIT for p in prices], ttls, max_rounds))
    need = make_need(reservation=reservation * UNIT, urgency=urgency)
    clock = Clock(step=1.0)
    result = negotiate_in_process(need, counterparts, POLICY, clock=clock)
    end = result.transcript.finished_at
    valid_within = [
        q
        for c in counterparts
        for q in c.quotes
        if q.amount <= need.reservation and q.expiry >= end + POLICY.min_validity_s
    ]
    if valid_within:
        assert result.bid is not None, result.transcript.decision.summary
    if result.bid is None:
        return
    placed = result.bid.payload
    assert placed.amount <= need.reservation
    assert placed.expiry >= end + POLICY.min_validity_s  # not expired when placed
    winner = next(c for c in counterparts if c.name == result.winner)
    assert any(q is placed for q in winner.quotes)
    # Not superseded: no still-valid quote of the same supplier is cheaper, and none of
    # any supplier is cheaper by more than the utility's reliability/delivery weights allow.
    still_valid = [q for q in winner.quotes if q.expiry >= end + POLICY.min_validity_s]
    assert placed.amount == min(q.amount for q in still_valid)
    if valid_within:
        assert placed.amount <= min(q.amount for q in valid_within) + need.reservation // 10


def test_over_http_a_raised_last_quote_is_answered_and_the_earlier_signed_one_placed(
    tmp_path: Path, fast_limits: HttpLimits
) -> None:
    """Real HTTP: the cheaper supplier raises on its final round; its earlier quote (which
    passes every check) is what the buyer returns to be placed."""
    need = make_need(reservation=30_000_000, urgency=0.2)
    with (
        hostile_supplier(
            tmp_path, "raises_last_round", strategy={"kind": "boulware", "beta": 0.2}, **CHEAP
        ) as raiser,
        reference_supplier(tmp_path, "honest", strategy={"kind": "fixed"}, max_rounds=4) as honest,
    ):
        result = asyncio.run(Buyer(limits=fast_limits).negotiate(need, [raiser, honest]))
    assert not [e for e in result.transcript.events if e.kind is EventKind.REJECTION]
    offers = [
        e
        for e in result.transcript.events
        if e.kind is EventKind.OFFER and e.supplier == "raises_last_round"
    ]
    assert "raised from" in offers[-1].detail
    assert result.supplier == raiser
    assert result.offer is not None
    assert offers[-1].amount is not None
    assert result.offer.amount < offers[-1].amount
    assert result.offer.amount == min(e.amount for e in offers if e.amount is not None)
    assert result.offer.round < offers[-1].round
    refusal = check_quote(
        need,
        raiser.signing_address,
        result.offer.to_quote(),
        result.offer.signature_bytes(),
        result.offer.item_lines(),
        chain_id=result.offer.chain_id,
        now=int(time.time()),
        min_validity_s=BuyerPolicy().min_validity_s,
    )
    assert refusal is None
