"""The one owner of every pin: reads all slots on demand and publishes an immutable snapshot.

The poller never reads the wall clock and never sleeps: the driver passes ``now``
(real or simulated) and the sales made since the previous poll. A sensor that
fails to read marks its slot DISCONNECTED instead of raising out of ``poll()``.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Self, TypeVar

import structlog
from gpiozero.exc import GPIOZeroError

from device.settings import (
    SPI0_PINS,
    AnalogSensorConfig,
    DistanceSensorConfig,
    Settings,
    SlotConfig,
    SwitchSensorConfig,
)
from device.vending.hardware.analog import CalibratedAnalogSensor
from device.vending.hardware.coin import CoinAcceptor
from device.vending.hardware.distance import ColumnDistanceSensor
from device.vending.hardware.door import DoorSwitch
from device.vending.hardware.drop import DropSensor
from device.vending.hardware.errors import PinError, SlotError
from device.vending.hardware.health import PI_SENSOR_FILE, CpuHealth
from device.vending.hardware.motor import VendMotor
from device.vending.hardware.readings import FaultState, SensorRead, faulted
from device.vending.hardware.sales import SalesCount
from device.vending.hardware.switch import StockSwitch

log = structlog.get_logger()
_D = TypeVar("_D")


@dataclass(frozen=True, slots=True)
class SlotReading:
    """What is known about one slot's stock; ``floor``/``ceiling`` bound it when ``count`` is None."""

    slot_id: int
    count: int | None
    floor: int | None
    ceiling: int | None
    confidence: float
    fault: FaultState
    detail: str

    @property
    def usable(self) -> bool:
        """May this reading be a reason to buy? Never when in fault or when nothing is known."""
        return self.fault is FaultState.OK and self.confidence > 0


@dataclass(frozen=True, slots=True)
class Alert:
    """A slot in fault, for the operator; such a slot never triggers an order by itself."""

    slot_id: int
    fault: FaultState
    detail: str


@dataclass(frozen=True, slots=True)
class StockSnapshot:
    taken_at: datetime
    slots: tuple[SlotReading, ...]
    door_open: bool
    door_visits_ended: int  # open→close cycles since the previous poll
    cpu_temp_c: float | None

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return tuple(
            Alert(s.slot_id, s.fault, s.detail) for s in self.slots if s.fault is not FaultState.OK
        )

    def slot(self, slot_id: int) -> SlotReading:
        for reading in self.slots:
            if reading.slot_id == slot_id:
                return reading
        raise SlotError(slot_id, "not in this snapshot")

    def usable_slot_ids(self) -> frozenset[int]:
        """Slots whose reading may be used as a reason to buy (never a faulted one)."""
        return frozenset(s.slot_id for s in self.slots if s.usable)


class _Slot:
    """One slot's sensor plus its sales bookkeeping."""

    def __init__(
        self,
        cfg: SlotConfig,
        sensor: ColumnDistanceSensor | CalibratedAnalogSensor | StockSwitch | None,
    ) -> None:
        self.cfg = cfg
        self.sensor = sensor
        self.sales = SalesCount(cfg.capacity)
        self.last_fault = FaultState.OK

    def read(self, sales: int) -> SensorRead:
        self.sales.add_sales(sales)
        if self.sensor is None:
            return self.sales.read()
        if isinstance(self.sensor, StockSwitch):
            return self.sensor.read(sales, self.sales.estimate)
        return self.sensor.read(sales)


