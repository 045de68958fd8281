"""Restocking policies on one simulated world: route, telemetry, the custobot agent, an oracle
(and, in ``device.vending.sim.classic``, the textbook (R, s, S) baseline).

Every policy sells through the same ``SimulatedMachine`` (mock pins, sensor
physics, store, the real agent core) to the same seeded customers; only the
procurement side differs. Goods reach the machine the physical way: the door
opens, the physics puts items in the slots, the door closes and the agent's
poll recounts. Expired items are taken out at visits (a separate door cycle, so
the delivery's own count stays clean). ``World`` keeps the books from the
world's side: what was paid, what sold at what cost (first in, first out),
what spoiled, what was returned for want of room, fees and gas; every unit that
enters a slot has a lot with its real unit cost (or is a gift the ledger records).
"""

from __future__ import annotations

import bisect
import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np

from device.negotiation.policy import BuyerPolicy
from device.procurement.delivery import OpenOrder, OrderLine, match_delivery
from device.settings import SalesCountConfig, Settings, SlotConfig, SwitchSensorConfig
from device.store import repo
from device.vending.agent import Agent
from device.vending.hardware.poller import StockSnapshot
from device.vending.hardware.readings import FaultState
from device.vending.planning.forecast import DemandModels, Forecast, floor_hour
from device.vending.planning.planner import FILL, Economics, PlannerConfig, SlotStock, plan_restock
from device.vending.pricing.reprice import demand_at_list
from device.vending.restock import with_expiry
from device.vending.sim.customers import Arrival
from device.vending.sim.machine import SimulatedMachine
from device.vending.sim.market import (
    GAS_COST_PER_ORDER,
    DeliveryOutcome,
    Market,
    at,
    delivered_quantity,
)
from device.vending.sim.scenarios import Scenario

POLICIES = ("route", "telemetry", "classic-list", "classic-neg", "agent", "oracle")
SIM_START = datetime.fromisoformat("2026-01-05T00:00:00+00:00")  # a Monday
POLL_EVERY = timedelta(hours=24)  # sensors (and at every visit); a poll bit-bangs mock pins
REVIEW_EVERY = timedelta(hours=6)  # a machine's default agent.plan_interval_h (tested)
REVIEW_LAG = timedelta(minutes=1)  # a review comes just after a poll when both are due
GIVE_UP_HOURS = 48.0  # an order with nothing delivered this long after its deadline is released
Interval = tuple[datetime, datetime]


@dataclass(slots=True)
class Lot:
    """Items of one slot that arrived together: they expire together and cost the same."""

    expires: datetime | None
    quantity: int  # still in the slot
    unit_cost: int
    gift: bool = False  # came in but nobody was paid for it (the supplier's loss)
    received: int = 0  # units that came in (set from ``quantity`` when 0)
    sold: int = 0
    spoiled: int = 0

    def __post_init__(self) -> None:
        self.received = self.received or self.quantity


@dataclass(slots=True)
class Ledger:
    """The money and goods side of one run (base units)."""

    purchases: int = 0  # paid for goods
    list_value: int = 0  # the same goods at the seller's list price
    cost_of_sold: int = 0
    sold_units: int = 0
    spoiled_units: int = 0
    spoiled_cost: int = 0
    stocked_units: int = 0  # units that entered a slot (the opening fill too)
    stocked_value: int = 0  # ... at the unit cost of their lots
    opening_value: int = 0  # the opening fill (bought before the run, not a purchase)
    returned_units: int = 0  # delivered and paid for, but did not fit: written off
    returned_cost: int = 0
    gift_units: int = 0  # entered a slot unpaid (the machine's count missed them)
    gift_value: int = 0  # ... at the agreed price: the supplier's loss
    rounding: int = 0  # a complete order's total above its unit prices (split_total)
    delivery_fees: int = 0
    gas: int = 0
    orders: int = 0
    deliveries: int = 0
    stockout_hours: float = 0.0
    lost_per_slot: dict[int, int] = field(default_factory=dict)
    spoiled_per_slot: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sample:
    """One day's look at the world, for plots."""

    day: float
    stock: dict[int, int]
    profit: int


class ReportedVisitAgent(Agent):
    """The real agent core, told by the person at the door what a visit left in the
    slots that cannot count themselves (switch, sales count), as a restocking
    screen would; without a report the core assumes a fill to capacity."""

    visit_report: Mapping[int, int] | None = None

    def restocked(
        self, now: datetime, snapshot: StockSnapshot, filled: dict[int, int] | None = None
    ) -> None:
        report = dict(self.visit_report or {})
        super().restocked(now, snapshot, report | (filled or {}))


