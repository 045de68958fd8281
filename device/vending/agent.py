"""The agent core: one machine's decisions, driven by either clock.

The core owns nothing with a clock in it. A driver (``device.drivers``) calls
``poll(now)`` on a period and ``sell(now, ...)`` when a customer buys; the core
reads the hardware poller's snapshot and the store, acts, and publishes a typed
``MachineState`` that the demo table, the dashboard and the planner read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from device.drivers import Driver
from device.settings import SalesCountConfig, Settings, SwitchSensorConfig
from device.store import repo
from device.store.db import Store
from device.store.models import PaymentMethod, RecountSource, Sale, SaleState
from device.vending.hardware.poller import HardwarePoller, StockSnapshot
from device.vending.pricing.reprice import Expected, Repricer
from device.vending.restock import Restocking
from device.vending.vend import VendFlow

log = structlog.get_logger()


class PinVendHardware:
    """``VendHardware`` over the poller's motors and drop beam (real pins or mock pins)."""

    def __init__(self, poller: HardwarePoller, pulse_s: float) -> None:
        self.poller = poller
        self.pulse_s = pulse_s

    def arm_drop_sensor(self) -> None:
        self.poller.drop.arm()

    def run_motor(self, slot_id: int) -> None:
        self.poller.motors[slot_id].run(self.pulse_s, wait=True)

    def drop_seen(self) -> bool:
        return self.poller.drop.dropped()


@dataclass(frozen=True, slots=True)
class SlotState:
    slot_id: int
    name: str
    stock: int | None
    capacity: int
    sensor_count: int | None
    fault: str
    sold_today: int


@dataclass(frozen=True, slots=True)
class MachineState:
    """What the machine knows at ``at``; published after every poll and sale."""

    at: datetime
    slots: tuple[SlotState, ...]
    sales_today: int
    revenue_today: int
    refunds_today: int
    alerts: tuple[str, ...]
    door_open: bool


