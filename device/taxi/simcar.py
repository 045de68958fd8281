"""A simulated car for the demo and the tests: the physical truth the taxi's agent only
ever sees through the CAN bus (and the GPS), and the sellers' physical acts.

It drives the errands the agent sends it to (a ride; a visit to a charging station,
a cleaner or a workshop), moving its odometer, energy counters, charge, cabin flag
and position with time, and sends its state as the DBC's frames on the bus (and, if
given a GPS writer, NMEA fixes) every ``step``. What a seller delivers at a visit is the
world's choice (``share_of`` a site: 1.0 honest, 0.5 half, 0.0 nothing), not the agent's.
With ``path`` the truth is a JSON file replaced atomically at every change, so the car
outlives the agent's process being killed (the crash test).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import can

from device.taxi.gps import distance_m, rmc_sentence
from device.taxi.upkeep import UpkeepKind
from device.taxi.vehicle import ChargingState, VehicleEcu, VehicleState

LatLon = tuple[float, float]
SPEED_M_S = 8.0  # city average with stops
WH_PER_M = 0.17
CHARGER_W = 50_000
CLEANING_S = 900
SERVICE_S = 3600
DETOUR = 1.3


@dataclass
class Truth:
    """What is physically so (JSON-serialisable)."""

    soc_permille: int = 600
    energy_charged_wh: int = 0
    energy_used_wh: int = 0
    odometer_m: int = 0
    cabin_dirty: bool = False
    cabin_cleanings: int = 0
    service_tasks_done: int = 0
    lat: float = 40.7549
    lon: float = -73.9840
    charging: str = ChargingState.IDLE.value
    errand: str | None = None
    kind: str | None = None  # "trip" or an upkeep kind
    site: str | None = None
    target: list[float] = field(default_factory=list)  # [from lat, lon, to lat, lon]
    total: float = 0.0  # metres, Wh or seconds of the errand
    quantity: int = 0  # what the agent ordered (maintenance: tasks)
    progress: float = 0.0
    done: list[str] = field(default_factory=list)
    rides: int = 0


class SimulatedCar:
    """The agent's :class:`device.taxi.agent.Car` on a virtual CAN bus."""

    def __init__(
        self,
        bus: can.BusABC,
        *,
        capacity_wh: int = 60_000,
        path: Path | None = None,
        share_of: Mapping[str, float] | None = None,
        dirty_every: int = 5,
        gps: Callable[[bytes], object] | None = None,
    ) -> None:
        self.bus = bus
        self.ecu = VehicleEcu(bus)
        self.capacity_wh = capacity_wh
        self.path = path
        self.share_of = dict(share_of or {})
        self.dirty_every = dirty_every
        self.gps = gps
        self.truth = Truth(**json.loads(path.read_text())) if path and path.exists() else Truth()

    # -- what the agent asks --------------------------------------------------------

    def errand(self) -> str | None:
        return self.truth.errand

    def drive(self, errand: str, pickup: LatLon, dropoff: LatLon) -> None:
        t = self.truth
        if errand in t.done or t.errand == errand:
            return
        to_pickup = distance_m(t.lat, t.lon, *pickup)
        ride = distance_m(*pickup, *dropoff)
        t.charging = ChargingState.IDLE.value  # unplugged
        # The position moves on the straight line to the drop-off, never faster than
        # the street distance is driven (the GPS's plausibility check holds).
        self._start(errand, "trip", None, DETOUR * (to_pickup + ride), [t.lat, t.lon, *dropoff])

    def visit(self, errand: str, kind: UpkeepKind, site: str, quantity: int) -> None:
        t = self.truth
        if errand in t.done or t.errand == errand:
            return
        share = self.share_of.get(site, 1.0)
        if kind is UpkeepKind.CHARGING:
            total = float(int(quantity * share))
        elif kind is UpkeepKind.CLEANING:
            total = float(CLEANING_S)
        else:
            total = float(SERVICE_S)
        t.quantity = quantity
        if kind is UpkeepKind.CHARGING:
            t.charging = ChargingState.CHARGING.value
        self._start(errand, kind.value, site, total, [t.lat, t.lon, t.lat, t.lon])

    def _start(
        self, errand: str, kind: str, site: str | None, total: float, at: list[float]
    ) -> None:
        t = self.truth
        t.errand, t.kind, t.site, t.target, t.total, t.progress = errand, kind, site, at, total, 0.0
        self._save()

    # -- physics ----------------------------------------------------------------------

    def step(self, now: datetime, dt_s: float) -> None:
        """Advance ``dt_s`` seconds and send what the ECUs (and GPS) say now."""
        t = self.truth
        if t.errand is not None:
            self._advance(dt_s)
        self.ecu.send(self.state())
        if self.gps is not None:
            self.gps((rmc_sentence(t.lat, t.lon, now) + "\r\n").encode())

    def _advance(self, dt_s: float) -> None:
        t = self.truth
        if t.kind == "trip":
            metres = min(SPEED_M_S * dt_s, t.total - t.progress)
            t.progress += metres
            t.odometer_m += int(metres)
            wh = int(metres * WH_PER_M)
            t.energy_used_wh += wh
            t.soc_permille = max(0, t.soc_permille - wh * 1000 // self.capacity_wh)
            share = 1.0 if t.total <= 0 else t.progress / t.total
            (a_lat, a_lon, b_lat, b_lon) = t.target
            t.lat, t.lon = a_lat + (b_lat - a_lat) * share, a_lon + (b_lon - a_lon) * share
        elif t.kind == UpkeepKind.CHARGING.value:
            wh = int(min(CHARGER_W * dt_s / 3600, t.total - t.progress))
            t.progress += wh
            t.energy_charged_wh += wh
            t.soc_permille = min(1000, t.soc_permille + wh * 1000 // self.capacity_wh)
        else:
            t.progress = min(t.total, t.progress + dt_s)
        if t.progress >= t.total:
            self._finish()
        self._save()

    def _finish(self) -> None:
        t = self.truth
        share = self.share_of.get(t.site or "", 1.0)
        if t.kind == "trip":
            t.rides += 1
            if self.dirty_every and t.rides % self.dirty_every == 0:
                t.cabin_dirty = True
        elif t.kind == UpkeepKind.CHARGING.value:
            t.charging = ChargingState.COMPLETE.value
        elif t.kind == UpkeepKind.CLEANING.value and share >= 1.0:
            t.cabin_cleanings += 1
            t.cabin_dirty = False
        elif t.kind == UpkeepKind.MAINTENANCE.value:
            t.service_tasks_done += int(t.quantity * share)
        assert t.errand is not None
        t.done.append(t.errand)
        t.errand, t.kind, t.site = None, None, None

    def state(self) -> VehicleState:
        t = self.truth
        return VehicleState(
            soc_permille=t.soc_permille,
            charging=ChargingState(t.charging),
            energy_charged_wh=t.energy_charged_wh,
            energy_used_wh=t.energy_used_wh,
            odometer_m=t.odometer_m,
            cabin_dirty=t.cabin_dirty,
            cabin_cleanings=t.cabin_cleanings,
            service_tasks_done=t.service_tasks_done,
        )

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self.truth)))
        os.replace(tmp, self.path)
