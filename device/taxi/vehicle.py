"""The taxi's telemetry: CAN frames decoded from the project's DBC, and the GPS, in one snapshot.

One ``VehiclePoller`` owns the CAN bus and the GPS port. Each ``poll(now)`` drains both
without blocking, checks every value against the last accepted one (counters never go
back; SoC, odometer and position move no faster than physics allows) and publishes a
frozen ``VehicleSnapshot``. A source that sends garbage, jumps or falls silent is *stale*
on the snapshot until a good reading arrives, and a decision to buy (charging, cleaning)
reads only sources that are not — ``charge_needed`` and ``cleaning_needed`` say so.

The default bus is python-can's ``virtual`` interface (as gpiozero's MockFactory is for
vending); a car uses ``socketcan`` on ``can0``. Like the vending poller, it never reads
the wall clock: the driver passes ``now``.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Self

import can
import cantools
import cantools.database
import structlog

from device.taxi.errors import (
    ImplausibleJumpError,
    MalformedFrameError,
    StaleDataError,
    VehicleError,
)
from device.taxi.gps import SOURCE as GPS_SOURCE
from device.taxi.gps import Fix, NmeaReader, distance_m

log = structlog.get_logger()
DBC_PATH = Path(__file__).with_name("vehicle.dbc")

BATTERY = "BMS_Status"
ENERGY = "BMS_Energy"
ODOMETER = "VCU_Odometer"
CABIN = "BCM_Cabin"
UPKEEP = "BCM_Upkeep"
GPS = GPS_SOURCE
CAN_SOURCES = (BATTERY, ENERGY, ODOMETER, CABIN, UPKEEP)
SOURCES = (*CAN_SOURCES, GPS)


class ChargingState(StrEnum):
    IDLE = "idle"
    CHARGING = "charging"
    COMPLETE = "complete"
    FAULT = "fault"


_CHARGING = tuple(ChargingState)  # DBC value n is the n-th state


def load_dbc() -> cantools.database.can.Database:
    """The vehicle's message catalogue, shipped with the package."""
    db = cantools.database.load_file(str(DBC_PATH))
    assert isinstance(db, cantools.database.can.Database)
    return db


def open_bus(interface: str = "virtual", channel: str = "custobot-taxi") -> can.BusABC:
    """The vehicle bus: ``virtual`` by default, ``socketcan``/``can0`` in a car."""
    return can.Bus(interface=interface, channel=channel)


@dataclass(frozen=True, slots=True)
class Limits:
    """What physics allows between two accepted readings, and how old a reading may get."""

    max_age_s: float = 5.0
    soc_slack_permille: int = 20  # per frame, whatever the time between them
    soc_rate_permille_s: float = 1.0  # 0.1 %/s: 216 kW into a 60 kWh pack, more than it takes
    energy_slack_wh: int = 100
    energy_rate_wh_s: float = 120.0  # 430 kW
    odometer_slack_m: int = 100
    speed_m_s: float = 70.0  # 252 km/h; a taxi never drives this fast
    gps_slack_m: float = 200.0


@dataclass(frozen=True, slots=True)
class Fault:
    """One source in fault, for the operator; its data on the snapshot is stale."""

    source: str
    kind: str
    detail: str

    @classmethod
    def of(cls, exc: VehicleError) -> Fault:
        return cls(source=exc.source, kind=exc.kind, detail=exc.problem)


@dataclass(frozen=True, slots=True)
class VehicleState:
    """The decoded values of the CAN sources (what the ECUs say; also what a simulated car sends)."""

    soc_permille: int
    charging: ChargingState
    energy_charged_wh: int
    energy_used_wh: int
    odometer_m: int
    doors_open: int = 0  # bit n: door n open
    seats_occupied: int = 0  # bit n: seat n occupied
    cabin_dirty: bool = False
    cabin_cleanings: int = 0  # lifetime count the cabin check accepted
    service_tasks_done: int = 0  # lifetime count the workshop signed off


@dataclass(frozen=True, slots=True)
class VehicleSnapshot:
    """Everything known about the vehicle at ``taken_at``; values of a faulted source are the last good ones."""

    taken_at: datetime
    soc_permille: int | None
    charging: ChargingState | None
    energy_charged_wh: int | None
    energy_used_wh: int | None
    odometer_m: int | None
    doors_open: int | None
    seats_occupied: int | None
    cabin_dirty: bool | None
    cabin_cleanings: int | None
    service_tasks_done: int | None
    position: Fix | None
    faults: tuple[Fault, ...]

    @property
    def stale(self) -> frozenset[str]:
        """The sources whose values must not be acted upon."""
        return frozenset(f.source for f in self.faults)

    def healthy(self, *sources: str) -> bool:
        return not self.stale.intersection(sources)


def charge_needed(snapshot: VehicleSnapshot, below_permille: int) -> bool:
    """Is the battery low enough to buy a charge? Never on a stale battery, energy or GPS reading."""
    if not snapshot.healthy(BATTERY, ENERGY, GPS) or snapshot.soc_permille is None:
        return False
    return (
        snapshot.soc_permille < below_permille and snapshot.charging is not ChargingState.CHARGING
    )


