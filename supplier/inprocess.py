"""The reference supplier's desk without HTTP, signatures or storage.

For the negotiation benchmark and the simulation: the same pricing
(``next_total``, ``split_units``) and the same rule for a final offer
(``is_final``) as ``supplier.desk.Desk``, thousands of times a second.
"""

from __future__ import annotations

from device.negotiation.inprocess import Quoted
from supplier.pricing import (
    NegotiationState,
    PricedOrder,
    Strategy,
    is_final,
    next_total,
    offer_lines,
    split_units,
)
from supplier.protocol import OfferLine

QUOTE_TTL_S = 300
SESSION_TTL_S = 900


class InProcessDesk:
    """One RFQ at one supplier; answers ``open`` and ``counter`` like the HTTP desk."""

    def __init__(
        self,
        name: str,
        strategy: Strategy,
        order: PricedOrder,
        *,
        max_rounds: int,
        deliver_by: int,
        opened_at: float,
        reliability: float = 0.95,
    ) -> None:
        self.name = name
        self.reliability = reliability
        self.max_rounds = max_rounds
        self._strategy = strategy
        self._order = order
        self._deliver_by = deliver_by
        self._opened_at = opened_at
        self._offers: list[int] = []
        self._counters: list[int] = []
        self._closed = False
        self._units: list[int] = []

    @property
    def lines(self) -> list[OfferLine]:
        """The last offer's lines (built when asked: only the winner's are read)."""
        return offer_lines(self._order, self._units)

    @property
    def list_total(self) -> int:
        return self._order.list_total

    def open(self, now: float) -> Quoted | None:
        return self._offer(None, now, buyer_final=False)

    def counter(self, price: int, final: bool, now: float) -> Quoted | None:
        if self._closed:
            return None
        self._counters.append(price)
        return self._offer(price, now, buyer_final=final)

    def _offer(self, counter: int | None, now: float, *, buyer_final: bool) -> Quoted:
        state = NegotiationState(
            round=len(self._offers),
            max_rounds=self.max_rounds,
            elapsed=(now - self._opened_at) / SESSION_TTL_S,
            list_total=self._order.list_total,
            floor_total=self._order.floor_total,
            offers=tuple(self._offers),
            counters=tuple(self._counters),
            target_price=None,
        )
        self._units = split_units(self._order, next_total(self._strategy, state, counter))
        amount = sum(
            line.quantity * unit for line, unit in zip(self._order.lines, self._units, strict=True)
        )
        final = is_final(self._strategy, state, amount, counter, buyer_final=buyer_final)
        self._offers.append(amount)
        self._closed = final
        return Quoted(amount, self._deliver_by, int(now) + QUOTE_TTL_S, final)


class StepClock:
    """Negotiation time: every reading is one LAN round trip after the previous one."""

    def __init__(self, start: float, step_s: float = 0.1) -> None:
        self.now = start
        self.step_s = step_s

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now
