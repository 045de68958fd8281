"""The markdown decision: what one slot sells at now, and why (a pure function).

A vending slot is a spiral: the next unit out is the oldest. When the units at the
front expire within a day (``WINDOW_HOURS``) and the forecast expects some of them
to expire unsold at the list price, the slot's price may go down until they are
sold, then comes back to list. The price is the slot's, the same for every
customer at the same moment (nothing is personalised), never above the list price
and never below the owners' floor or their maximum markdown.

Which price: the one, in whole cents, with the most expected revenue from those
units. Their cost is spent whatever happens; a markdown earns the units it sells
that would have spoiled, and gives away the difference on those that would have
sold at list anyway. The customers who would buy at list until the units expire
are Poisson with the forecast's mean, and a price of ``r`` × list makes each of
them worth ``r ** -e`` sales (constant elasticity): when no one comes, no price
sells anything, which matters for items bought on a few days a week only
(raising the Poisson mean instead overstated what a markdown sells there:
README, "Markdowns"). A markdown is only taken when it earns more in expectation
than the list price. The machine cannot measure ``e`` on its own few sales, so it
plans with ``ASSUMED_ELASTICITY``, at the low end of what the food-retail
literature measures (Tellis 1988's mean, 1.76, and below; see
``device/vending/sim/scenarios.py``): it expects fewer extra sales than a more elastic
crowd brings, so it marks down less often and less deep, never more. Part of what a
markdown sells would have sold at list a little later (to the same few customers), which
the model does not see; planning low covers it. 1.5 was chosen over 2 on the
simulation's training seeds (README, "Markdowns").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

ASSUMED_ELASTICITY = 1.5
# Only units expiring within this are marked down ("reduced to clear" on their last day):
# a longer window cuts the price on units that would still sell at list.
WINDOW_HOURS = 24.0
PRICE_STEP = 10_000  # prices are whole cents of a 6-decimal token (0.01 USDC)
AT_RISK = 0.5  # units expected to spoil before a markdown is worth it


def lift(ratio: float) -> float:
    """How many times the demand at list a price of ``ratio`` × list draws."""
    return float(ratio**-ASSUMED_ELASTICITY)


@dataclass(frozen=True, slots=True)
class Markdown:
    """A slot's price and why; ``units`` are the near-expiry units it is for (0: list)."""

    price: int
    units: int
    reason: str


def decide(
    now: datetime,
    expiring: Sequence[tuple[float, int]],
    list_price: int,
    floor_price: int,
    max_markdown_pct: int,
    expected: Callable[[float], float],
    window_hours: float = WINDOW_HOURS,
) -> Markdown:
    """The price of one slot at ``now``.

    ``expiring``: the slot's units as ``(hours until they expire, units)``, oldest
    first (``SlotStock.expiring``); ``expected(h)``: units the forecast expects to
    sell at the list price in the next ``h`` hours. ``now`` only dates the reason.
    """
    if not 0 <= floor_price <= list_price:
        raise ValueError(f"floor {floor_price} must be within 0..list {list_price}")
    if not 0 <= max_markdown_pct <= 100:
        raise ValueError(f"max_markdown_pct {max_markdown_pct} must be within 0..100")
    if expected(window_hours) <= 0:
        # A markdown multiplies demand: with none expected (or no sales yet) it sells nothing.
        return Markdown(list_price, 0, "list price: no sales expected to build on")
    ahead = 0  # units in front of (and including) each lot: they sell first
    units = 0
    hours = 0.0
    for left, n in expiring:
        if left <= 0:
            continue  # past its date: nobody may buy it (it goes out at the next visit)
        ahead += n
        if left > window_hours:
            break
        if ahead - expected_sold(expected(left), ahead) >= AT_RISK:
            units, hours = ahead, left
    if units == 0:
        return Markdown(list_price, 0, "list price: no unit at risk of expiring unsold")
    at_list = expected(hours)
    lowest = max(floor_price, list_price * (100 - max_markdown_pct) // 100)
    price, sold = list_price, expected_sold(at_list, units)
    best = list_price * sold
    top = (list_price - 1) // PRICE_STEP * PRICE_STEP  # the highest whole cent below list
    for candidate in range(top, max(lowest, 1) - 1, -PRICE_STEP):
        candidate_sold = expected_sold(at_list, units, lift(candidate / list_price))
        if candidate * candidate_sold > best:
            price, sold, best = candidate, candidate_sold, candidate * candidate_sold
    if price == list_price:
        return Markdown(list_price, 0, "list price: no markdown the floor allows earns more")
    off = (list_price - price) * 100 / list_price
    return Markdown(
        price,
        units,
        f"{units} unit(s) expire within {hours:.0f} h of {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{expected_sold(at_list, units):.1f} expected to sell at list, {sold:.1f} at "
        f"{off:.0f}% off",
    )


def expected_sold(mean: float, units: int, times: float = 1.0) -> float:
    """``E[min(times * D, units)]`` for Poisson demand ``D`` of ``mean`` at list."""
    if mean <= 0 or units <= 0:
        return 0.0
    term = math.exp(-mean)  # P(D = k), from k = 0
    below = 0.0  # P(D < k)
    total = 0.0
    k = 0
    while times * k < units:
        total += term * times * k
        below += term
        k += 1
        term *= mean / k
    return total + (1.0 - below) * units
