"""Sellers from the automated-negotiation literature, written from NegMAS's formulas.

Used by ``benchmarks/negotiation.py --literature``: NegMAS itself is not needed (it
would pull pandas, scipy, scikit-learn, pyarrow and plotly into the benchmark venv),
so these follow its definitions on a single price issue, the seller's utility of a
price ``p`` being ``(p - floor) / (list - floor)``:

* time-based (``TimeBasedConcedingNegotiator`` with ``PolyAspiration``): the aspiration
  at relative time ``t`` is ``1 - t**e``; Boulware ``e = 4``, Linear ``e = 1``,
  Conceder ``e = 0.25``; it offers the price at its aspiration and accepts a counter
  whose utility reaches it;
* aspiration (``ExpAspiration`` "boulware"): ``(exp((1 - t)**0.125) - 1) / (e - 1)``;
* naive tit-for-tat (``NaiveTitForTatNegotiator``): concedes what the buyer conceded
  in its last move, in its own utility, never below its floor;
* MiCRO (de Jonge 2022): on a grid of 1% of its list price, concedes one step only
  when the buyer has made at least as many distinct counters as it made offers.

Time follows NegMAS's stepped alternating offers: the seller's ``k``-th of ``n`` offers
is at ``t = 2k / (2n - 1)`` and the buyer's ``k``-th counter at ``(2k + 1) / (2n - 1)``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from device.negotiation.inprocess import Quoted

QUOTE_TTL_S = 3600
TIME_BASED = {"boulware": 4.0, "linear": 1.0, "conceder": 0.25}
KINDS = (*TIME_BASED, "aspiration", "tit_for_tat", "micro")


def seller_time(k: int, n: int) -> float:
    return min(2 * k / (2 * n - 1), 1.0)


def buyer_time(k: int, n: int) -> float:
    return min((2 * k + 1) / (2 * n - 1), 1.0)


def aspiration(kind: str, t: float) -> float:
    """The seller's aspiration (utility in [0, 1]) at relative time ``t``."""
    if kind in TIME_BASED:
        return 1.0 - float(t ** TIME_BASED[kind])
    return (math.exp((1.0 - t) ** 0.125) - 1.0) / (math.e - 1.0)


@dataclass
class LiteratureSeller:
    """One seller of ``kind`` with list price ``top`` and floor ``floor``, ``max_rounds`` offers."""

    name: str
    kind: str
    top: int
    floor: int
    max_rounds: int
    deliver_by: int
    reliability: float = 0.95
    offers: list[int] = field(default_factory=list)
    counters: list[int] = field(default_factory=list)
    closed: bool = False

    def price_at(self, utility: float) -> int:
        return self.floor + math.ceil((self.top - self.floor) * max(utility, 0.0))

    def lowest(self) -> int:
        """The lowest price this seller ever agrees to in ``max_rounds`` offers."""
        if self.kind in TIME_BASED or self.kind == "aspiration":
            return self.price_at(
                aspiration(self.kind, seller_time(self.max_rounds - 1, self.max_rounds))
            )
        if self.kind == "micro":
            step = max(self.top // 100, 1)
            return max(self.floor, self.top - step * (self.max_rounds - 1))
        return self.floor

    def _planned(self) -> int:
        """The seller's next own offer (what a counter must reach to be accepted)."""
        k = len(self.offers)
        if self.kind in TIME_BASED or self.kind == "aspiration":
            return self.price_at(aspiration(self.kind, seller_time(k, self.max_rounds)))
        if not self.offers:
            return self.top
        last = self.offers[-1]
        if self.kind == "tit_for_tat":
            if len(self.counters) < 2:
                return last
            conceded = self.counters[-1] - self.counters[-2]
            return min(max(self.floor, last - conceded), self.top)
        # MiCRO
        step = max(self.top // 100, 1)
        mine = len(set(self.offers))
        theirs = len(set(self.counters))
        if theirs >= mine:
            return max(self.floor, min(self.offers) - step)
        return min(self.offers)

    def _quote(self, amount: int, now: float) -> Quoted:
        self.offers.append(amount)
        final = len(self.offers) >= self.max_rounds or amount == (
            self.counters[-1] if self.counters else -1
        )
        self.closed = final
        return Quoted(amount, self.deliver_by, int(now) + QUOTE_TTL_S, final)

    def open(self, now: float) -> Quoted | None:
        return self._quote(self._planned(), now)

    def counter(self, price: int, final: bool, now: float) -> Quoted | None:
        if self.closed:
            return None
        self.counters.append(price)
        planned = self._planned()
        if price >= planned and price >= self.floor:
            return self._quote(price, now)  # accepts: quotes the buyer's price
        return self._quote(planned, now)


def plain_buyer(
    sellers: list[LiteratureSeller], reservation: int, bottom: int, curve: str
) -> int | None:
    """NegMAS's time-based buyer (``curve``: "boulware" = ``PolyAspiration`` e = 4, or
    "aspiration" = ``ExpAspiration``) against each seller on its own; its utility of a
    price is ``(reservation - p) / (reservation - bottom)``. It holds no quotes: it
    accepts the current offer if it reaches its aspiration, and takes the cheapest of
    the agreements (generous to it: each would be a separate order)."""
    deals: list[int] = []
    for seller in sellers:
        n = seller.max_rounds
        offer = seller.open(0.0)
        for k in range(n):
            if offer is None:
                break
            level = aspiration(curve, buyer_time(k, n))
            mine = reservation - math.floor((reservation - bottom) * level)
            if offer.amount <= mine:
                deals.append(offer.amount)
                break
            if offer.final or k == n - 1:
                break
            answer = seller.counter(mine, k == n - 2, 0.0)
            if answer is not None and answer.amount == mine:
                deals.append(mine)
                break
            offer = answer
    return min(deals) if deals else None


@dataclass(frozen=True, slots=True)
class LitCase:
    """Sellers (name, kind, list, floor), the buyer's reservation and urgency, the deadline."""

    sellers: tuple[tuple[str, str, int, int], ...]
    reservation: int
    urgency: float
    rounds: int

    @property
    def bottom(self) -> int:
        """The low end of the price issue: below every floor (the buyer's best outcome)."""
        return min(top for _, _, top, _ in self.sellers) * 4 // 10

    @property
    def deal_zone(self) -> bool:
        return self.reservation >= min(floor for _, _, _, floor in self.sellers)

    def build(self, deliver_by: int) -> list[LiteratureSeller]:
        return [
            LiteratureSeller(name, kind, top, floor, self.rounds, deliver_by)
            for name, kind, top, floor in self.sellers
        ]

    def reachable(self, deliver_by: int) -> bool:
        """Some seller's own strategy concedes to within the reservation by its deadline."""
        return any(s.lowest() <= self.reservation for s in self.build(deliver_by))


def draw_case(rng: random.Random, kinds: list[str], rounds: int) -> LitCase:
    """List prices around one base, floors 50-90% of list, and a reservation drawn from
    25% of the cheapest seller's spread below its floor to its list price (80% in zone)."""
    base = rng.randint(1_000_000, 10_000_000)
    sellers = []
    for i, kind in enumerate(kinds):
        top = base * rng.randint(90, 120) // 100
        floor = top * rng.randint(50, 90) // 100
        sellers.append((f"{kind}-{i}", kind, top, floor))
    _, _, top, floor = min(sellers, key=lambda s: s[3])
    reservation = floor + int((top - floor) * rng.uniform(-0.25, 1.0))
    return LitCase(tuple(sellers), max(1, reservation), rng.random(), rounds)