class World(SimulatedMachine):
    """A ``SimulatedMachine`` with the world-side books every policy is measured by.

    The route driver of the base class only stocks the machine at the start
    (every policy starts full, charged at the incumbent's list price); restocking
    after that is the policy's.
    """

    def __init__(
        self,
        settings: Settings,
        scenario: Scenario,
        *,
        database: Path,
        days: float,
        seed: int,
        start: datetime = SIM_START,
    ) -> None:
        settings = scenario.machine(settings)
        super().__init__(
            settings,
            scenario,
            database=database,
            start=start,
            seed=seed,
            route_every=timedelta(days=days + 1),
            poll_every=POLL_EVERY,
        )
        self.reporting = ReportedVisitAgent(self.settings, self.store, self.poller)
        self.agent = self.reporting
        self.scenario = scenario
        self.days = days
        self.market = Market(scenario.suppliers, self.settings.slots, seed)
        self.ledger = Ledger()
        self.lots: dict[int, deque[Lot]] = {s.id: deque() for s in self.settings.slots}
        self.samples: list[Sample] = []
        self.made: list[Lot] = []  # every lot that ever entered a slot (for the books' checks)
        self._out_since: dict[int, datetime] = {}
        self._restocked: list[Callable[[datetime, int], None]] = []
        # Extra customers a markdown draws (its own stream: no draws without markdowns).
        self._price_rng = np.random.default_rng([seed, 0x6D61726B])

    # -- the world's books ------------------------------------------------------------

    def profit(self) -> int:
        led = self.ledger
        return (
            self.totals.revenue
            - led.cost_of_sold
            - led.spoiled_cost
            - led.returned_cost
            - led.rounding
            - led.delivery_fees
            - led.gas
        )

    def on_restocked(self, listener: Callable[[datetime, int], None]) -> None:
        """Call ``listener(now, slot_id)`` when a visit puts items into an empty slot."""
        self._restocked.append(listener)

    def customer(self, arrival: Arrival) -> None:
        prices = self.agent.vend.prices
        price = prices.get(arrival.slot_id)
        self._customer(arrival)
        if price is not None:  # marked down: more people take this slot's item
            lift = self.scenario.price_response(self.settings.slot(arrival.slot_id), price)
            for _ in range(int(self._price_rng.poisson(lift - 1.0))):
                if prices.get(arrival.slot_id) != price:
                    break  # the marked-down units are gone: the rest came for the price
                self._customer(arrival)

    def _customer(self, arrival: Arrival) -> None:
        slot_id = arrival.slot_id
        before = self.physics.stock(slot_id)
        lost = self.totals.lost_sales
        lots = self.lots[slot_id]
        if lots and lots[0].expires is not None and lots[0].expires <= arrival.when:
            # Past its date: the customer leaves it there (out at the next visit).
            self.totals.customers += 1
            self.totals.lost_sales += 1
        else:
            super().customer(arrival)
        if self.totals.lost_sales > lost:
            self.ledger.lost_per_slot[slot_id] = self.ledger.lost_per_slot.get(slot_id, 0) + 1
        if self.physics.stock(slot_id) < before:
            lots = self.lots[slot_id]
            lots[0].quantity -= 1
            lots[0].sold += 1
            self.ledger.sold_units += 1
            self.ledger.cost_of_sold += lots[0].unit_cost
            if lots[0].quantity == 0:
                lots.popleft()
        if self.physics.stock(slot_id) == 0:
            self._out_since.setdefault(slot_id, arrival.when)

    def route_visit(self, now: datetime) -> None:
        """The start: every slot filled to capacity at the incumbent's list price."""
        prices = self.market.list_prices[self.scenario.incumbent]
        slots = self.settings.slots
        lots = self.visit(now, {s.id: s.capacity for s in slots}, self.unit_costs(prices))
        self.ledger.opening_value += sum(lot.quantity * lot.unit_cost for lot in lots.values())
        self.totals.restock_visits += 1

    def unit_costs(self, prices: Mapping[str, int]) -> dict[int, int]:
        """Per slot, the price of its GTIN in ``prices`` (a supplier's list or floor)."""
        return {s.id: prices[s.gtin] for s in self.settings.slots}

    def discard_expired(self, now: datetime) -> None:
        """Take out what is past its shelf life (a door cycle of its own, recounted)."""
        counts: dict[int, int] = {}
        for slot_id, lots in self.lots.items():
            removed = 0
            while lots and lots[0].expires is not None and lots[0].expires <= now:
                lot = lots.popleft()
                removed += lot.quantity
                self._spoil(slot_id, lot)
            if removed:
                counts[slot_id] = self.physics.stock(slot_id) - removed
        if counts:
            self._door(now, counts)
            for slot_id, count in counts.items():
                if count == 0:
                    self._out_since.setdefault(slot_id, now)

    def visit(
        self, now: datetime, add: Mapping[int, int], unit_costs: Mapping[int, int]
    ) -> dict[int, Lot]:
        """A restocking visit: expired items out, then up to ``add`` items in per slot,
        each new lot at its slot's price in ``unit_costs`` (what was agreed for it).

        What does not fit is the caller's to settle (``Buyer``: paid and written
        off). Returns the new lot per slot.
        """
        self.discard_expired(now)
        counts: dict[int, int] = {}
        lots: dict[int, Lot] = {}
        for slot_id, quantity in add.items():
            slot = self.settings.slot(slot_id)
            stock = self.physics.stock(slot_id)
            n = min(quantity, slot.capacity - stock)
            if n <= 0:
                continue
            counts[slot_id] = stock + n
            life = slot.shelf_life_days
            cost = unit_costs[slot_id]
            if cost <= 0:
                raise ValueError(f"slot {slot_id}: a lot needs its real unit cost, got {cost}")
            lots[slot_id] = Lot(None if life is None else now + timedelta(days=life), n, cost)
            self.lots[slot_id].append(lots[slot_id])
            self.made.append(lots[slot_id])
            self.ledger.stocked_units += n
            self.ledger.stocked_value += n * cost
        if counts:
            self._door(now, counts)
        for slot_id in counts:
            since = self._out_since.pop(slot_id, None)
            if since is not None:
                self.ledger.stockout_hours += (now - since).total_seconds() / 3600
                for listener in self._restocked:
                    listener(now, slot_id)
        return lots

    def _door(self, now: datetime, counts: Mapping[int, int]) -> None:
        """Open, set the slots, close; the agent recounts. A slot that cannot count
        itself (switch, sales count) is told what the visit left there."""
        # A visit lasts minutes: the machine polls while the door is open, before the
        # slots change (else a slot refilled to its last reading would look stuck).
        self.physics.open_door()
        self.agent.poll(now)
        self.physics.restock(counts)
        self.reporting.visit_report = {
            s.id: self.physics.stock(s.id)
            for s in self.settings.slots
            if isinstance(s.sensor, SwitchSensorConfig | SalesCountConfig)
        }
        try:
            self.agent.poll(now)
        finally:
            self.reporting.visit_report = None

    def sample(self, now: datetime) -> None:
        day = (now - self.start).total_seconds() / 86_400
        stock = {s.id: self.physics.stock(s.id) for s in self.settings.slots}
        self.samples.append(Sample(day, stock, self.profit()))

    def finish(self) -> None:
        """Close the books at the end: open stockouts, and what expired in the machine."""
        end = self.driver.now()
        for since in self._out_since.values():
            self.ledger.stockout_hours += (end - since).total_seconds() / 3600
        self._out_since.clear()
        for slot_id, lots in self.lots.items():
            while lots and lots[0].expires is not None and lots[0].expires <= end:
                self._spoil(slot_id, lots.popleft())  # still in the slot, but only as waste
        self.sample(end)

    def _spoil(self, slot_id: int, lot: Lot) -> None:
        """Book what is left of ``lot`` as spoiled, at its cost."""
        spoiled = self.ledger.spoiled_per_slot
        spoiled[slot_id] = spoiled.get(slot_id, 0) + lot.quantity
        self.ledger.spoiled_units += lot.quantity
        self.ledger.spoiled_cost += lot.quantity * lot.unit_cost
        lot.spoiled += lot.quantity
        lot.quantity = 0


