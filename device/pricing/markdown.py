"""The markdown decision: what one slot sells at now, and why (a pure function).

A vending slot is a spiral: the next unit out is the oldest. When the units at the
front expire within a day (``WINDOW_HOURS``) and the forecast does not expect them
all to sell at the list price by then, the
slot's price goes down just enough, by the rule below, for the expected sales to
clear them, and comes back to list once they are sold. The price is the slot's,
the same for every customer at the same moment (nothing is personalised), never
above the list price and never below the owners' floor or their maximum markdown.

How deep: with constant-elasticity demand, sales grow by ``(price / list) ** -e``;
to sell ``units`` where ``expected`` would sell at list, the price is
``list * (units / expected) ** (-1 / e)``. The machine cannot measure ``e`` on its
own few sales, so it plans with ``ASSUMED_ELASTICITY``, at the low end of what the
food-retail literature measures (see ``device/sim/scenarios.py``): a shallower cut
than a more elastic crowd would need, never a deeper one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

ASSUMED_ELASTICITY = 2.0
# Only units expiring within this are marked down ("reduced to clear" on their last day):
# a longer window cuts the price on units that would still sell at list.
WINDOW_HOURS = 24.0
PRICE_STEP = 10_000  # prices are whole cents of a 6-decimal token (0.01 USDC)
AT_RISK = 0.5  # units expected to spoil before a markdown is worth it


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
    lift = 1.0
    hours = 0.0
    sells = 0.0
    for left, n in expiring:
        if left <= 0:
            continue  # past its date: nobody may buy it (it goes out at the next visit)
        ahead += n
        if left > window_hours:
            break
        will_sell = expected(left)
        if ahead - will_sell >= AT_RISK:
            units = ahead
            need = ahead / will_sell if will_sell > 0 else math.inf
            if need > lift:
                lift, hours, sells = need, left, will_sell
    if units == 0:
        return Markdown(list_price, 0, "list price: no unit at risk of expiring unsold")
    lowest = max(floor_price, list_price * (100 - max_markdown_pct) // 100)
    wanted = list_price * lift ** (-1 / ASSUMED_ELASTICITY) if math.isfinite(lift) else 0.0
    stepped = math.ceil(wanted / PRICE_STEP) * PRICE_STEP
    price = min(list_price, max(lowest, stepped))
    if price == list_price:
        return Markdown(list_price, 0, "list price: the floor allows no markdown")
    off = (list_price - price) * 100 / list_price
    return Markdown(
        price,
        units,
        f"{units} unit(s) expire within {hours:.0f} h of {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{sells:.1f} expected to sell at list: {off:.0f}% off",
    )