class Agent:
    """The machine's core: sells, recounts after restocking visits, publishes state."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        poller: HardwarePoller,
        procurement: Restocking | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.poller = poller
        self.procurement = procurement
        self.vend = VendFlow(
            store, PinVendHardware(poller, settings.machine.motor_pulse_s), settings.slots
        )
        self.pricing = Repricer(settings, store, self.vend)
        # What each fresh slot is expected to sell, for markdowns (a forecast); None:
        # the recent sales rate.
        self.expected: Callable[[datetime], Mapping[int, Expected]] | None = None
        self._last_poll: datetime | None = None
        self._reported_fill: dict[int, int] = {}
        self._announced: list[str] = []
        self.state: MachineState | None = None

    def install(self, driver: Driver) -> None:
        """Register the core's periodic jobs with a driver (real or simulated time)."""
        poll = timedelta(seconds=self.settings.agent.poll_interval_s)
        driver.every("poll", poll, self.poll)
        if self.procurement is not None:
            # A first look right after the first poll (a machine back from a power cut
            # should not wait a day to notice it is running out), then on the interval.
            driver.at(driver.now() + poll, self.plan)
            driver.every("plan", timedelta(hours=self.settings.agent.plan_interval_h), self.plan)

    def start(self, now: datetime) -> None:
        """Start-up: settle vends a crash interrupted, then take a first look at the slots."""
        snapshot = self.poller.poll(now, {})
        counts = {r.slot_id: r.count for r in snapshot.slots if r.usable and r.count is not None}
        settled = self.vend.resolve_pending(now, counts)
        if settled:
            log.warning("pending_vends_settled", count=len(settled))
        with self.store.write() as session:
            recounted = repo.last_recounts(session)
            for slot_id, count in counts.items():
                if slot_id not in recounted:
                    repo.record_recount(session, slot_id, count, RecountSource.SENSOR, now)
        self._last_poll = now
        self.pricing.restore()
        self._publish(now, snapshot)
        log.info("agent_started", device=self.settings.device_id, slots=len(self.settings.slots))

    def sell(
        self, now: datetime, slot_id: int, payment: PaymentMethod = PaymentMethod.CASHLESS
    ) -> Sale:
        """One vend through the real flow (instantaneous hardware: simulation and mock pins)."""
        sale = self.vend.vend(slot_id, now, payment)
        if sale.state == SaleState.COMPLETED and self.pricing.left:
            self.pricing.sold(now, slot_id)
        return sale

    def reprice(self, now: datetime) -> None:
        """Mark near-expiry fresh units down (or back to list) when the owners allow it."""
        if self.pricing.enabled:
            self.pricing.reprice(now, None if self.expected is None else self.expected(now))

    def poll(self, now: datetime) -> StockSnapshot:
        """Read every sensor; a restocking visit that ended is recorded as a recount."""
        since = self._last_poll or now
        with self.store.snapshot() as db:
            sold = repo.units_sold_since(db, since)
        snapshot = self.poller.poll(now, sold)
        self._last_poll = now
        if snapshot.door_visits_ended:
            self.restocked(now, snapshot)
            # Read again: a switch judged against the pre-visit estimate would look stuck.
            snapshot = self.poller.poll(now, {})
        elif self.procurement is not None:
            self.procurement.reconcile(now)
        self.reprice(now)
        self._publish(now, snapshot)
        return snapshot

    def restocked(
        self, now: datetime, snapshot: StockSnapshot, filled: dict[int, int] | None = None
    ) -> None:
        """After the door closed: recount, then pay the open orders for what arrived.

        Slots with a counting sensor are counted. A slot with only a switch or a
        sales count cannot be: ``filled`` reports what the visit left there;
        without it, a delivery is taken to bring what the announced orders (else
        all open orders) list for the slot, and a route visit (no procurement) to
        fill it to capacity.
        """
        filled = filled or self._reported_fill
        announced, self._reported_fill, self._announced = self._announced, {}, []
        if self.procurement is not None:
            self.procurement.reconcile(now)  # chain I/O before the write transaction
        expected = (
            self.procurement.on_order(announced or None) if self.procurement is not None else {}
        )
        if self.procurement is None:
            # Nothing owed: the plain-SQL transaction (an ORM session costs more than
            # the visit's seven statements; a simulated year has ~540 visits).
            with self.store.transaction() as db:
                increases = self._recount(db, now, snapshot, filled, expected)
        else:
            with self.store.write() as session:
                increases = self._recount(session, now, snapshot, filled, expected)
                # what it owes, durable with the count
                self.procurement.record_delivery(session, now, increases, announced or None)
        log.info("restock_recorded", added=sum(max(0, n) for n in increases.values()))
        if self.procurement is not None:
            self.procurement.settle(now)

    def _recount(
        self,
        db: repo.Db,
        now: datetime,
        snapshot: StockSnapshot,
        filled: Mapping[int, int],
        expected: Mapping[int, int],
    ) -> dict[int, int]:
        """Record every slot's count after a visit (in the caller's transaction); return
        what each slot gained over the store's estimate (``restocked`` has the rules)."""
        before = repo.stock_estimates(db, [s.id for s in self.settings.slots])
        increases: dict[int, int] = {}
        for cfg in self.settings.slots:
            reading = snapshot.slot(cfg.id)
            counts_itself = not isinstance(cfg.sensor, SwitchSensorConfig | SalesCountConfig)
            had = before[cfg.id] or 0
            if counts_itself and reading.usable and reading.count is not None:
                count, source = reading.count, RecountSource.SENSOR
            elif cfg.id in filled:
                count, source = filled[cfg.id], RecountSource.OPERATOR
            elif self.procurement is not None:
                count = min(cfg.capacity, had + expected.get(cfg.id, 0))
                source = RecountSource.RESTOCK
            else:
                count, source = cfg.capacity, RecountSource.RESTOCK
            repo.add_recount(db, cfg.id, count, source, now)
            if not counts_itself:
                self.poller.recount(cfg.id, count)
            increases[cfg.id] = count - had
        return increases

    def report_fill(self, filled: dict[int, int]) -> None:
        """An operator's count of what the coming visit leaves in the slots that cannot count."""
        self._reported_fill = dict(filled)

    def announce_delivery(self, order_id: str) -> None:
        """A supplier's driver names the order being delivered (delivery note, QR at the door).

        The visit is then matched to that order alone, and slots that cannot count
        are taken to receive what that order lists for them.
        """
        self._announced.append(order_id)

    def plan(self, now: datetime) -> None:
        """The daily buying decision (and yesterday's revenue into the treasury)."""
        if self.procurement is None:
            return
        snapshot = self.poller.last or self.poll(now)
        self.procurement.deposit_revenue(now, now - timedelta(days=1))
        self.procurement.distribute(now)
        self.procurement.run(now, snapshot)

    def stock(self) -> dict[int, int | None]:
        """Items per slot as the store knows them (last recount minus sales since)."""
        with self.store.snapshot() as db:
            return repo.stock_estimates(db, [s.id for s in self.settings.slots])

    def _publish(self, now: datetime, snapshot: StockSnapshot) -> None:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        with self.store.snapshot() as db:
            today = repo.sales_today(db, day)
            alerts = repo.open_alert_messages(db)
            stock = repo.stock_estimates(db, [s.id for s in self.settings.slots])
        completed = SaleState.COMPLETED.value
        sold = {slot: n for (slot, state), (n, _) in today.items() if state == completed}
        alerts += [f"slot {a.slot_id}: {a.fault.value} ({a.detail})" for a in snapshot.alerts]
        self.state = MachineState(
            at=now,
            slots=tuple(
                SlotState(
                    slot_id=cfg.id,
                    name=cfg.name,
                    stock=stock[cfg.id],
                    capacity=cfg.capacity,
                    sensor_count=snapshot.slot(cfg.id).count,
                    fault=snapshot.slot(cfg.id).fault.value,
                    sold_today=sold.get(cfg.id, 0),
                )
                for cfg in self.settings.slots
            ),
            sales_today=sum(sold.values()),
            revenue_today=sum(t for (_, state), (_, t) in today.items() if state == completed),
            refunds_today=sum(
                n for (_, state), (n, _) in today.items() if state == SaleState.REFUNDED.value
            ),
            alerts=tuple(alerts),
            door_open=snapshot.door_open,
        )
