"""Simulated sensor physics: move gpiozero's mock pins so the real sensors read a stock level.

Build ``SensorPhysics`` on a ``MockFactory`` *before* the ``HardwarePoller``: it
claims the pins with the mock pin classes the physics needs (trigger/echo pair,
SPI chip, motor pins it can watch); the poller's gpiozero devices then open those
same pins. When a vend motor turns, the physics drops an item (unless the slot is
jammed or empty): stock falls, the drop sensor sees it and the slot's sensor pins
move, so the real vend flow and poller run unmodified on simulated hardware.

The simulator builds it on ``PiMockFactory``: the analog sensors' MCP3008 then talks
through the Pi's hardware SPI controller as on a Pi, not bit-banged mock pins.

Fault injection (``disconnect``, ``stick``, ``flap``, ``out_of_range``,
``heal``) is for tests and for simulating unreliable sensors.
"""

from __future__ import annotations

import collections
import enum
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gpiozero.mixins import SharedMixin
from gpiozero.pins import SPI
from gpiozero.pins.mock import (
    MockFactory,
    MockPin,
    MockSPIClockPin,
    MockSPIDevice,
    MockSPISelectPin,
    MockTriggerPin,
    PinState,
)

from device.settings import (
    SPI0_PINS,
    AnalogSensorConfig,
    DistanceSensorConfig,
    Settings,
    SlotConfig,
    SwitchSensorConfig,
)
from device.vending.hardware.analog import ADC_MAX, Calibration
from device.vending.hardware.errors import HardwareError, PinError, SlotError

SPEED_OF_SOUND = 343.26  # m/s, the value gpiozero's DistanceSensor uses
FLAP_ITEMS = 2  # a flapping count sensor swings this many items either side
SWITCH_FLAP_TOGGLES = 6  # a flapping switch changes this often between two polls
PIN_HISTORY = 64  # state changes each simulated pin remembers (for assert_states)


class RecentHistory(MockPin):  # type: ignore[misc]  # gpiozero is untyped
    """Keeps only a pin's last ``PIN_HISTORY`` state changes.

    ``MockPin`` records every change forever; one poll bit-bangs ~300 edges over the
    mock SPI bus, so a simulated year would hold millions of them in memory.
    """

    def clear_states(self) -> None:
        self._last_change = time.monotonic()
        self.states = collections.deque([PinState(0.0, self._state)], maxlen=PIN_HISTORY)


class ExactEchoPin(RecentHistory):
    """An echo pin whose pulse edges are stamped exactly ``duration`` apart.

    gpiozero's ``MockTriggerPin`` times the echo with ``sleep()``, which overshoots
    by a scheduler tick on a busy machine (1 ms is 17 cm of column). Stamping the
    falling edge at rise + duration keeps the reading exact and costs no real time;
    the ``DistanceSensor`` still measures it through its own edge callbacks.
    """

    _next_stamp: float | None = None

    def pulse(self, duration: float) -> None:
        self.drive_high()
        self._next_stamp = self._last_change + duration
        self.drive_low()

    def _change_state(self, value: bool) -> bool:
        changed = bool(super()._change_state(value))
        if changed and self._next_stamp is not None:
            self._last_change, self._next_stamp = self._next_stamp, None
        return changed


class WiredPin(RecentHistory):
    """An input wired to a simulated circuit: the circuit's level wins over the pull resistor.

    A plain ``MockPin`` jumps to its pull level whenever a device opens it; a real
    switch closed to ground stays low whatever the Pi's pull-up says.
    """

    level: bool | None = None

    def wire(self, high: bool) -> None:
        self.level = high
        if high:
            self.drive_high()
        else:
            self.drive_low()

    def _set_pull(self, value: str) -> None:
        super()._set_pull(value)
        if self.level is not None and self.function == "input":
            self.wire(self.level)