class Policy(ABC):
    """How one operator restocks; it schedules its own jobs on the world's clock."""

    name: ClassVar[str]
    on_chain: ClassVar[bool] = False

    def __init__(self, world: World) -> None:
        self.world = world

    @abstractmethod
    def install(self) -> None: ...

    def every(
        self, interval: timedelta, first: datetime, action: Callable[[datetime], None]
    ) -> None:
        driver = self.world.driver

        def repeat(now: datetime) -> None:
            action(now)
            driver.at(now + interval, repeat)

        driver.at(first, repeat)


class RoutePolicy(Policy):
    """A fixed weekly visit that fills every slot to capacity (expired items out first),
    bought at the incumbent's list price: what a route driver does."""

    name = "route"

    def __init__(self, world: World, every: timedelta = timedelta(days=7)) -> None:
        super().__init__(world)
        self.interval = every

    def install(self) -> None:
        self.every(self.interval, self.world.start + self.interval + timedelta(hours=8), self.visit)

    def visit(self, now: datetime) -> None:
        world = self.world
        incumbent = world.market.specs[world.scenario.incumbent]
        prices = world.market.list_prices[incumbent.name]
        world.discard_expired(now)
        wanted = {s.id: s.capacity - world.physics.stock(s.id) for s in world.settings.slots}
        add = {slot: n for slot, n in wanted.items() if n > 0}
        lots = world.visit(now, add, world.unit_costs(prices))
        for lot in lots.values():
            world.ledger.purchases += lot.quantity * lot.unit_cost
            world.ledger.list_value += lot.quantity * lot.unit_cost
        world.ledger.delivery_fees += incumbent.delivery_fee
        world.ledger.orders += 1  # the route's own purchase for the visit
        world.ledger.deliveries += 1
        world.totals.restock_visits += 1


