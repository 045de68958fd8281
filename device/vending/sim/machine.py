"""A whole machine in simulation: mock pins, sensor physics, the real agent core.

Everything a customer or a route driver does goes through the physical layer
(mock pins moved by ``SensorPhysics``), and everything the machine knows comes
from its own sensors and store: the simulation only plays the world.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog

from device.drivers.simulation import SimulationDriver
from device.settings import Settings
from device.store.db import Store, open_store
from device.store.models import SaleState
from device.vending.agent import Agent
from device.vending.hardware.poller import HardwarePoller
from device.vending.restock import Restocking
from device.vending.sim.customers import Arrival, CustomerStream
from device.vending.sim.physics import PiMockFactory, SensorPhysics
from device.vending.sim.scenarios import Scenario
from device.vending.vend import VendError

log = structlog.get_logger()


@dataclass(slots=True)
class SimulationTotals:
    """What happened in the simulated world (the machine's own view is in its store)."""

    customers: int = 0
    sales: int = 0
    revenue: int = 0
    refunds: int = 0
    lost_sales: int = 0
    restock_visits: int = 0
    stockout_hours: float = 0.0
    sold_per_slot: dict[int, int] = field(default_factory=dict)


class SimulatedMachine:
    """The demo/simulation world around one real agent core.

    ``route_every`` is the restocking visit interval (a route driver filling every
    slot to capacity; the first visit happens at ``start``); ``None`` when the
    machine buys for itself through ``procurement`` (built on the machine's store). ``poll_every``
    replaces the configured sensor poll interval (every visit also polls).
    """

    def __init__(
        self,
        settings: Settings,
        scenario: Scenario,
        *,
        database: Path,
        start: datetime,
        seed: int = 0,
        speed: float | None = None,
        route_every: timedelta | None = timedelta(days=3, hours=12),
        poll_every: timedelta = timedelta(hours=1),
        durable: bool = False,
        procurement: Callable[[Store], Restocking] | None = None,
        driver: SimulationDriver | None = None,
        initial_stock: Mapping[int, int] | None = None,
    ) -> None:
        # Simulated motors turn instantly: the pulse length is a property of real hardware.
        # Polling is thinned for long runs: each poll bit-bangs the mock SPI and echo pins.
        settings = settings.model_copy(
            update={
                "machine": settings.machine.model_copy(update={"motor_pulse_s": 0.0}),
                "agent": settings.agent.model_copy(
                    update={"poll_interval_s": int(poll_every.total_seconds())}
                ),
            }
        )
        self.settings = settings
        self.start = start
        self.driver = driver or SimulationDriver(start, speed=speed)
        self.factory = PiMockFactory()
        self.physics = SensorPhysics(settings, self.factory)
        self.poller = HardwarePoller(settings, pin_factory=self.factory)
        self.store = open_store(database, durable=durable)
        self.agent = Agent(
            settings,
            self.store,
            self.poller,
            None if procurement is None else procurement(self.store),
        )
        self.customers = CustomerStream(scenario.demand, scenario.site, seed=seed)
        self.totals = SimulationTotals(sold_per_slot={s.id: 0 for s in settings.slots})
        self._route_every = route_every
        self._initial_stock = dict(initial_stock or {})
        self._empty_since: dict[int, datetime] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.poller.close()
        self.physics.close()
        self.store.close()

    def route_visit(self, now: datetime) -> None:
        """A route driver opens the door, fills every slot to capacity, closes it."""
        self.physics.restock({s.id: s.capacity for s in self.settings.slots})
        self.totals.restock_visits += 1
        for since in self._empty_since.values():
            self.totals.stockout_hours += (now - since).total_seconds() / 3600
        self._empty_since.clear()
        self.agent.poll(now)  # sees the door visit end and records the recount

    def operator_visit(self, now: datetime, counts: Mapping[int, int]) -> None:
        """The operator fills slots by hand and reports the counts the machine cannot take."""
        self.agent.report_fill(dict(counts))
        self.physics.restock(counts)
        self.agent.poll(now)

    def customer(self, arrival: Arrival) -> None:
        """A customer wants one item from ``arrival.slot_id`` and pays by card."""
        self.totals.customers += 1
        slot_id = arrival.slot_id
        if self.physics.stock(slot_id) == 0:
            self.totals.lost_sales += 1
            self.agent.vend.turned_away(slot_id, arrival.when)  # the owners' lost sales
            return
        try:
            sale = self.agent.sell(arrival.when, slot_id)
        except VendError as exc:
            self.totals.lost_sales += 1
            log.info("vend_refused", slot=slot_id, reason=str(exc))
            return
        if sale.state == SaleState.COMPLETED:
            self.totals.sales += 1
            self.totals.revenue += sale.price
            self.totals.sold_per_slot[slot_id] += 1
        else:
            self.totals.refunds += 1
        if self.physics.stock(slot_id) == 0:
            self._empty_since[slot_id] = arrival.when

    def _arrive(self, arrival: Arrival, _now: datetime) -> None:
        self.customer(arrival)

    def _schedule_customers(self, now: datetime) -> None:
        """Queue one day of arrivals at a time, so a year never sits in memory at once."""
        day_end = now + timedelta(days=1)
        for arrival in self.customers.arrivals(now, day_end):
            self.driver.at(arrival.when, functools.partial(self._arrive, arrival))
        self.driver.at(day_end, self._schedule_customers)

    def run(self, days: float, on_advance: Callable[[datetime], None] | None = None) -> None:
        """Run the world and the agent for ``days`` of simulated time."""
        end = self.start + timedelta(days=days)
        if self.driver.now() == self.start:
            self.agent.start(self.start)
            self.agent.install(self.driver)
            if self._route_every is not None:
                self.route_visit(self.start)
                self.driver.every("route", self._route_every, self.route_visit)
            elif self._initial_stock:
                self.operator_visit(self.start, self._initial_stock)
            self._schedule_customers(self.start)
        self.driver.run_until(end, on_advance)
        for since in self._empty_since.values():
            self.totals.stockout_hours += (end - since).total_seconds() / 3600
        self._empty_since = {slot: end for slot in self._empty_since}
