"""The textbook baseline: a periodic-review (R, s, S) policy an operations researcher sets up.

Every ``review_hours`` the policy looks at each healthy slot's position: its
count, less the units expected to expire unsold (first in, first out, at the
mean rate), plus the units on order. Demand is the last 28 days' mean sales per
slot, Poisson:

* reorder point ``s = ceil(mu + safety * sqrt(mu))`` with ``mu`` the mean demand over
  the order window plus one review;
* order-up-to level ``S = min(capacity, s + ceil(rate * cover_days))``; a fresh
  item (a shelf life) at most ``rate * (window + fresh_share * shelf life)``, so what
  arrives can sell before it expires (and ``s`` below ``S``);
* when any slot is at or below ``s``, one order for every slot below ``S``, each
  line ``S - position`` and never more than surely fits on arrival;
* every order's deadline is at most ``window_hours`` away, sooner when a slot's
  sellable stock runs out sooner at its mean rate; of the suppliers that deliver
  by then, ``classic-list`` buys from the cheapest at list price and
  ``classic-neg`` negotiates with all of them through the project's own buyer
  (``device.negotiation``, in-process, as the agent does in the simulation), its
  limit the cheapest list total, patient (urgency 0). With no deal it buys at the
  cheapest list price.

``TUNED`` holds the parameters per scenario found by ``custobot simulate --tune
classic --scenario NAME`` on the training seeds 1-3 (``device.vending.sim.tune``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

import numpy as np

from device.negotiation.policy import BuyerPolicy
from device.procurement.delivery import OrderLine
from device.settings import SlotConfig
from device.vending.planning.forecast import Forecast
from device.vending.planning.planner import SlotStock
from device.vending.sim.market import at
from device.vending.sim.policies import REVIEW_LAG, Buyer, World, room_on_arrival

WINDOW = timedelta(days=28)
HORIZON_HOURS = 24 * 28  # the flat forecast's length (shelf lives are shorter)


@dataclass(frozen=True, slots=True)
class ClassicParams:
    """The (R, s, S) policy's knobs (see the module docstring)."""

    review_hours: float = 12.0
    safety: float = 1.5
    cover_days: float = 2.0
    window_hours: float = 48.0
    fresh_share: float = 0.8

    def __post_init__(self) -> None:
        if self.review_hours <= 0 or self.window_hours <= 0:
            raise ValueError("review and window hours must be > 0")
        if self.safety < 0 or self.cover_days < 0 or not 0 < self.fresh_share <= 1:
            raise ValueError("need safety >= 0, cover_days >= 0, 0 < fresh_share <= 1")


# Tuned on the training seeds 1-3 by `custobot simulate --tune classic --scenario NAME
# --days D` (the total profit of classic-neg): office D=182, the others D=91 (the time
# a shared 2-core machine allowed).
TUNED: dict[str, ClassicParams] = {
    "office": ClassicParams(
        review_hours=24.0, safety=1.5, cover_days=2.0, window_hours=24.0, fresh_share=1.0
    ),
    "gym": ClassicParams(
        review_hours=24.0, safety=0.5, cover_days=1.0, window_hours=24.0, fresh_share=1.0
    ),
    "volatile": ClassicParams(
        review_hours=24.0, safety=2.0, cover_days=2.0, window_hours=48.0, fresh_share=1.0
    ),
    "unreliable": ClassicParams(
        review_hours=24.0, safety=1.5, cover_days=2.0, window_hours=24.0, fresh_share=1.0
    ),
}


def flat_forecast(now: datetime, daily_rate: float) -> Forecast:
    """Poisson demand at a constant rate: the textbook's model of a slot."""
    hourly = np.full(HORIZON_HOURS, daily_rate / 24)
    return Forecast(now, "tsb", daily_rate, hourly, dispersion=1.0, level_cv2=0.0)