@dataclass(slots=True)
class PlacedOrder:
    order: OpenOrder
    supplier: str
    deliver_by: datetime
    outcome: DeliveryOutcome
    delivered: dict[int, int] = field(default_factory=dict)  # units per slot the driver brought
    paid: int = 0


class Buyer(Policy):
    """A policy that orders from suppliers and is delivered to (late, short or not at all).

    Deliveries are counted by the machine's own sensors and matched to the open
    orders of the delivering supplier with ``match_delivery``: each order is
    paid for what arrived, once.
    """

    reliability_prior = 0.9  # what a buyer believes of a supplier it has not tried
    prior_weight = 5.0  # ... worth this many orders

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.open: dict[str, PlacedOrder] = {}
        self.history: list[PlacedOrder] = []  # every order placed, in order
        self._seq = 0
        self.record: dict[str, tuple[int, int]] = {}  # supplier: (orders closed, on time and full)

    def on_order(self) -> dict[int, int]:
        """Units per slot ordered and not delivered yet."""
        pending: dict[int, int] = {}
        for placed in self.open.values():
            for line in placed.order.lines:
                pending[line.slot_id] = pending.get(line.slot_id, 0) + line.quantity
        return pending

    def shelf(self, now: datetime) -> dict[int, SlotStock] | None:
        """What the machine knows per slot: its count (faults as of the last poll, the
        count as the store has it now), units on order, and when its fresh lots expire.
        ``None`` before the first poll."""
        world = self.world
        state = world.agent.state
        if state is None:
            return None
        pending = self.on_order()
        stock: dict[int, SlotStock] = {}
        live = world.agent.stock()
        for s in state.slots:
            fault = None if s.fault == FaultState.OK.value else s.fault
            count = live[s.slot_id]
            if count is None:
                fault = fault or "never counted"
            stock[s.slot_id] = SlotStock(
                s.slot_id, max(count or 0, 0), fault, pending.get(s.slot_id, 0)
            )
        with world.store.snapshot() as db:
            return with_expiry(db, world.settings.slots, stock, now)

    def daily_sales(self, now: datetime, window: timedelta) -> dict[int, float]:
        """Mean units sold per day and slot over the last ``window`` (since the start
        when younger, counted as at least one day)."""
        world = self.world
        since = max(world.start, now - window)
        days = max((now - since).total_seconds() / 86_400, 1.0)
        with world.store.snapshot() as db:
            sold = repo.units_sold_since(db, since)
        return {s.id: sold.get(s.id, 0) / days for s in world.settings.slots}

    def belief(self, supplier: str) -> float:
        """Share of a supplier's orders that came on time and complete, with a prior."""
        closed, good = self.record.get(supplier, (0, 0))
        prior, weight = self.reliability_prior, self.prior_weight
        return (good + prior * weight) / (closed + weight)

    def place(
        self,
        now: datetime,
        supplier: str,
        lines: tuple[OrderLine, ...],
        amount: int,
        deliver_by: datetime,
    ) -> None:
        world = self.world
        self._seq += 1
        order_id = f"{self.name}-{self._seq}"
        outcome = world.market.outcome(supplier)
        placed = PlacedOrder(OpenOrder(order_id, amount, lines), supplier, deliver_by, outcome)
        self.open[order_id] = placed
        self.history.append(placed)
        world.ledger.orders += 1
        if self.on_chain:
            world.ledger.gas += GAS_COST_PER_ORDER
        if outcome.share > 0:
            world.driver.at(at(now, outcome.delay_hours), lambda t: self._arrive(t, order_id))
        give_up = at(deliver_by, GIVE_UP_HOURS)
        world.driver.at(give_up, lambda t: self._release(t, order_id))

    def _arrive(self, now: datetime, order_id: str) -> None:
        """The supplier's driver brings this order (all of it, or the share that came).

        The contract: the buyer pays for every unit delivered at the order's agreed
        unit price. What fits goes into the slots, counted by the machine's sensors
        and paid through ``match_delivery``; what does not fit was still delivered,
        so it is paid too and written off (``returned``). A unit in a slot that the
        count missed is the supplier's loss (a ``gift`` lot, recorded as one).
        """
        placed = self.open.get(order_id)
        if placed is None:
            return  # released before it came: the driver is turned away
        world = self.world
        add = {
            line.slot_id: delivered_quantity(line.quantity, placed.outcome.share)
            for line in placed.order.lines
        }
        # Expired items come out in a door cycle of their own first, so that the
        # sensors' before-and-after counts see only the delivery.
        world.discard_expired(now)
        before = world.agent.stock()
        prices = {line.slot_id: line.unit_price for line in placed.order.lines}
        lots = world.visit(now, add, prices)
        after = world.agent.stock()
        increases: dict[str, int] = {}
        for slot in world.settings.slots:
            grew = (after[slot.id] or 0) - (before[slot.id] or 0)
            if slot.id in lots and grew > 0:
                increases[slot.gtin] = increases.get(slot.gtin, 0) + grew
        world.ledger.delivery_fees += world.market.specs[placed.supplier].delivery_fee
        world.ledger.deliveries += 1
        if not any(add.values()):
            return  # the driver came with nothing: the order stays open
        # The delivery note names this order: the count pays it, and only it.
        (match,), _extra = match_delivery(increases, [placed.order])
        self.open.pop(order_id)
        placed.delivered = dict(add)
        counted = dict(match.delivered)
        list_prices = world.market.list_prices[placed.supplier]
        led = world.ledger
        returned = 0
        for line in placed.order.lines:
            lot = lots.get(line.slot_id)
            fitted = 0 if lot is None else lot.quantity
            extra = add[line.slot_id] - fitted
            returned += extra * line.unit_price
            led.returned_units += extra
            led.returned_cost += extra * line.unit_price
            paid_here = min(fitted, counted.get(line.gtin, 0))
            counted[line.gtin] = counted.get(line.gtin, 0) - paid_here
            led.list_value += (paid_here + extra) * list_prices[line.gtin]
            if lot is not None and fitted > paid_here:
                self._gift(line.slot_id, lot, fitted - paid_here)
        due = match.amount_due
        if match.complete:
            # The agreed total may sit a few base units above its unit prices.
            led.rounding += due - sum(
                line.quantity * line.unit_price for line in placed.order.lines
            )
        placed.paid = due + returned
        led.purchases += placed.paid
        full = all(add[line.slot_id] >= line.quantity for line in placed.order.lines)
        self._learn(placed, on_time=now <= placed.deliver_by and full)

    def _gift(self, slot_id: int, lot: Lot, units: int) -> None:
        """Split ``units`` of ``lot`` off into a lot nobody paid for (the supplier's loss)."""
        led = self.world.ledger
        led.gift_units += units
        led.gift_value += units * lot.unit_cost
        led.stocked_value -= units * lot.unit_cost
        gift = Lot(lot.expires, units, 0, gift=True)
        lot.quantity -= units
        lot.received -= units
        lots = self.world.lots[slot_id]
        if lot.quantity == 0:
            lots.remove(lot)
            self.world.made.remove(lot)
        lots.append(gift)
        self.world.made.append(gift)

    def _release(self, now: datetime, order_id: str) -> None:
        placed = self.open.pop(order_id, None)
        if placed is not None:
            self._learn(placed, on_time=False)

    def _learn(self, placed: PlacedOrder, *, on_time: bool) -> None:
        closed, good = self.record.get(placed.supplier, (0, 0))
        self.record[placed.supplier] = (closed + 1, good + int(on_time))


