"""The taxi's agent loop: one tick reads the vehicle, drives booked rides, and buys and
confirms its upkeep, with every step durable so a restart (or a SIGKILL) picks up
exactly where it stopped.

The :class:`VehiclePoller` is the one owner of the CAN bus and the GPS; each tick
publishes its snapshot (``TaxiAgent.snapshot``), and every decision reads only that
snapshot — a stale or faulty source forms no need and starts or counts no delivery.

An upkeep purchase is a *job* row (``taxi_upkeep_job``) in the machine's SQLite file,
written before anything else happens, and moved along one step per durable fact:

``asking`` (need written; negotiating) → ``ordered`` (the order row exists) →
``at_site`` (the counter's baseline is stored, then the car is sent) → ``counted``
(what the car's counter saw is owed to the order, in the same transaction) → ``closed``.

The need's key is the job's, so a restart finds the order already placed instead of
placing a second; the count and the ``confirm`` intent commit together, so a delivery
is paid once. Rides come from the rider API (:mod:`device.taxi.app`); the loop sends the
car to each booked trip in turn and moves it on through the ride desk (picked up, then
completed when the car is done with it). Fares need no deposit: riders pay the
ProfitCenter directly (``device.taxi.payments``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa
import structlog
from sqlmodel import Field, Session, SQLModel, col, select

from device.procurement.models import OrderState, PurchaseOrder
from device.store.db import Store
from device.store.models import EnumText, UTCDateTime
from device.taxi.charging import (
    TimeOfUse,
    charge_need,
    cleaning_need,
    counter,
    delivered,
    maintenance_need,
)
from device.taxi.rides import RideDesk
from device.taxi.store import TaxiQuote, TaxiTrip, TripState
from device.taxi.upkeep import Provider, Upkeep, UpkeepKind, UpkeepNeed, Window
from device.taxi.vehicle import VehiclePoller, VehicleSnapshot, battery_wh

log = structlog.get_logger()
LatLon = tuple[float, float]
ENDED = (OrderState.SETTLED, OrderState.DISPUTED, OrderState.REJECTED, OrderState.RELEASED)
NOT_PLACED = (OrderState.FAILED,)


class JobState(StrEnum):
    ASKING = "asking"  # need written; negotiating (again, after a restart)
    ORDERED = "ordered"  # the order row exists; waiting for it to open on-chain
    AT_SITE = "at_site"  # baseline stored; the car is (sent) at the seller's site
    COUNTED = "counted"  # what the counter saw is owed; the confirm intent is written
    CLOSED = "closed"  # settled, disputed, refused or no deal: a new need may form


class UpkeepJob(SQLModel, table=True):
    """One upkeep purchase as the loop follows it; ``need_key`` is the order's."""

    __tablename__ = "taxi_upkeep_job"
    __table_args__ = (sa.UniqueConstraint("need_key", name="uq_taxi_upkeep_job_need"),)

    id: int | None = Field(default=None, primary_key=True)
    need_key: str = Field(sa_type=sa.String(120))
    kind: UpkeepKind = Field(sa_type=EnumText(UpkeepKind))
    site: str = Field(sa_type=sa.String(64))
    product: str = Field(sa_type=sa.String(14))
    quantity: int = Field(sa_type=sa.BigInteger)
    window_start: int
    window_end: int
    reservation: int = Field(sa_type=sa.BigInteger)
    odometer_m: int | None = Field(default=None, sa_type=sa.BigInteger)  # when the need formed
    order_id: str | None = Field(default=None, sa_type=sa.String(66))
    baseline: int | None = Field(default=None, sa_type=sa.BigInteger)
    seen: int | None = Field(default=None, sa_type=sa.BigInteger)
    state: JobState = Field(sa_type=EnumText(JobState))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def need(self) -> UpkeepNeed:
        return UpkeepNeed(
            self.kind,
            self.site,
            self.product,
            self.quantity,
            Window(self.window_start, self.window_end),
            self.reservation,
        )


def create_tables(engine: sa.Engine) -> None:
    """The loop's own table, next to the machine's (same file, same conventions)."""
    table = sa.inspect(UpkeepJob).local_table
    assert isinstance(table, sa.Table)
    SQLModel.metadata.create_all(engine, tables=[table])


class Car(Protocol):
    """Where the loop sends the car: the route planner in a car, the simulated car in
    the demo and tests. Both calls are idempotent by errand id."""

    def drive(self, errand: str, pickup: LatLon, dropoff: LatLon) -> None: ...

    def visit(self, errand: str, kind: UpkeepKind, site: str, quantity: int) -> None: ...

    def errand(self) -> str | None:
        """The errand the car is on, ``None`` when idle."""
        ...


FLAT_ENERGY_PRICES = TimeOfUse(per_kwh=(300_000,) * 24)
"""0.30 USDC per kWh at every hour: the most the taxi pays when no tariff is configured."""


