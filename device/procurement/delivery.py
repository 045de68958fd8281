"""Matching what a restocking visit put in the machine to the orders it was meant to fill.

The sensors count what arrived (increase of each slot over its stock just before
the visit); increases are credited to the open orders that asked for that GTIN,
oldest first. Each order is then paid for what was delivered: in full, in part
(short delivery), or not at all (nothing of it arrived).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class OrderLine:
    gtin: str
    slot_id: int
    quantity: int
    unit_price: int


@dataclass(frozen=True, slots=True)
class OpenOrder:
    order_id: str
    amount: int
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True, slots=True)
class DeliveryMatch:
    """What one order received and what it is owed (base units, never above its amount)."""

    order_id: str
    delivered: dict[str, int] = field(default_factory=dict)
    amount_due: int = 0
    complete: bool = False

    @property
    def anything(self) -> bool:
        return any(self.delivered.values())


def match_delivery(
    increases: Mapping[str, int], orders: Sequence[OpenOrder]
) -> tuple[list[DeliveryMatch], dict[str, int]]:
    """Credit counted ``increases`` (per GTIN) to ``orders`` (oldest first).

    Returns one match per order and what is left over (items nobody ordered: an
    extra or a wrong delivery, which is never paid for).
    """
    left = {gtin: count for gtin, count in increases.items() if count > 0}
    matches: list[DeliveryMatch] = []
    for order in orders:
        delivered: dict[str, int] = {}
        due = 0
        for line in order.lines:
            take = min(line.quantity, left.get(line.gtin, 0))
            if take:
                left[line.gtin] -= take
                delivered[line.gtin] = delivered.get(line.gtin, 0) + take
                due += take * line.unit_price
        complete = all(delivered.get(line.gtin, 0) >= line.quantity for line in order.lines)
        # The quote's amount may carry a discount the unit prices do not show.
        matches.append(
            DeliveryMatch(
                order.order_id,
                delivered,
                order.amount if complete else min(due, order.amount),
                complete,
            )
        )
    return matches, {gtin: count for gtin, count in left.items() if count > 0}