def expired_by(stock: SlotStock, hours: float) -> int:
    """Units of a slot that will be past their date ``hours`` from now (they block
    the slot until a visit takes them out, and are no stock to sell)."""
    return min(stock.count, sum(units for left, units in stock.expiring if left <= hours))


def room_on_arrival(slot: SlotConfig, stock: SlotStock, hours: float) -> int:
    """Units an order arriving ``hours`` from now can add and surely fit: the expired
    ones go out first, nothing is assumed sold, units on order come too."""
    return max(slot.capacity - (stock.count - expired_by(stock, hours)) - stock.on_order, 0)


class TelemetryPolicy(Buyer):
    """Reorder point from live stock; one supplier (the incumbent), its list price.

    Reorder point per slot: mean daily sales of the last four weeks over the lead
    time plus one review, plus two standard deviations (Poisson), against the
    slot's position: its count, less the units that will be past their date when
    an order arrives. When a slot with nothing on order is at or below it (and
    below its target), every slot is topped up to its target: capacity,
    a perishable's what sells within its shelf life, never more than surely fits
    on arrival. Orders on chain,
    as the agent does (it pays the same gas).
    """

    name = "telemetry"
    on_chain = True
    window = timedelta(days=28)
    z = 2.0

    def install(self) -> None:
        self.every(REVIEW_EVERY, self.world.start + REVIEW_EVERY + REVIEW_LAG, self.review)

    @staticmethod
    def target(slot: SlotConfig, rates: Mapping[int, float]) -> int:
        """Capacity; a perishable's what sells within its shelf life (at least one)."""
        if slot.shelf_life_days is not None and slot.shelf_life_days <= 7:
            return max(min(slot.capacity, math.ceil(rates[slot.id] * slot.shelf_life_days)), 1)
        return slot.capacity

    def review(self, now: datetime) -> None:
        world = self.world
        shelf = self.shelf(now)
        if shelf is None:
            return
        supplier = world.market.specs[world.scenario.incumbent]
        lead = supplier.lead_time_hours
        rates = self.daily_sales(now, self.window)
        horizon = (lead + REVIEW_EVERY.total_seconds() / 3600) / 24
        position: dict[int, int] = {}
        low = False
        for slot in world.settings.slots:
            held = shelf[slot.id]
            if held.fault is not None:
                continue  # a slot in fault never orders by itself (nor is topped up)
            position[slot.id] = held.count - expired_by(held, lead)
            mean = rates[slot.id] * horizon
            point = min(math.ceil(mean + self.z * math.sqrt(mean)), self.target(slot, rates) - 1)
            if held.on_order == 0 and position[slot.id] <= point:
                low = True  # (a slot waiting for its order does not order again)
        if not low:
            return
        prices = world.market.list_prices[supplier.name]
        lines: list[OrderLine] = []
        for slot in world.settings.slots:
            if slot.id not in position:
                continue
            target = self.target(slot, rates)
            held = shelf[slot.id]
            wanted = target - position[slot.id] - held.on_order
            quantity = min(wanted, room_on_arrival(slot, held, lead))
            if quantity > 0:
                lines.append(OrderLine(slot.gtin, slot.id, quantity, prices[slot.gtin]))
        if lines:
            amount = sum(line.quantity * line.unit_price for line in lines)
            self.place(now, supplier.name, tuple(lines), amount, at(now, lead))