def levels(slot: SlotConfig, daily_rate: float, params: ClassicParams) -> tuple[int, int]:
    """The slot's reorder point ``s`` and order-up-to level ``S``."""
    mu = daily_rate * (params.window_hours + params.review_hours) / 24
    s = math.ceil(mu + params.safety * math.sqrt(mu))
    top = min(slot.capacity, s + math.ceil(daily_rate * params.cover_days))
    if slot.shelf_life_days is not None:
        sells = daily_rate * (params.window_hours / 24 + params.fresh_share * slot.shelf_life_days)
        top = min(top, math.ceil(sells))
    top = max(top, 1)
    return min(s, top - 1), top


class ClassicPolicy(Buyer):
    """Periodic-review (R, s, S) per slot, one joint order; list price or negotiated."""

    name: ClassVar[str] = "classic-list"
    on_chain = True
    negotiates: ClassVar[bool] = False

    def __init__(self, world: World, params: ClassicParams | None = None) -> None:
        super().__init__(world)
        self.params = params or TUNED.get(world.scenario.name, ClassicParams())
        self.buyer = BuyerPolicy()

    def install(self) -> None:
        every = timedelta(hours=self.params.review_hours)
        self.every(every, self.world.start + every + REVIEW_LAG, self.review)

    def review(self, now: datetime) -> None:
        world = self.world
        shelf = self.shelf(now)
        if shelf is None:
            return
        p = self.params
        market = world.market
        in_time = sorted(
            n for n, spec in market.specs.items() if spec.lead_time_hours <= p.window_hours
        )
        if not in_time:
            return
        earliest = min(market.specs[n].lead_time_hours for n in in_time)
        rates = self.daily_sales(now, WINDOW)
        order: dict[int, int] = {}
        low = False
        lasts = p.window_hours  # hours until the first slot's sellable stock runs out
        for slot in world.settings.slots:
            held: SlotStock = shelf[slot.id]
            if held.fault is not None:
                continue  # a slot in fault never orders by itself
            rate = rates[slot.id]
            sellable = held.count - held.expected_waste(flat_forecast(now, rate))
            if rate > 0:
                lasts = min(lasts, 24 * sellable / rate)
            position = sellable + held.on_order
            s, top = levels(slot, rate, p)
            low = low or position <= s
            quantity = min(top - position, room_on_arrival(slot, held, earliest))
            if quantity > 0:
                order[slot.id] = quantity
        if not low or not order:
            return
        # In time: before the first slot runs out (at the mean rate), and within the window.
        in_time = [n for n in in_time if market.specs[n].lead_time_hours <= max(lasts, earliest)]
        slots = {s.id: s for s in world.settings.slots}

        def list_total(name: str) -> int:
            prices = market.list_prices[name]
            return sum(n * prices[slots[i].gtin] for i, n in order.items())

        cheapest = min(in_time, key=lambda n: (list_total(n), market.specs[n].lead_time_hours, n))
        deliver_by = at(now, max(market.specs[n].lead_time_hours for n in in_time))
        supplier, prices = cheapest, dict(market.list_prices[cheapest])
        agreed: int | None = None
        if self.negotiates:
            items: dict[str, int] = {}
            for slot_id, n in order.items():
                items[slots[slot_id].gtin] = items.get(slots[slot_id].gtin, 0) + n
            deal = market.negotiate(
                items,
                now=now,
                deliver_by=deliver_by,
                reservation=list_total(cheapest),
                urgency=0.0,
                reliabilities={n: self.belief(n) for n in in_time},
                policy=self.buyer,
            )
            if deal is not None:
                supplier, prices, agreed = deal.supplier, deal.unit_prices, deal.amount
        lines = tuple(
            OrderLine(slots[i].gtin, i, n, prices[slots[i].gtin]) for i, n in sorted(order.items())
        )
        amount = sum(line.quantity * line.unit_price for line in lines)
        self.place(now, supplier, lines, amount if agreed is None else agreed, deliver_by)


class ClassicNegotiatingPolicy(ClassicPolicy):
    """The same planning, buying through custobot's negotiation."""

    name = "classic-neg"
    negotiates = True