class HardwarePoller:
    """Builds every device from ``Settings`` on one explicit pin factory and polls the slots.

    ``samples`` is the median filter length for distance and analog sensors;
    ``ping_gap_s`` the pause between ultrasonic pings (0.06 on a real HC-SR04).
    ``motors``, ``door``, ``drop``, ``coins`` and ``health`` are the machine's other
    devices; ``sensors`` maps slot id → its stock sensor (None: sales count only).
    Close it (or use ``with``): gpiozero shares the software SPI bus between
    factories by pin name, so an unclosed poller would leak it into the next one.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        pin_factory: Any,
        samples: int = 3,
        stuck_after_sales: int = 2,
        max_toggles: int = 3,
        ping_gap_s: float = 0.0,
        cpu_sensor_file: Path = PI_SENSOR_FILE,
    ) -> None:
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        self.settings = settings
        self._ping_gap_s = ping_gap_s
        self._closers: list[Any] = []
        f = pin_factory
        try:
            self._slots = {
                cfg.id: _Slot(cfg, self._sensor(cfg, f, samples, stuck_after_sales, max_toggles))
                for cfg in settings.slots
            }
            self.sensors = types.MappingProxyType(
                {i: slot.sensor for i, slot in self._slots.items()}
            )
            m = settings.machine
            self.motors = types.MappingProxyType(
                {
                    c.id: self._open(
                        c.motor_pin, partial(VendMotor, c.id, c.motor_pin, pin_factory=f)
                    )
                    for c in settings.slots
                }
            )
            self.door = self._open(m.door_pin, partial(DoorSwitch, m.door_pin, pin_factory=f))
            self.drop = self._open(
                m.drop_sensor_pin, partial(DropSensor, m.drop_sensor_pin, pin_factory=f)
            )
            self.coins = self._open(
                m.coin_pin, partial(CoinAcceptor, m.coin_pin, m.coin_value, pin_factory=f)
            )
            self.health = CpuHealth(pin_factory=f, sensor_file=cpu_sensor_file)
            self._closers.append(self.health)
        except BaseException:
            self.close()
            raise
        self.last: StockSnapshot | None = None

    def _open(self, pin: int, make: Callable[[], _D]) -> _D:
        """Open one device; gpiozero's pin errors become a PinError naming the pin."""
        try:
            device = make()
        except GPIOZeroError as exc:
            raise PinError(pin, f"{type(exc).__name__}: {exc}") from exc
        self._closers.append(device)
        return device

    def _sensor(
        self, cfg: SlotConfig, f: Any, samples: int, stuck_after: int, max_toggles: int
    ) -> ColumnDistanceSensor | CalibratedAnalogSensor | StockSwitch | None:
        s = cfg.sensor
        if isinstance(s, DistanceSensorConfig):
            return self._open(
                s.trigger_pin,
                partial(
                    ColumnDistanceSensor,
                    s,
                    cfg.capacity,
                    pin_factory=f,
                    samples=samples,
                    stuck_after_sales=stuck_after,
                    ping_gap_s=self._ping_gap_s,
                ),
            )
        if isinstance(s, AnalogSensorConfig):
            return self._open(
                SPI0_PINS[3 + s.select],  # the chip select line
                partial(
                    CalibratedAnalogSensor,
                    s,
                    cfg.capacity,
                    slot_id=cfg.id,
                    pin_factory=f,
                    samples=samples,
                    stuck_after_sales=stuck_after,
                ),
            )
        if isinstance(s, SwitchSensorConfig):
            return self._open(
                s.pin, partial(StockSwitch, s, cfg.capacity, pin_factory=f, max_toggles=max_toggles)
            )
        return None

    def recount(self, slot_id: int, count: int) -> None:
        """Record a counted stock level (after a restocking visit); sales count from here."""
        slot = self._slot(slot_id)
        if not 0 <= count <= slot.cfg.capacity:
            raise SlotError(slot_id, f"recount {count} is outside 0..{slot.cfg.capacity}")
        slot.sales.recount(count)

    def _slot(self, slot_id: int) -> _Slot:
        try:
            return self._slots[slot_id]
        except KeyError:
            raise SlotError(slot_id, "no such slot") from None

    def poll(self, now: datetime, sales_since_last_poll: Mapping[int, int]) -> StockSnapshot:
        """Read every slot once; ``sales_since_last_poll`` maps slot id → completed vends."""
        for slot_id, sold in sales_since_last_poll.items():
            self._slot(slot_id)
            if sold < 0:
                raise SlotError(slot_id, f"negative sales ({sold})")
        readings = tuple(
            self._read(slot, sales_since_last_poll.get(slot_id, 0))
            for slot_id, slot in self._slots.items()
        )
        snapshot = StockSnapshot(
            taken_at=now,
            slots=readings,
            door_open=self.door.is_open,
            door_visits_ended=self.door.take_visits_ended(),
            cpu_temp_c=self.health.temperature(),
        )
        self.last = snapshot
        return snapshot

    def _read(self, slot: _Slot, sales: int) -> SlotReading:
        try:
            r = slot.read(sales)
        except Exception as exc:  # any failure of one sensor must not stop the others
            r = faulted(FaultState.DISCONNECTED, f"read failed: {type(exc).__name__}: {exc}")
        if r.fault is not slot.last_fault:
            if r.fault is FaultState.OK:
                log.info("slot_fault_cleared", slot=slot.cfg.id, was=slot.last_fault.value)
            else:
                log.warning("slot_fault", slot=slot.cfg.id, fault=r.fault.value, detail=r.detail)
            slot.last_fault = r.fault
        return SlotReading(
            slot.cfg.id, r.count, r.floor, r.ceiling, r.confidence, r.fault, r.detail
        )

    def close(self) -> None:
        """Release every pin (in reverse order of opening); safe to call twice."""
        while self._closers:
            self._closers.pop().close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