@dataclass(frozen=True, slots=True)
class AgentTuning:
    """The agent's knobs: the planner's and the buyer's public parameters, by default
    the machine's own (``planner`` decides whether to order, ``fill`` sizes the order:
    see ``plan_restock``)."""

    planner: PlannerConfig = field(
        default_factory=lambda: PlannerConfig(review_hours=REVIEW_EVERY.total_seconds() / 3600)
    )
    fill: PlannerConfig | None = FILL
    target_margin_ppm: int = 300_000
    buyer: BuyerPolicy = field(default_factory=BuyerPolicy)
    reliability_prior: float = 0.9
    prior_weight: float = 5.0


def machine_tuning(settings: Settings) -> AgentTuning:
    """The agent's knobs as the machine's config sets them: the owners' waste penalty
    in both planner passes, as ``device.vending.restock`` plans on the machine."""
    tuning = AgentTuning()
    waste = settings.agent.waste_penalty
    return replace(
        tuning,
        planner=replace(tuning.planner, waste_penalty=waste),
        fill=None if tuning.fill is None else replace(tuning.fill, waste_penalty=waste),
    )


class AgentPolicy(Buyer):
    """custobot: forecast from its own sales, plan, negotiate with every supplier, pay on count."""

    name = "agent"
    on_chain = True

    def __init__(self, world: World, tuning: AgentTuning | None = None) -> None:
        super().__init__(world)
        self.tuning = tuning or machine_tuning(world.settings)
        self.reliability_prior = self.tuning.reliability_prior
        self.prior_weight = self.tuning.prior_weight
        self.models = DemandModels([s.id for s in world.settings.slots], world.start)
        self.paid: dict[str, int] = {}  # last unit price paid per GTIN
        self._empty: dict[int, list[Interval]] = {}
        self._empty_open: dict[int, datetime] = {}
        self.needs = 0
        self.no_deal = 0
        self._forecasts: dict[int, Forecast] = {}
        self._marked_share = 0.0  # marked-down sales' list-price shares not yet counted
        world.on_restocked(self._refilled)
        world.agent.expected = self._expected

    def install(self) -> None:
        self.every(REVIEW_EVERY, self.world.start + REVIEW_EVERY + REVIEW_LAG, self.review)

    def _refilled(self, now: datetime, slot_id: int) -> None:
        since = self._empty_open.pop(slot_id, None)
        if since is not None:
            self._empty.setdefault(slot_id, []).append((since, now))

    def _observe(self, now: datetime) -> None:
        """Feed the hours completed since the last review; empty spans are censored demand."""
        world = self.world
        start, end = self.models.observed_until, floor_hour(now)
        with world.store.snapshot() as db:
            sold = repo.sale_times_since(db, start)
        sales = [(t, slot) for t, slot, _ in sold]
        for slot_id, count in world.agent.stock().items():
            if count == 0 and slot_id not in self._empty_open:
                last = [t for t, slot in sales if slot == slot_id]
                self._empty_open[slot_id] = max(last) if last else now
        if end <= start:
            return
        spans = {slot: list(v) for slot, v in self._empty.items()}
        for slot, since in self._empty_open.items():
            spans.setdefault(slot, []).append((since, now))
        listed = {s.id: s.retail_price for s in world.settings.slots}
        before_end = [sale for sale in sold if sale[0] < end]
        demand, self._marked_share = demand_at_list(before_end, listed, self._marked_share)
        self.models.observe(demand, end, spans)
        self._empty = {slot: [(a, b) for a, b in v if b > end] for slot, v in self._empty.items()}

    def _expected(self, now: datetime) -> dict[int, Callable[[float], float]]:
        """Per slot, units the last forecast expects to sell in the next ``h`` hours."""

        def ahead(forecast: Forecast) -> Callable[[float], float]:
            past = max((now - forecast.start).total_seconds() / 3600, 0.0)
            done = forecast.expected(past)
            return lambda hours: forecast.expected(past + hours) - done

        return {slot: ahead(f) for slot, f in self._forecasts.items()}

    def review(self, now: datetime) -> None:
        world = self.world
        self._observe(now)
        stock = self.shelf(now)
        if stock is None:
            return
        market = world.market
        names = sorted(market.specs)
        fee = max(market.specs[n].delivery_fee for n in names)
        economics = Economics(
            target_margin_ppm=self.tuning.target_margin_ppm,
            unit_costs=dict(self.paid),
            order_cost=fee + GAS_COST_PER_ORDER,
        )
        forecasts = self.models.forecasts(now)
        self._forecasts = forecasts
        world.agent.reprice(now)  # markdowns (when on) from this forecast
        options = [market.option(n, self.belief(n)) for n in names]
        slots_cfg = world.settings.slots
        t = self.tuning
        decided = plan_restock(
            now, slots_cfg, stock, forecasts, options, economics, t.planner, t.fill
        )
        if not decided.needs:
            return
        # Every supplier is asked anyway: the planner's batches become one RFQ, one delivery.
        lines = [line for need in decided.needs for line in need.lines]
        items: dict[str, int] = {}
        for line in lines:
            items[line.gtin] = items.get(line.gtin, 0) + line.quantity
        deliver_by = min(need.deliver_by for need in decided.needs)
        self.needs += 1
        deal = market.negotiate(
            items,
            now=now,
            deliver_by=deliver_by,
            reservation=sum(need.reservation for need in decided.needs),
            urgency=max(need.urgency for need in decided.needs),
            reliabilities={n: self.belief(n) for n in names},
            policy=self.tuning.buyer,
        )
        if deal is None:
            self.no_deal += 1
            return
        ordered = tuple(
            OrderLine(line.gtin, line.slot_id, line.quantity, deal.unit_prices[line.gtin])
            for line in lines
        )
        for bought in ordered:
            self.paid[bought.gtin] = bought.unit_price
        self.place(now, deal.supplier, ordered, deal.amount, deliver_by)