class ColumnTriggerPin(RecentHistory, MockTriggerPin):  # type: ignore[misc]  # gpiozero is untyped
    """A ``MockTriggerPin`` that answers each ping at once with the next echo time in ``echoes``.

    One echo time is a steady column; several alternate (a flapping sensor); none
    is a sensor that never answers (disconnected).
    """

    def __init__(self, factory: Any, info: Any, echo_pin: ExactEchoPin) -> None:
        super().__init__(factory, info, echo_pin=echo_pin)
        self._echoes: Any = itertools.cycle(())
        self.echoes: tuple[float, ...] = ()

    def set_echoes(self, echoes: Sequence[float]) -> None:
        self.echoes = tuple(echoes)
        self.echo_time = self.echoes[0] if self.echoes else 0.0
        self._echoes = itertools.cycle(self.echoes)

    def _set_state(self, value: bool) -> None:
        MockPin._set_state(self, value)  # not MockTriggerPin's: no sleeping echo thread
        if value and self.echoes:
            self.echo_pin.pulse(next(self._echoes))


class _SPIClockPin(RecentHistory, MockSPIClockPin):  # type: ignore[misc]  # gpiozero is untyped
    pass


class _SPISelectPin(RecentHistory, MockSPISelectPin):  # type: ignore[misc]  # gpiozero is untyped
    pass


class _SPIDataPin(RecentHistory, MockPin):  # type: ignore[misc]  # gpiozero is untyped
    pass


class MCP3008Chip(MockSPIDevice):  # type: ignore[misc]  # gpiozero is untyped
    """The slave side of an MCP3008 on the mock SPI0 pins: 8 channels of 10-bit values.

    Protocol: after the start bit comes SGL/DIFF and three channel bits; the chip
    then answers with a null bit and 10 data bits, MSB first. Each channel holds a
    cycle of raw values (one value = steady) returned one per conversion.
    """

    def __init__(self, select: int, *, pin_factory: MockFactory) -> None:
        sclk, mosi, miso, ce0, ce1 = SPI0_PINS
        ce = ce0 if select == 0 else ce1
        # Claim the bus pins with short-memory classes first; MockSPIDevice reuses them.
        pin_factory.pin(sclk, pin_class=_SPIClockPin)
        pin_factory.pin(ce, pin_class=_SPISelectPin)
        for data in (mosi, miso):
            pin_factory.pin(data, pin_class=_SPIDataPin)
        super().__init__(sclk, mosi, miso, ce, pin_factory=pin_factory)
        self._channels: list[Any] = [itertools.cycle((0,)) for _ in range(8)]
        self._state = "idle"

    def set_channel(self, channel: int, *raw: int) -> None:
        """Make ``channel`` read ``raw`` (several values: one per conversion, in a cycle)."""
        if not raw or any(not 0 <= v <= ADC_MAX for v in raw):
            raise ValueError(f"MCP3008 raw values must be 0..{ADC_MAX}, got {raw}")
        self._channels[channel] = itertools.cycle(raw)

    def on_start(self) -> None:
        super().on_start()
        self._state = "idle"

    def on_clock(self) -> None:
        """``MockSPIDevice.on_clock`` reading the pins' levels directly: it runs on both
        edges of every clock of every conversion (~50 per reading) of software SPI."""
        select = self.select_pin
        if select is not None and select._state != self.select_high:
            return
        if not self.clock_pin._state ^ self.clock_polarity ^ self.clock_phase:
            return
        if self.exchange(self.mosi_pin is not None and self.mosi_pin._state):
            self.miso_pin.drive_high()
        else:
            self.miso_pin.drive_low()

    def exchange(self, mosi: bool) -> bool:
        """One clock of the bus: take the master's bit, answer with the chip's next bit."""
        self.rx_bit += 1
        self.rx_buf.append(mosi)
        miso = bool(self.tx_buf and self.tx_buf.pop(0))
        self.on_bit()
        return miso

    def on_bit(self) -> None:
        if self._state == "idle":
            if self.rx_buf[-1]:  # start bit
                self._state = "mode"
                self.rx_buf: list[int] = []
        elif self._state == "mode":
            self._state = "channel"  # single-ended or differential: we serve both the same
            self.rx_buf = []
        elif self._state == "channel" and len(self.rx_buf) == 3:
            # sample clock, null bit, then the 10 data bits MSB first
            self.tx_word(next(self._channels[self.rx_word()]), 12)
            self._state = "result"