def battery_wh(
    snapshot: VehicleSnapshot | None, capacity_wh: int, now: int, max_age_s: int = 180
) -> int | None:
    """The energy in the pack at ``now``, or ``None`` when it is unknown: no reading yet, a
    faulted battery reading, or one older than ``max_age_s`` (the loop stopped reading)."""
    if snapshot is None or not snapshot.healthy(BATTERY) or snapshot.soc_permille is None:
        return None
    if not 0 <= now - int(snapshot.taken_at.timestamp()) <= max_age_s:
        return None
    return capacity_wh * snapshot.soc_permille // 1000


def cleaning_needed(snapshot: VehicleSnapshot) -> bool:
    """Does the cabin say it needs cleaning? Never on a stale cabin or GPS reading."""
    return snapshot.healthy(CABIN, GPS) and snapshot.cabin_dirty is True


class VehicleEcu:
    """The car's side of the bus: encodes a ``VehicleState`` into the DBC's frames (simulated car, tests)."""

    def __init__(self, bus: can.BusABC, db: cantools.database.can.Database | None = None) -> None:
        self._bus = bus
        self._db = db or load_dbc()
        self._counter = 0

    def frames(self, state: VehicleState) -> list[can.Message]:
        self._counter = (self._counter + 1) % 256
        values: dict[str, dict[str, int]] = {
            BATTERY: {
                "StateOfCharge": state.soc_permille,
                "ChargingState": _CHARGING.index(state.charging),
                "StatusCounter": self._counter,
            },
            ENERGY: {
                "EnergyChargedWh": state.energy_charged_wh,
                "EnergyUsedWh": state.energy_used_wh,
            },
            ODOMETER: {"OdometerM": state.odometer_m // 10},
            CABIN: {
                "DoorsOpen": state.doors_open,
                "SeatsOccupied": state.seats_occupied,
                "CabinDirty": int(state.cabin_dirty),
            },
            UPKEEP: {
                "CabinCleanings": state.cabin_cleanings,
                "ServiceTasksDone": state.service_tasks_done,
            },
        }
        out = []
        for name, signals in values.items():
            message = self._db.get_message_by_name(name)
            data = message.encode(signals, scaling=False)
            out.append(
                can.Message(arbitration_id=message.frame_id, data=data, is_extended_id=False)
            )
        return out

    def send(self, state: VehicleState) -> None:
        for frame in self.frames(state):
            self._bus.send(frame)


@dataclass(slots=True)
class _Source:
    """The last accepted values of one source, when they came, and what is wrong with it now."""

    values: dict[str, int] = field(default_factory=dict)
    seen_at: datetime | None = None
    fault: VehicleError | None = None


def _raw(source: str, signal: str, value: object) -> int:
    if not isinstance(value, int):
        raise MalformedFrameError(source, f"{signal} decoded to {value!r}, not an integer")
    return value


class VehiclePoller:
    """The one owner of the CAN bus and the GPS port; ``poll(now)`` publishes a snapshot."""

    def __init__(
        self,
        bus: can.BusABC,
        gps: NmeaReader | None,
        *,
        limits: Limits | None = None,
        db: cantools.database.can.Database | None = None,
    ) -> None:
        self._bus = bus
        self._gps = gps
        self.limits = limits or Limits()
        self._db = db or load_dbc()
        self._by_id = {m.frame_id: m for m in self._db.messages if m.name in CAN_SOURCES}
        self._sources = {name: _Source() for name in CAN_SOURCES}
        self._fix: Fix | None = None
        self._gps_fault: VehicleError | None = None
        self.frames_ignored = 0  # other ECUs' messages: not ours to read

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._bus.shutdown()
        if self._gps is not None:
            self._gps.close()

    def rebase(self, source: str) -> None:
        """Forget a source's last value (an operator after replacing an ECU): the next frame is accepted."""
        self._sources[source] = _Source()

    def poll(self, now: datetime) -> VehicleSnapshot:
        """Drain the bus and the GPS, check what came, and say what is known now."""
        while (message := self._bus.recv(timeout=0)) is not None:
            self._frame(message, now)
        if self._gps is not None:
            for outcome in self._gps.read(now):
                self._gps_outcome(outcome)
        return self._snapshot(now)

    def _frame(self, message: can.Message, now: datetime) -> None:
        spec = self._by_id.get(message.arbitration_id)
        if spec is None or message.is_error_frame or message.is_remote_frame:
            self.frames_ignored += 1
            return
        source = self._sources[spec.name]
        try:
            decoded = spec.decode(bytes(message.data), decode_choices=False, scaling=False)
            assert isinstance(decoded, dict)  # only container messages decode to a list
            values = {name: _raw(spec.name, name, value) for name, value in decoded.items()}
            self._check(spec.name, source, values, now)
        except VehicleError as exc:
            self._reject(source, exc)
            return
        except (cantools.database.DecodeError, ValueError, TypeError) as exc:
            self._reject(source, MalformedFrameError(spec.name, f"id 0x{spec.frame_id:x}: {exc}"))
            return
        source.values, source.seen_at, source.fault = values, now, None

    def _reject(self, source: _Source, exc: VehicleError) -> None:
        if source.fault is None or type(source.fault) is not type(exc):
            log.warning("vehicle_fault", source=exc.source, kind=exc.kind, detail=exc.problem)
        source.fault = exc

    def _check(self, name: str, source: _Source, new: dict[str, int], now: datetime) -> None:
        """Raise if ``new`` cannot follow the last accepted values of the same source."""
        lim = self.limits
        if name == BATTERY and new["StateOfCharge"] > 1000:
            raise MalformedFrameError(name, f"state of charge {new['StateOfCharge'] / 10}% > 100%")
        old = source.values
        if not old or source.seen_at is None:
            return
        dt = max(0.0, (now - source.seen_at).total_seconds())
        if name == BATTERY:
            step = abs(new["StateOfCharge"] - old["StateOfCharge"])
            if step > lim.soc_slack_permille + lim.soc_rate_permille_s * dt:
                raise ImplausibleJumpError(
                    name,
                    f"state of charge {old['StateOfCharge'] / 10}% → {new['StateOfCharge'] / 10}% "
                    f"in {dt:.0f} s",
                )
        elif name == UPKEEP:
            for counter in ("CabinCleanings", "ServiceTasksDone"):
                if new[counter] < old[counter]:
                    raise ImplausibleJumpError(
                        name, f"{counter} went backwards: {old[counter]} → {new[counter]}"
                    )
        elif name == ENERGY:
            for counter in ("EnergyChargedWh", "EnergyUsedWh"):
                step = new[counter] - old[counter]
                if step < 0:
                    raise ImplausibleJumpError(
                        name, f"{counter} went backwards: {old[counter]} → {new[counter]} Wh"
                    )
                if step > lim.energy_slack_wh + lim.energy_rate_wh_s * dt:
                    raise ImplausibleJumpError(name, f"{counter} +{step} Wh in {dt:.0f} s")
        elif name == ODOMETER:
            step = (new["OdometerM"] - old["OdometerM"]) * 10
            if step < 0:
                raise ImplausibleJumpError(name, f"odometer went backwards by {-step} m")
            if step > lim.odometer_slack_m + lim.speed_m_s * dt:
                raise ImplausibleJumpError(name, f"odometer +{step} m in {dt:.0f} s")

    def _gps_outcome(self, outcome: Fix | VehicleError) -> None:
        if isinstance(outcome, VehicleError):
            if self._gps_fault is None or type(self._gps_fault) is not type(outcome):
                log.warning("vehicle_fault", source=GPS, kind=outcome.kind, detail=outcome.problem)
            self._gps_fault = outcome
            return
        last = self._fix
        if last is not None:
            moved = distance_m(last.lat, last.lon, outcome.lat, outcome.lon)
            dt = max(0.0, (outcome.at - last.at).total_seconds())
            if moved > self.limits.gps_slack_m + self.limits.speed_m_s * dt:
                self._gps_outcome(
                    ImplausibleJumpError(GPS, f"position moved {moved:.0f} m in {dt:.0f} s")
                )
                return
        self._fix, self._gps_fault = outcome, None

    def _snapshot(self, now: datetime) -> VehicleSnapshot:
        faults: list[Fault] = []
        for name, source in self._sources.items():
            if source.fault is not None:
                faults.append(Fault.of(source.fault))
            elif source.seen_at is None:
                faults.append(Fault.of(StaleDataError(name, "no frame yet")))
            elif (age := (now - source.seen_at).total_seconds()) > self.limits.max_age_s:
                faults.append(Fault.of(StaleDataError(name, f"last frame {age:.0f} s ago")))
        if self._gps is not None:
            if self._gps_fault is not None:
                faults.append(Fault.of(self._gps_fault))
            elif self._fix is None:
                faults.append(Fault.of(StaleDataError(GPS, "no fix yet")))
            elif (age := (now - self._fix.at).total_seconds()) > self.limits.max_age_s:
                faults.append(Fault.of(StaleDataError(GPS, f"last fix {age:.0f} s ago")))
        battery, energy = self._sources[BATTERY].values, self._sources[ENERGY].values
        odo, cabin = self._sources[ODOMETER].values, self._sources[CABIN].values
        upkeep = self._sources[UPKEEP].values
        return VehicleSnapshot(
            taken_at=now,
            soc_permille=battery.get("StateOfCharge"),
            charging=_CHARGING[battery["ChargingState"]] if battery else None,
            energy_charged_wh=energy.get("EnergyChargedWh"),
            energy_used_wh=energy.get("EnergyUsedWh"),
            odometer_m=odo["OdometerM"] * 10 if odo else None,
            doors_open=cabin.get("DoorsOpen"),
            seats_occupied=cabin.get("SeatsOccupied"),
            cabin_dirty=bool(cabin["CabinDirty"]) if cabin else None,
            cabin_cleanings=upkeep.get("CabinCleanings"),
            service_tasks_done=upkeep.get("ServiceTasksDone"),
            position=self._fix,
            faults=tuple(faults),
        )
