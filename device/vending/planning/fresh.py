"""Fresh items: stock by age, sold first in first out, ordered every day; solved exactly.

Shared by the planner (what to order for a slot whose goods keep a few days,
given its stock by age) and the simulation's ceiling without foresight (the most
any policy can expect to earn on such a slot). Dynamic programming over the stock
by days left is exact but grows as ``capacity ** (life - 1)``: it is used for
shelf lives up to ``FRESH_DAYS`` and slots up to ``MAX_STATES`` states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import numpy as np
import numpy.typing as npt

FRESH_DAYS = 4  # longer shelf lives make the stock-by-age state too large to solve exactly
MAX_STATES = 2_000
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class FreshSlotProblem:
    """Stock by days left, ordered each midnight with no lead time, sold first in first out.

    A state is the units with 1, 2, ... ``life - 1`` days left before the order
    (what has 0 days left was thrown away); an order brings units with ``life``
    days left; at most ``capacity`` in all.
    """

    def __init__(self, capacity: int, life: int) -> None:
        if capacity < 1 or life < 1:
            raise ValueError("capacity and life must be >= 1")
        self.capacity = capacity
        self.states = [
            s for s in product(range(capacity + 1), repeat=life - 1) if sum(s) <= capacity
        ]
        index = {s: i for i, s in enumerate(self.states)}
        # Every (state, order) pair, grouped by state, with what each demand k sells
        # and leaves (k = capacity stands for "capacity or more": it sells everything).
        owner, ordered, sold, spoiled, after = [], [], [], [], []
        for i, state in enumerate(self.states):
            for quantity in range(capacity - sum(state) + 1):
                stock = [*state, quantity]
                owner.append(i)
                ordered.append(quantity)
                sold_k, spoiled_k, after_k = [], [], []
                for k in range(capacity + 1):
                    left, rest = k, []
                    for units in stock:
                        take = min(units, left)
                        left -= take
                        rest.append(units - take)
                    sold_k.append(k - left)
                    spoiled_k.append(rest[0])  # the oldest, on its last day, is thrown away
                    after_k.append(index[tuple(rest[1:])])
                sold.append(sold_k)
                spoiled.append(spoiled_k)
                after.append(after_k)
        self.owner: IntArray = np.array(owner)
        self.ordered: FloatArray = np.array(ordered, dtype=float)
        self.sold: FloatArray = np.array(sold, dtype=float)
        self.spoiled: FloatArray = np.array(spoiled, dtype=float)
        self.after: IntArray = np.array(after)
        self.first_pair: IntArray = np.flatnonzero(np.diff(self.owner, prepend=-1))
        self.index = index
        self.empty = index[tuple([0] * (life - 1))]

    def _prices(
        self, retail: float, unit_cost: int, waste_penalty: float = 0.0
    ) -> tuple[FloatArray, FloatArray]:
        """Per (state, order) pair, what each demand k takes in (less ``waste_penalty``
        for each unit it leaves to be thrown away) and what the order costs: the same
        every day, so worked out once per solution."""
        takings: FloatArray = retail * self.sold
        if waste_penalty:
            takings = takings - waste_penalty * self.spoiled
        return takings, unit_cost * self.ordered

    def _pairs(
        self, value: FloatArray, pmf: FloatArray, prices: tuple[FloatArray, FloatArray]
    ) -> FloatArray:
        """Expected profit of each (state, order) pair for one day, then ``value`` on."""
        takings, cost = prices
        pairs: FloatArray = (takings + value[self.after]) @ pmf
        return pairs - cost

    def _best_values(
        self, demand: list[FloatArray], prices: tuple[FloatArray, FloatArray]
    ) -> FloatArray:
        """Each state's expected profit under the best policy over the days of ``demand``
        (each day's pmf over ``0..capacity``); what is left at the end is worth 0."""
        value = np.zeros(len(self.states))
        for pmf in reversed(demand):
            value = np.maximum.reduceat(self._pairs(value, pmf, prices), self.first_pair)
        return value

    def best_value(self, demand: list[FloatArray], retail: int, unit_cost: int) -> float:
        """Expected profit of the best policy over the days of ``demand``, starting empty."""
        return float(self._best_values(demand, self._prices(retail, unit_cost))[self.empty])

    def policy_value(
        self, demand: list[FloatArray], retail: int, unit_cost: int, order_up_to: int
    ) -> float:
        """Expected profit of ordering up to ``order_up_to`` every day (for checking the
        best one: it can never do worse than any fixed rule)."""
        totals = np.array([sum(s) for s in self.states])
        quantity = np.maximum(order_up_to - totals, 0)
        chosen = self.first_pair + quantity
        value = np.zeros(len(self.states))
        for pmf in reversed(demand):
            value = (retail * self.sold[chosen] + value[self.after[chosen]]) @ pmf
            value -= unit_cost * quantity
        return float(value[self.empty])

    def best_order(
        self,
        demand: list[FloatArray],
        retail: int,
        unit_cost: int,
        stock: tuple[int, ...],
        waste_penalty: float = 0.0,
    ) -> int:
        """What the best policy orders on the first day of ``demand`` holding ``stock``
        (units by days left, ``1 .. life - 1``; the newest trimmed to fit the capacity),
        each unit thrown away counting ``waste_penalty`` (base units) against it."""
        kept, room = [], self.capacity
        for units in stock:
            kept.append(min(units, room))
            room -= kept[-1]
        prices = self._prices(retail, unit_cost, waste_penalty)
        later = self._best_values(demand[1:], prices)
        first = int(self.first_pair[self.index[tuple(kept)]])
        pairs = self._pairs(later, demand[0], prices)[first : first + room + 1]
        return int(np.argmax(np.round(pairs)))

    def outcome(
        self,
        demand: list[FloatArray],
        retail: int,
        unit_cost: int,
        waste_penalty: float = 0.0,
        sale_bonus: float = 0.0,
    ) -> FreshOutcome:
        """What the best policy sells, throws away and buys in expectation over the days
        of ``demand``, starting empty, when each unit thrown away counts ``waste_penalty``
        (base units) against it and each sale ``sale_bonus`` for it: the trade between
        waste, customers served and profit (``0, 0`` is the profit-maximising policy)."""
        prices = self._prices(retail + sale_bonus, unit_cost, waste_penalty)
        pick = np.arange(len(self.owner))
        value = np.zeros(len(self.states))
        chosen: list[IntArray] = []
        for pmf in reversed(demand):
            pairs = self._pairs(value, pmf, prices)
            value = np.maximum.reduceat(pairs, self.first_pair)
            best = np.where(pairs >= value[self.owner], pick, len(pick))
            chosen.append(np.minimum.reduceat(best, self.first_pair))
        chance = np.zeros(len(self.states))
        chance[self.empty] = 1.0
        sold = spoiled = ordered = 0.0
        for pmf, pair in zip(demand, reversed(chosen), strict=True):
            sold += float(chance @ (self.sold[pair] @ pmf))
            spoiled += float(chance @ (self.spoiled[pair] @ pmf))
            ordered += float(chance @ self.ordered[pair])
            moved = np.zeros(len(self.states))
            np.add.at(moved, self.after[pair].ravel(), np.outer(chance, pmf).ravel())
            chance = moved
        return FreshOutcome(sold, spoiled, ordered, retail * sold - unit_cost * ordered)


@dataclass(frozen=True, slots=True)
class FreshOutcome:
    """Expected units sold, thrown away and bought, and the profit (base units)."""

    sold: float
    spoiled: float
    ordered: float
    profit: float


def state_count(capacity: int, life: int) -> int:
    """States of ``FreshSlotProblem(capacity, life)``: stocks of ``life - 1`` ages summing
    to at most ``capacity`` (a count with repetition), without building them."""
    return math.comb(capacity + life - 1, life - 1)


def solvable(capacity: int, life: int) -> bool:
    """Whether the exact problem is small enough to solve at every planning run."""
    return 1 <= life <= FRESH_DAYS and state_count(capacity, life) <= MAX_STATES


@lru_cache(maxsize=32)
def fresh_problem(capacity: int, life: int) -> FreshSlotProblem:
    """One ``FreshSlotProblem`` per slot shape, built once (building walks every pair)."""
    return FreshSlotProblem(capacity, life)