class OraclePolicy(Policy):
    """An upper bound: knows every future customer and every supplier's floor price.

    It buys from the supplier with the lowest floors at the floor price, and its
    deliveries come exactly when planned and complete. A visit comes just
    before the first customer who would find a slot empty, and fills each slot
    to capacity, perishables only with what will sell before they expire. It
    pays the delivery fee and gas per order like the agent. A heuristic bound,
    not a proven optimum: it never trades a short stockout for a visit saved.
    """

    name = "oracle"
    on_chain = True
    horizon = timedelta(days=28)

    def install(self) -> None:
        world = self.world
        end = world.start + timedelta(days=world.days) + self.horizon
        self._arrivals: dict[int, list[datetime]] = {s.id: [] for s in world.settings.slots}
        for arrival in world.customers.arrivals(world.start, end):  # the whole future, once
            self._arrivals[arrival.slot_id].append(arrival.when)
        self._schedule(world.start)

    def _future(self, now: datetime) -> dict[int, list[datetime]]:
        """Every customer of each slot from ``now`` to the horizon, in time order."""
        until = now + self.horizon
        return {
            slot: times[bisect.bisect_left(times, now) : bisect.bisect_left(times, until)]
            for slot, times in self._arrivals.items()
        }

    def _schedule(self, now: datetime) -> None:
        world = self.world
        coming = self._future(now)
        first_lost = now + self.horizon
        for slot_id, times in coming.items():
            stock = world.physics.stock(slot_id)
            if len(times) > stock:
                first_lost = min(first_lost, times[stock])
        when = max(now + timedelta(seconds=1), first_lost - timedelta(seconds=1))
        if when < world.start + timedelta(days=world.days):
            world.driver.at(when, self.visit)

    def visit(self, now: datetime) -> None:
        world = self.world
        market = world.market
        supplier = market.cheapest_floor()
        floors = market.floor_prices[supplier]
        world.discard_expired(now)
        coming = self._future(now)
        add: dict[int, int] = {}
        for slot in world.settings.slots:
            stock = world.physics.stock(slot.id)
            quantity = slot.capacity - stock
            if slot.shelf_life_days is not None:
                expires = now + timedelta(days=slot.shelf_life_days)
                sells = sum(1 for t in coming[slot.id] if t < expires)
                quantity = min(quantity, sells - stock)
            if quantity > 0:
                add[slot.id] = quantity
        lots = world.visit(now, add, world.unit_costs(floors))
        for slot_id, lot in lots.items():
            gtin = world.settings.slot(slot_id).gtin
            world.ledger.purchases += lot.quantity * lot.unit_cost
            world.ledger.list_value += lot.quantity * market.list_prices[supplier][gtin]
        if lots:
            world.ledger.orders += 1
            world.ledger.deliveries += 1
            world.ledger.gas += GAS_COST_PER_ORDER
            world.ledger.delivery_fees += market.specs[supplier].delivery_fee
        self._schedule(now)