@dataclass(frozen=True, slots=True)
class UpkeepRules:
    """When the taxi buys what, and for how much at most (owners' settings)."""

    charge_below_permille: int = 250
    charge_target_permille: int = 800
    capacity_wh: int = 60_000
    energy_prices: TimeOfUse = FLAT_ENERGY_PRICES
    clean_every_rides: int = 12
    cleaning_reservation: int = 20_000_000
    service_every_km: int = 15_000
    service_tasks: int = 4
    service_reservation: int = 150_000_000
    window: timedelta = timedelta(hours=2)
    retry_after: timedelta = timedelta(hours=1)  # after no deal or a refused order


def trip_errand(trip_id: str) -> str:
    return f"trip:{trip_id}"


class TaxiAgent:
    """The taxi's decisions on one tick: rides, upkeep needs, deliveries, the chain."""

    def __init__(
        self,
        store: Store,
        rides: RideDesk,
        poller: VehiclePoller,
        car: Car,
        upkeep: Upkeep,
        providers: Sequence[Provider],
        rules: UpkeepRules | None = None,
    ) -> None:
        self.store = store
        self.rides = rides
        self.rides_db = rides.engine
        self.poller = poller
        self.car = car
        self.upkeep = upkeep
        self.providers = list(providers)
        self.rules = rules or UpkeepRules()
        self.snapshot: VehicleSnapshot | None = None
        create_tables(store.engine)

    def tick(self, now: datetime) -> VehicleSnapshot:
        """Read the vehicle once and act on that reading only."""
        snapshot = self.poller.poll(now)
        self.snapshot = snapshot
        self.upkeep.procurement.reconcile(now)
        for job in self.jobs(open_only=True):
            self._follow(now, job, snapshot)
        self._form_needs(now, snapshot)
        self._drive_rides(now)  # upkeep first: an open order sends the car before a ride
        self.upkeep.procurement.settle(now)
        return snapshot

    # -- rides --------------------------------------------------------------------

    def _drive_rides(self, now: datetime) -> None:
        """Finish the ride the car is done with; send it to the next booked one."""
        errand = self.car.errand()
        at = int(now.timestamp())
        with Session(self.rides_db) as session:
            riding = session.exec(
                select(TaxiTrip).where(TaxiTrip.state == TripState.PICKED_UP)
            ).all()
            booked = session.exec(
                select(TaxiTrip)
                .where(TaxiTrip.state == TripState.BOOKED)
                .order_by(col(TaxiTrip.accepted_at), col(TaxiTrip.id))
            ).first()
        for trip in riding:
            if errand != trip_errand(trip.id):  # the car is done with it
                self.rides.advance(trip.id, TripState.COMPLETED, at)
                log.info("taxi_trip_completed", trip=trip.id)
        if booked is None or errand is not None:  # the car is busy (a ride, an upkeep visit)
            return
        with Session(self.rides_db) as session:
            quote = session.get(TaxiQuote, booked.quote_id)
        assert quote is not None
        # The car is sent first (idempotent), then the trip moved on: a crash in between
        # sends it again to the same errand, never completes a trip it did not drive.
        self.car.drive(
            trip_errand(booked.id),
            (quote.pickup_lat, quote.pickup_lon),
            (quote.dropoff_lat, quote.dropoff_lon),
        )
        self.rides.advance(booked.id, TripState.PICKED_UP, at)
        log.info("taxi_trip_started", trip=booked.id, now=now.isoformat())

    def battery_wh(self, now: int) -> int | None:
        """The pack's energy by the last tick's reading, for the rider desk (``None``: unknown, stale)."""
        return battery_wh(self.snapshot, self.rules.capacity_wh, now)

    def rides_completed_since(self, since: datetime | None) -> int:
        """Trips completed (by the loop's clock, which moved them) since ``since``."""
        with Session(self.rides_db) as session:
            query = (
                select(sa.func.count())
                .select_from(TaxiTrip)
                .where(TaxiTrip.state == TripState.COMPLETED)
            )
            if since is not None:
                query = query.where(col(TaxiTrip.updated_at) >= since)
            return int(session.exec(query).one())

    # -- upkeep -------------------------------------------------------------------

    def jobs(self, *, open_only: bool = False) -> list[UpkeepJob]:
        with self.store.read() as session:
            query = select(UpkeepJob).order_by(col(UpkeepJob.id))
            if open_only:
                query = query.where(UpkeepJob.state != JobState.CLOSED)
            return list(session.exec(query).all())

    def _form_needs(self, now: datetime, snapshot: VehicleSnapshot) -> None:
        """At most one open job per kind; a need only from a healthy reading."""
        jobs = self.jobs()
        waiting = {j.kind for j in jobs if j.state is not JobState.CLOSED}
        # A kind that got no deal (or a refused order) waits before asking again.
        waiting |= {
            j.kind for j in jobs if j.seen is None and now - j.updated_at < self.rules.retry_after
        }
        start = int(now.timestamp())
        window = Window(start, start + int(self.rules.window.total_seconds()))
        for kind in UpkeepKind:
            if kind in waiting:
                continue
            provider = next((p for p in self.providers if p.kind is kind), None)
            if provider is None:
                continue
            need = self._need(kind, snapshot, provider, window)
            if need is not None:
                self._open_job(now, need, snapshot)

    def _need(
        self, kind: UpkeepKind, snapshot: VehicleSnapshot, provider: Provider, window: Window
    ) -> UpkeepNeed | None:
        rules = self.rules
        if kind is UpkeepKind.CHARGING:
            return charge_need(
                snapshot,
                below_permille=rules.charge_below_permille,
                target_permille=rules.charge_target_permille,
                capacity_wh=rules.capacity_wh,
                station=provider,
                window=window,
                tariff=rules.energy_prices,
            )
        last = self._last_closed(kind)
        if kind is UpkeepKind.CLEANING:
            return cleaning_need(
                snapshot,
                rides_since_cleaning=self.rides_completed_since(last.created_at if last else None),
                every_rides=rules.clean_every_rides,
                cleaner=provider,
                window=window,
                reservation=rules.cleaning_reservation,
            )
        return maintenance_need(
            snapshot,
            last_service_m=(last.odometer_m or 0) if last else 0,
            every_km=rules.service_every_km,
            tasks=rules.service_tasks,
            workshop=provider,
            window=window,
            reservation=rules.service_reservation,
        )

    def _last_closed(self, kind: UpkeepKind) -> UpkeepJob | None:
        """The last job of ``kind`` that was delivered (counted), for the next one's due."""
        with self.store.read() as session:
            return session.exec(
                select(UpkeepJob)
                .where(UpkeepJob.kind == kind, col(UpkeepJob.seen).is_not(None))
                .order_by(col(UpkeepJob.id).desc())
            ).first()

    def _open_job(self, now: datetime, need: UpkeepNeed, snapshot: VehicleSnapshot) -> None:
        job = UpkeepJob(
            need_key=need.key,
            kind=need.kind,
            site=need.site,
            product=need.product,
            quantity=need.quantity,
            window_start=need.window.start,
            window_end=need.window.end,
            reservation=need.reservation,
            odometer_m=snapshot.odometer_m,
            state=JobState.ASKING,
            created_at=now,
            updated_at=now,
        )
        with self.store.write() as session:
            session.add(job)
        log.info("taxi_upkeep_need", need=need.key, kind=need.kind.value, quantity=need.quantity)
        self._follow(now, job, snapshot)

    def _follow(self, now: datetime, job: UpkeepJob, snapshot: VehicleSnapshot) -> None:
        """Move one job along as far as the durable facts allow."""
        if job.state is JobState.ASKING:
            order = self.upkeep.buy(now, job.need, self.providers)
            if order is None:
                self._move(job, now, JobState.CLOSED)
                return
            self._move(job, now, JobState.ORDERED, order_id=order.order_id)
        order = self._order(job)
        if order is None:
            return
        if order.state in (*ENDED, *NOT_PLACED) and job.state is not JobState.AT_SITE:
            self._move(job, now, JobState.CLOSED)  # paid, disputed, refused or released
            return
        if job.state is JobState.ORDERED:
            if order.state is not OrderState.OPEN or self.car.errand() is not None:
                return
            baseline = counter(job.kind, snapshot)
            if baseline is None:
                return  # wait for a reading to trust before the seller starts
            self._move(job, now, JobState.AT_SITE, baseline=baseline)
        if job.state is JobState.AT_SITE:
            assert job.baseline is not None
            if order.state is not OrderState.OPEN:  # released or disputed meanwhile
                self._move(job, now, JobState.CLOSED)
                return
            self.car.visit(order.order_id, job.kind, job.site, job.quantity)
            over = self.car.errand() != order.order_id or now.timestamp() >= job.window_end
            seen = delivered(job.kind, job.baseline, snapshot)
            if over and seen is not None:
                self._count(now, job, order, seen)

    def _count(self, now: datetime, job: UpkeepJob, order: PurchaseOrder, seen: int) -> None:
        """What the counter saw is owed to the order and the job counted, together."""
        with self.store.write() as session:
            self.upkeep.confirm(now, order, seen, session)
            self._move(job, now, JobState.COUNTED, session=session, seen=seen)
        log.info("taxi_upkeep_counted", need=job.need_key, order=order.order_id, units=seen)

    def _order(self, job: UpkeepJob) -> PurchaseOrder | None:
        with self.store.read() as session:
            return session.exec(
                select(PurchaseOrder).where(PurchaseOrder.order_id == job.order_id)
            ).first()

    def _move(
        self,
        job: UpkeepJob,
        now: datetime,
        state: JobState,
        *,
        session: Session | None = None,
        **values: int | str,
    ) -> None:
        if session is None:
            with self.store.write() as own:
                self._move(job, now, state, session=own, **values)
            return
        row = session.get(UpkeepJob, job.id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
            setattr(job, name, value)
        row.state = job.state = state
        row.updated_at = job.updated_at = now
        session.add(row)
        log.info("taxi_upkeep_job", need=job.need_key, state=state.value)