class MockHardwareSPI(SPI):  # type: ignore[misc]  # gpiozero is untyped
    """The Pi's SPI controller on mock pins: whole words to the chip on a chip-select line.

    On a Pi, gpiozero's ``MCP3008`` on the SPI0 pins goes through the kernel's SPI
    driver (``LocalPiHardwareSPI``); nothing bit-bangs. ``MockFactory`` only has
    software SPI, which moves ~75 mock pin edges through gpiozero's output devices
    per conversion (most of a simulated year's sensor polls). This controller clocks
    each bit of each word straight into the ``MCP3008Chip`` on its select line (mode
    0, MSB first, 8-bit words, as the chip and gpiozero's MCP3008 use): the same
    protocol, the same gpiozero ``MCP3008`` above it, without the pin traffic.
    """

    def __init__(
        self,
        clock_pin: Any,
        mosi_pin: Any,
        miso_pin: Any,
        select_pin: Any,
        *,
        pin_factory: MockFactory,
    ) -> None:
        self._select: Any = None
        super().__init__(pin_factory=pin_factory)
        self.pin_factory.reserve_pins(self, clock_pin, mosi_pin, miso_pin, select_pin)
        self._select = pin_factory.pin(select_pin)

    def _conflicts_with(self, other: Any) -> bool:
        return not isinstance(other, MockHardwareSPI) or other._select is self._select

    def close(self) -> None:
        if self._select is not None:
            self.pin_factory.release_all(self)
        self._select = None
        super().close()

    @property
    def closed(self) -> bool:
        return self._select is None

    def _get_clock_mode(self) -> int:
        return 0

    def transfer(self, data: Sequence[int]) -> list[int]:
        """Send ``data`` (8-bit words), return the words read meanwhile; no chip reads 0s."""
        chip = getattr(self._select, "spi_device", None)
        if not isinstance(chip, MCP3008Chip):
            return [0] * len(data)
        chip.on_start()
        read = []
        for word in data:
            answer = 0
            for bit in range(7, -1, -1):
                answer = answer << 1 | chip.exchange(bool(word >> bit & 1))
            read.append(answer)
        return read


class MockHardwareSPIShared(SharedMixin, MockHardwareSPI):  # type: ignore[misc]  # gpiozero is untyped
    """One controller per chip-select line, shared by every device on it (as gpiozero's)."""

    @classmethod
    def _shared_key(
        cls, clock_pin: Any, mosi_pin: Any, miso_pin: Any, select_pin: Any, pin_factory: Any
    ) -> tuple[Any, Any]:
        return (clock_pin, select_pin)


class PiMockFactory(MockFactory):  # type: ignore[misc]  # gpiozero is untyped
    """gpiozero's ``MockFactory`` with the SPI0 pins on the Pi's hardware SPI controller.

    ``PiFactory.spi`` asks for the hardware class whenever the pins are SPI0's (as
    ``LocalPiFactory`` does on a Pi); plain ``MockFactory`` answers with software
    SPI either way. Other pins still get software SPI.
    """

    def _get_spi_class(self, shared: bool, hardware: bool) -> type:
        if hardware:
            return MockHardwareSPIShared if shared else MockHardwareSPI
        spi_class: type = super()._get_spi_class(shared, hardware)
        return spi_class


class _MotorPin(RecentHistory):
    """A motor output whose rising edge the physics turns into a vend."""

    on_start: Callable[[], None] | None = None

    def _change_state(self, value: bool) -> bool:
        changed = bool(super()._change_state(value))
        if changed and value and self.on_start is not None:
            self.on_start()
        return changed


class _Mode(enum.Enum):
    NORMAL = "normal"
    STUCK = "stuck"
    FLAPPING = "flapping"
    OUT_OF_RANGE = "out_of_range"
    DISCONNECTED = "disconnected"