def make_policy(name: str, world: World, tuning: object | None = None) -> Policy:
    """The policy ``name`` on ``world``; ``tuning``: an ``AgentTuning`` for the agent,
    ``ClassicParams`` for the classic policies (their committed tuning otherwise)."""
    from device.vending.sim.classic import ClassicNegotiatingPolicy, ClassicParams, ClassicPolicy

    if name == "route":
        return RoutePolicy(world)
    if name == "telemetry":
        return TelemetryPolicy(world)
    if name in ("classic-list", "classic-neg"):
        params = tuning if isinstance(tuning, ClassicParams) else None
        kind = ClassicPolicy if name == "classic-list" else ClassicNegotiatingPolicy
        return kind(world, params)
    if name == "agent":
        return AgentPolicy(world, tuning if isinstance(tuning, AgentTuning) else None)
    if name == "oracle":
        return OraclePolicy(world)
    raise ValueError(f"unknown policy {name!r}; expected one of {', '.join(POLICIES)}")


__all__ = [
    "POLICIES",
    "AgentPolicy",
    "AgentTuning",
    "Buyer",
    "Ledger",
    "OraclePolicy",
    "Policy",
    "RoutePolicy",
    "Sample",
    "TelemetryPolicy",
    "World",
    "make_policy",
]
