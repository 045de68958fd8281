"""The most any restocking policy without foresight can earn on a simulated world.

The oracle policy knows every customer to come; issue #5 asks the agent for 95%
of its profit. This is the yardstick for that target: an upper bound on the
profit of *any* policy that knows only the demand's distribution, built from
relaxations that can only help such a policy:

* every customer who comes is served, each item bought at the lowest floor price
  any supplier has (no supplier sells below its floor);
* only as many deliveries as the fastest-turning slot needs to hold its
  customers' items, ``(customers - capacity) / capacity`` (it starts full; a
  delivery adds at most a slot's capacity), each paying the lowest delivery fee
  and the gas of an order. (Serving fewer customers to save deliveries cannot
  pay: a slot counts here only if a capacity's worth of margin covers a delivery.)
* but a fresh item (shelf life up to ``FRESH_DAYS``) loses what even the best
  policy loses on it in expectation when, every midnight, it sees its stock by
  age and orders what it likes with no lead time, no fee, and a day more of shelf
  life than the world gives (so whenever a real delivery would arrive, the
  relaxed one sells at least as long). That best policy is solved exactly by
  dynamic programming over the run's days. Longer-lived goods are counted as
  if they never spoiled.

The served customers are this seed's; the fresh items' loss is an expectation
over the demand distribution (the oracle's profit is this seed's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from device.settings import Settings, SlotConfig
from device.vending.planning.fresh import (
    FRESH_DAYS,
    FloatArray,
    FreshSlotProblem,
    fresh_problem,
)
from device.vending.sim.customers import CustomerStream
from device.vending.sim.market import GAS_COST_PER_ORDER, Market
from device.vending.sim.policies import SIM_START
from device.vending.sim.scenarios import Scenario


@dataclass(frozen=True, slots=True)
class FreshBound:
    """One fresh slot: its expected margin if every customer were served, and the
    most any policy without foresight can expect to earn on it (base units)."""

    slot_id: int
    every_customer: float
    best_without_foresight: float

    @property
    def loss(self) -> float:
        return self.every_customer - self.best_without_foresight


@dataclass(frozen=True, slots=True)
class Ceiling:
    """The bound and its parts (base units)."""

    every_customer: int  # margin of serving every customer at the lowest floor price
    fresh: tuple[FreshBound, ...]
    deliveries: float
    delivery_cost: int
    # Per slot: the customers who came, the lowest floor price and the retail price (for
    # ``device.vending.sim.gap``, which says where a policy's profit falls short of this bound).
    customers: Mapping[int, int] = field(default_factory=dict)
    floors: Mapping[int, int] = field(default_factory=dict)
    retail: Mapping[int, int] = field(default_factory=dict)

    @property
    def allowance(self) -> int:
        """What the bound itself gives up: the fresh items' expected loss and its deliveries."""
        return self.every_customer - self.profit

    @property
    def profit(self) -> int:
        lost = sum(f.loss for f in self.fresh)
        return self.every_customer - math.ceil(lost + self.deliveries * self.delivery_cost)


def day_demand(stream: CustomerStream, slot_id: int, day: date, top: int) -> FloatArray:
    """``P(customers on day = k)`` for ``k < top``, and ``P(>= top)`` last."""
    active_share = stream.demand[slot_id].active_day_share
    mean = stream.selling_day_mean(slot_id, day)
    pmf = np.zeros(top + 1)
    if mean <= 0:  # a day nobody comes (or a trend that has run down to nothing)
        pmf[0] = 1.0
        return pmf
    k = np.arange(top)
    poisson = np.exp(-mean + k * math.log(mean) - np.array([math.lgamma(i + 1) for i in k]))
    pmf[:top] = active_share * poisson
    pmf[0] += 1 - active_share
    pmf[top] = max(0.0, 1.0 - float(pmf[:top].sum()))
    return pmf


def fresh_days(
    slot: SlotConfig, stream: CustomerStream, days: int
) -> tuple[list[FloatArray], float]:
    """Each day's demand pmf for ``slot`` over the run, and the customers expected in all."""
    calendar = [(SIM_START + timedelta(days=d)).date() for d in range(days)]
    demand = [day_demand(stream, slot.id, day, slot.capacity) for day in calendar]
    share = stream.demand[slot.id].active_day_share
    return demand, sum(share * stream.selling_day_mean(slot.id, day) for day in calendar)


def relaxed_fresh_problem(slot: SlotConfig) -> FreshSlotProblem:
    """The fresh slot as the bound sees it: a day more shelf life than the world gives."""
    assert slot.shelf_life_days is not None
    return fresh_problem(slot.capacity, slot.shelf_life_days + 1)


def is_fresh(slot: SlotConfig) -> bool:
    """Whether the bound solves ``slot`` exactly (else it counts it as never spoiling)."""
    return slot.shelf_life_days is not None and slot.shelf_life_days <= FRESH_DAYS


def lowest_floor(market: Market, gtin: str) -> int:
    """The lowest price any supplier of ``market`` would sell ``gtin`` at."""
    return min(market.floor_prices[name][gtin] for name in market.specs)


def fresh_bound(slot: SlotConfig, stream: CustomerStream, days: int, unit_cost: int) -> FreshBound:
    demand, mean = fresh_days(slot, stream, days)
    best = relaxed_fresh_problem(slot).best_value(demand, slot.retail_price, unit_cost)
    return FreshBound(slot.id, mean * (slot.retail_price - unit_cost), best)


def ceiling(settings: Settings, scenario: Scenario, *, days: int, seed: int) -> Ceiling:
    """The bound for ``scenario``'s world with ``seed`` over ``days`` (see the module)."""
    machine = scenario.machine(settings)
    market = Market(scenario.suppliers, machine.slots, seed)
    stream = CustomerStream(scenario.demand, scenario.site, seed=seed)
    customers = dict.fromkeys(scenario.demand, 0)
    for arrival in stream.arrivals(SIM_START, SIM_START + timedelta(days=days)):
        customers[arrival.slot_id] += 1
    delivery_cost = min(spec.delivery_fee for spec in market.specs.values()) + GAS_COST_PER_ORDER
    every_customer = 0
    floors: dict[int, int] = {}
    fresh: list[FreshBound] = []
    deliveries = 0.0
    for slot in machine.slots:
        if slot.id not in customers:
            continue
        floor = lowest_floor(market, slot.gtin)
        floors[slot.id] = floor
        margin = slot.retail_price - floor
        every_customer += customers[slot.id] * margin
        if is_fresh(slot):
            fresh.append(fresh_bound(slot, stream, days, floor))
        elif slot.capacity * margin >= delivery_cost:
            needed = max(customers[slot.id] - slot.capacity, 0) / slot.capacity
            deliveries = max(deliveries, needed)
    retail = {slot.id: slot.retail_price for slot in machine.slots if slot.id in floors}
    return Ceiling(
        every_customer, tuple(fresh), deliveries, delivery_cost, customers, floors, retail
    )
