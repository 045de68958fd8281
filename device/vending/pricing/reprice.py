"""Applying markdowns on the machine: decide per fresh slot, record, set the vend price.

The agent calls ``Repricer.reprice`` on its poll (and the simulated agent on its
plan); every change of a slot's price is a ``PriceChange`` row with its reason,
and the vend flow charges the slot's current price. Once the units a markdown
was for are sold, the slot goes back to its list price at once (``sold``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlmodel import Session

from device.settings import Settings, SlotConfig
from device.store import repo
from device.store.db import Store
from device.store.models import PriceChange
from device.vending.planning.planner import expiring_lots
from device.vending.pricing.markdown import Markdown, decide, lift
from device.vending.vend import VendFlow

log = structlog.get_logger()
# Only items that keep at most this long are tracked lot by lot (the planner's rule).
FRESH_SHELF_LIFE_DAYS = 14
RATE_WINDOW = timedelta(days=14)
HYSTERESIS_PCT = 5  # a markdown is not re-priced for a change under this % of list

Expected = Callable[[float], float]
"""Units a slot is expected to sell at list in the next ``h`` hours."""


@dataclass(frozen=True, slots=True)
class FlatRate:
    """Demand at a steady daily rate (the machine's recent sales, without a forecast)."""

    daily_rate: float

    def __call__(self, hours: float) -> float:
        return max(hours, 0.0) * self.daily_rate / 24


def demand_at_list(
    sales: Sequence[tuple[datetime, int, int]], list_prices: Mapping[int, int], carry: float
) -> tuple[list[tuple[datetime, int]], float]:
    """``(time, slot, price)`` sales as demand at the list price, for a forecast.

    A markdown multiplies demand by ``(price / list) ** -e`` (the decision's own
    model, ``markdown.lift``), so a marked-down sale counts as ``(price / list) ** e``
    of a sale at list, summed (``carry`` holds the part not yet a whole sale,
    returned updated): the forecast learns the demand at list and does not buy in
    fresh stock for customers who came for the lower price. Counting it as
    ``price / list`` (the share of the list price it brought) over-counted: the
    agent bought more of the marked-down item, spoiled more and marked down more
    (README, "Markdowns"). Leaving marked-down hours out of the forecast (as empty
    hours are) raised the intermittent sandwich's forecast, and its spoilage.
    """
    demand: list[tuple[datetime, int]] = []
    for when, slot, price in sales:
        listed = list_prices.get(slot)
        if listed is None or price >= listed:
            demand.append((when, slot))
            continue
        carry += 1 / lift(price / listed)
        if carry >= 1.0:
            carry -= 1.0
            demand.append((when, slot))
    return demand, carry


def fresh(slot: SlotConfig) -> bool:
    return slot.shelf_life_days is not None and slot.shelf_life_days <= FRESH_SHELF_LIFE_DAYS


class Repricer:
    """Keeps every fresh slot's price as ``decide`` says, in the store and the vend flow."""

    def __init__(self, settings: Settings, store: Store, vend: VendFlow) -> None:
        self.settings = settings
        self.store = store
        self.vend = vend
        self.left: dict[int, int] = {}  # marked-down units still to sell, per slot

    @property
    def enabled(self) -> bool:
        return self.settings.pricing.markdowns

    def restore(self) -> None:
        """At start-up: the prices in force, less the marked-down units sold since."""
        if not self.enabled:
            return  # the owners turned markdowns off since: every slot sells at list
        listed = {slot.id: slot.retail_price for slot in self.settings.slots}
        with self.store.read() as session:
            for slot_id, change in repo.current_prices(session).items():
                if change.price >= change.list_price or change.units == 0:
                    continue
                if listed.get(slot_id) != change.list_price:
                    continue  # the slot or its list price changed: that markdown is void
                sold = repo.units_sold_at(session, slot_id, change.at, change.price)
                if change.units > sold:
                    self.vend.prices[slot_id] = change.price
                    self.left[slot_id] = change.units - sold

    def reprice(
        self, now: datetime, expected: Mapping[int, Expected] | None = None
    ) -> list[PriceChange]:
        """Decide every fresh slot's price; record and apply those that change.

        ``expected`` per slot (a forecast); without it, the last two weeks' sales rate.
        """
        pricing = self.settings.pricing
        changes: list[PriceChange] = []
        decided: list[tuple[SlotConfig, Markdown]] = []
        with self.store.write() as session:
            rates: dict[int, int] | None = None
            for slot in self.settings.slots:
                if not fresh(slot):
                    continue
                demand = None if expected is None else expected.get(slot.id)
                if demand is None:
                    rates = self._rates(session, now) if rates is None else rates
                    demand = FlatRate(rates.get(slot.id, 0) / RATE_WINDOW.days)
                count = repo.stock_estimate(session, slot.id) or 0
                life = slot.shelf_life_days
                assert life is not None
                since = now - timedelta(days=life)
                lots = (
                    expiring_lots(repo.arrivals(session, slot.id, since), count, life, now, since)
                    if count > 0
                    else ()
                )
                floor = pricing.floor(slot)
                markdown = (
                    decide(now, lots, slot.retail_price, floor, pricing.max_markdown_pct, demand)
                    if self.enabled
                    else Markdown(slot.retail_price, 0, "list price: markdowns are off")
                )
                change = self._record(session, now, slot, markdown)
                if change is not None:
                    changes.append(change)
                    decided.append((slot, markdown))
        for slot, markdown in decided:  # charged only once the rows are committed
            self._charge(slot, markdown)
        return changes

    def sold(self, now: datetime, slot_id: int) -> None:
        """A unit of ``slot_id`` sold: once a markdown's units are gone, back to list."""
        left = self.left.get(slot_id)
        if left is None:
            return
        if left > 1:
            self.left[slot_id] = left - 1
            return
        slot = self.settings.slot(slot_id)
        done = Markdown(slot.retail_price, 0, "list price: the marked-down units are sold")
        with self.store.write() as session:
            change = self._record(session, now, slot, done)
        if change is not None:
            self._charge(slot, done)

    def _rates(self, session: Session, now: datetime) -> dict[int, int]:
        return repo.units_sold_since(session, now - RATE_WINDOW)

    def _record(
        self, session: Session, now: datetime, slot: SlotConfig, markdown: Markdown
    ) -> PriceChange | None:
        """The row for a price that changes (``None`` if it stays); not yet charged."""
        price_now = self.vend.prices.get(slot.id, slot.retail_price)
        units_now = self.left.get(slot.id, 0)
        if markdown.price == price_now and markdown.units == units_now:
            return None
        close = abs(markdown.price - price_now) * 100 < HYSTERESIS_PCT * slot.retail_price
        if close and markdown.units == units_now and markdown.price < slot.retail_price:
            return None  # a markdown a few cents off the one in force: keep it
        change = repo.record_price_change(
            session,
            PriceChange(
                at=now,
                slot_id=slot.id,
                price=markdown.price,
                list_price=slot.retail_price,
                floor_price=self.settings.pricing.floor(slot),
                units=markdown.units,
                reason=markdown.reason,
            ),
        )
        return change

    def _charge(self, slot: SlotConfig, markdown: Markdown) -> None:
        """The vend flow charges a recorded price from now on."""
        if markdown.price < slot.retail_price:
            self.vend.prices[slot.id] = markdown.price
            self.left[slot.id] = markdown.units
        else:
            self.vend.prices.pop(slot.id, None)
            self.left.pop(slot.id, None)
        log.info("price_changed", slot=slot.id, price=markdown.price, reason=markdown.reason)