class SensorPhysics:
    """The physical machine behind the mock pins: stock per slot, door, coins, drops."""

    def __init__(self, settings: Settings, pin_factory: MockFactory) -> None:
        if not isinstance(pin_factory, MockFactory):
            raise TypeError("sensor physics needs gpiozero's MockFactory")
        self.settings = settings
        self.factory = pin_factory
        self._stock = {s.id: 0 for s in settings.slots}
        self._mode = {s.id: _Mode.NORMAL for s in settings.slots}
        self._jammed: set[int] = set()
        self._triggers: dict[int, ColumnTriggerPin] = {}
        self._chips: dict[int, MCP3008Chip] = {}
        self._calibrations: dict[int, Calibration] = {}
        self._switches: dict[int, WiredPin] = {}
        m = settings.machine
        self._door = self._pin(m.door_pin, pin_class=WiredPin)
        self._coin = self._pin(m.coin_pin, pin_class=WiredPin)
        self._drop = self._pin(m.drop_sensor_pin, pin_class=WiredPin)
        self._door.wire(False)  # shut: the reed switch is closed
        self._coin.wire(True)  # idle: the open collector is released
        self._drop.wire(False)  # idle: the beam is unbroken
        for slot in settings.slots:
            motor = self._pin(slot.motor_pin, pin_class=_MotorPin)
            motor.on_start = self._vender(slot.id)
            self._attach_sensor(slot)
            self._apply(slot.id)

    def _pin(self, number: int, **kwargs: Any) -> Any:
        if any(info.name == f"GPIO{number}" for info in self.factory.pins):
            raise PinError(number, "already claimed on this mock factory; build physics first")
        return self.factory.pin(number, **kwargs)

    def _attach_sensor(self, slot: SlotConfig) -> None:
        s = slot.sensor
        if isinstance(s, DistanceSensorConfig):
            echo = self._pin(s.echo_pin, pin_class=ExactEchoPin)
            self._triggers[slot.id] = self._pin(
                s.trigger_pin, pin_class=ColumnTriggerPin, echo_pin=echo
            )
        elif isinstance(s, AnalogSensorConfig):
            if s.select not in self._chips:
                self._chips[s.select] = MCP3008Chip(s.select, pin_factory=self.factory)
            self._calibrations[slot.id] = Calibration(s.calibration, slot_id=slot.id)
        elif isinstance(s, SwitchSensorConfig):
            self._switches[slot.id] = self._pin(s.pin, pin_class=WiredPin)

    def _vender(self, slot_id: int) -> Callable[[], None]:
        def vend() -> None:
            if slot_id in self._jammed or self._stock[slot_id] == 0:
                return
            self._stock[slot_id] -= 1
            self._apply(slot_id)
            self.drop_item()

        return vend

    def _slot(self, slot_id: int) -> SlotConfig:
        try:
            return self.settings.slot(slot_id)
        except KeyError:
            raise SlotError(slot_id, "no such slot") from None

    # -- stock -------------------------------------------------------------------------

    def stock(self, slot_id: int) -> int:
        """The true number of items in the slot (what a person would count)."""
        self._slot(slot_id)
        return self._stock[slot_id]

    def set_stock(self, slot_id: int, count: int) -> None:
        """Put ``count`` items in the slot and move its sensor pins to match (unless stuck)."""
        slot = self._slot(slot_id)
        if not 0 <= count <= slot.capacity:
            raise SlotError(slot_id, f"stock {count} is outside 0..{slot.capacity}")
        self._stock[slot_id] = count
        self._apply(slot_id)

    def restock(self, counts: Mapping[int, int]) -> None:
        """A restocking visit: open the door, fill the slots, close the door."""
        for slot_id, count in counts.items():
            if not 0 <= count <= self._slot(slot_id).capacity:
                raise SlotError(
                    slot_id, f"stock {count} is outside 0..{self._slot(slot_id).capacity}"
                )
        self.open_door()
        for slot_id, count in counts.items():
            self.set_stock(slot_id, count)
        self.close_door()

    def _apply(self, slot_id: int) -> None:
        """Drive the slot's sensor pins from its stock and mode."""
        mode = self._mode[slot_id]
        if mode is _Mode.STUCK:
            return
        slot = self.settings.slot(slot_id)
        count = self._stock[slot_id]
        s = slot.sensor
        if isinstance(s, DistanceSensorConfig):
            self._triggers[slot_id].set_echoes(self._echoes(s, slot, count, mode))
        elif isinstance(s, AnalogSensorConfig):
            self._chips[s.select].set_channel(s.channel, *self._raws(slot_id, slot, count, mode))
        elif isinstance(s, SwitchSensorConfig):
            self._drive_switch(slot_id, s, count)

    @staticmethod
    def _echoes(s: DistanceSensorConfig, slot: SlotConfig, count: int, mode: _Mode) -> list[float]:
        def echo(items: float) -> float:
            return 2 * (s.empty_distance_m - items * s.item_pitch_m) / SPEED_OF_SOUND

        if mode is _Mode.DISCONNECTED:
            return []
        if mode is _Mode.OUT_OF_RANGE:
            return [echo(-3)]  # the sensor sees past the column floor
        if mode is _Mode.FLAPPING:
            return [echo(max(0, count - FLAP_ITEMS)), echo(min(slot.capacity, count + FLAP_ITEMS))]
        return [echo(count)]

    def _raws(self, slot_id: int, slot: SlotConfig, count: int, mode: _Mode) -> list[int]:
        curve = self._calibrations[slot_id]

        def raw(items: float) -> int:
            return min(ADC_MAX - 1, max(1, round(curve.reading(items) * ADC_MAX)))

        if mode is _Mode.DISCONNECTED:
            return [0]
        if mode is _Mode.OUT_OF_RANGE:
            return [raw(slot.capacity + 2)]
        if mode is _Mode.FLAPPING:
            return [raw(max(0, count - FLAP_ITEMS)), raw(min(slot.capacity, count + FLAP_ITEMS))]
        return [raw(count)]

    def _drive_switch(self, slot_id: int, s: SwitchSensorConfig, count: int) -> None:
        pin = self._switches[slot_id]
        mode = self._mode[slot_id]
        held = count > s.floor and mode is not _Mode.DISCONNECTED
        # Button: pull-up, lever closed to ground = active. LineSensor: active when high.
        active_high = s.device == "line"
        level = held if active_high else not held
        if mode is _Mode.FLAPPING:
            for _ in range(SWITCH_FLAP_TOGGLES // 2):
                pin.wire(not level)
                pin.wire(level)
        pin.wire(level)

    def chip(self, select: int) -> MCP3008Chip:
        """The mock MCP3008 on chip select ``select`` (to set raw channel values directly)."""
        try:
            return self._chips[select]
        except KeyError:
            raise HardwareError(f"no analog slot uses MCP3008 CE{select}") from None

    # -- fault injection ----------------------------------------------------------------

    def _inject(self, slot_id: int, mode: _Mode) -> None:
        slot = self._slot(slot_id)
        if slot.sensor.kind == "sales":
            raise SlotError(slot_id, "a sales-count slot has no sensor to fault")
        if slot.sensor.kind == "switch" and mode is _Mode.OUT_OF_RANGE:
            raise SlotError(slot_id, "a switch has no range to leave")
        self._mode[slot_id] = _Mode.NORMAL
        self._apply(slot_id)  # leave the pins at the true level before the fault takes over
        self._mode[slot_id] = mode
        self._apply(slot_id)

    def disconnect(self, slot_id: int) -> None:
        """Cut the sensor: no echo, an ADC channel at 0 V, a switch lever reading open."""
        self._inject(slot_id, _Mode.DISCONNECTED)

    def stick(self, slot_id: int) -> None:
        """Freeze the sensor pins where they are while the stock keeps changing."""
        self._inject(slot_id, _Mode.STUCK)

    def flap(self, slot_id: int) -> None:
        """Make the sensor jump ±2 items between samples (a switch: toggle several times)."""
        self._inject(slot_id, _Mode.FLAPPING)

    def out_of_range(self, slot_id: int) -> None:
        """Make a count sensor read beyond its column or calibration curve."""
        self._inject(slot_id, _Mode.OUT_OF_RANGE)

    def heal(self, slot_id: int) -> None:
        """End any injected fault: the pins follow the stock again."""
        self._slot(slot_id)
        self._mode[slot_id] = _Mode.NORMAL
        self._apply(slot_id)

    def jam(self, slot_id: int, jammed: bool = True) -> None:
        """A jammed spiral turns but nothing falls (the vend flow must refund)."""
        self._slot(slot_id)
        if jammed:
            self._jammed.add(slot_id)
        else:
            self._jammed.discard(slot_id)

    # -- the rest of the machine --------------------------------------------------------

    def open_door(self) -> None:
        self._door.wire(True)

    def close_door(self) -> None:
        self._door.wire(False)

    def insert_coins(self, n: int) -> None:
        """Pulse the coin line ``n`` times (each pulse pulls it low)."""
        for _ in range(n):
            self._coin.wire(False)
            self._coin.wire(True)

    def drop_item(self) -> None:
        """Break the drop sensor's beam once."""
        self._drop.wire(True)
        self._drop.wire(False)

    def close(self) -> None:
        for chip in self._chips.values():
            chip.close()
