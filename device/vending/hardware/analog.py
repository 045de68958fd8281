"""Load cell amplifier or IR distance sensor on an MCP3008 channel, read through a calibration curve."""

from __future__ import annotations

import bisect
import gc
import itertools
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar

from gpiozero import MCP3008

from device.errors import ConfigError
from device.settings import AnalogSensorConfig
from device.vending.hardware.errors import SlotError
from device.vending.hardware.factory import satisfy_software_spi_default
from device.vending.hardware.readings import (
    FaultState,
    SensorRead,
    StuckWatch,
    count_from_samples,
    faulted,
)

ADC_MAX = 1023  # MCP3008: 10 bits


class Calibration:
    """Piecewise linear (reading 0..1 → item count), extended linearly past both ends.

    Extending the end segments (rather than flattening them) is what lets a reading
    beyond the calibrated range show up as out of range instead of a plausible count.
    """

    def __init__(self, points: Sequence[tuple[float, int]], *, slot_id: int) -> None:
        ordered = sorted((float(r), float(c)) for r, c in points)
        readings = [r for r, _ in ordered]
        if len(set(readings)) != len(readings):
            raise ConfigError(
                f"slots[id={slot_id}].sensor.calibration", "two points share the same reading"
            )
        self._readings = readings
        self._counts = [c for _, c in ordered]

    def count(self, reading: float) -> float:
        i = bisect.bisect_right(self._readings, reading)
        i = min(max(i, 1), len(self._readings) - 1)
        return _lerp(
            self._readings[i - 1], self._counts[i - 1], self._readings[i], self._counts[i], reading
        )

    def reading(self, count: float) -> float:
        """The inverse: the reading that gives ``count`` (first matching segment; for physics)."""
        pairs = list(zip(self._readings, self._counts, strict=True))
        segments = list(itertools.pairwise(pairs))
        for (r0, c0), (r1, c1) in segments:
            if min(c0, c1) <= count <= max(c0, c1) and c0 != c1:
                return _lerp(c0, r0, c1, r1, count)
        # Beyond the curve: extend whichever end segment is nearer in count.
        (r0, c0), (r1, c1) = min(
            (segments[0], segments[-1]),
            key=lambda seg: min(abs(seg[0][1] - count), abs(seg[1][1] - count)),
        )
        return _lerp(c0, r0, c1, r1, count)


def _lerp(x0: float, y0: float, x1: float, y1: float, x: float) -> float:
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


class CalibratedAnalogSensor:
    """Counts items from an MCP3008 channel; a channel at 0 or full scale is disconnected.

    gpiozero shares SPI interfaces process-wide by pin name, not per factory, so a
    second machine's MCP3008 would silently read the first machine's bus. Its own
    registry cannot tell reliably (gpiozero 2.0.1: a closed interface collected
    later unregisters whichever interface holds its pins now), so the open sensors
    are tracked here and a sensor on another factory is refused while any is open.
    """

    _open: ClassVar[weakref.WeakSet[CalibratedAnalogSensor]] = weakref.WeakSet()

    def __init__(
        self,
        config: AnalogSensorConfig,
        capacity: int,
        *,
        slot_id: int,
        pin_factory: Any,
        samples: int = 3,
        stuck_after_sales: int = 2,
    ) -> None:
        self.config = config
        self.pin_factory: Any = pin_factory
        self.capacity = capacity
        self.samples = samples
        self.calibration = Calibration(config.calibration, slot_id=slot_id)
        self._watch = StuckWatch(stuck_after_sales)
        if any(other.pin_factory is not pin_factory for other in self._open):
            raise SlotError(
                slot_id, "another pin factory in this process holds the SPI bus; close it first"
            )
        satisfy_software_spi_default(pin_factory)
        # gpiozero 2.0.1 keeps a closed shared SPI interface in a reference cycle; when the
        # cyclic collector frees it, it closes again and unregisters whichever interface
        # holds its pins by then. Collected between two of a machine's MCP3008s opening,
        # the second opens a second bus on the same clock pin (GPIOPinInUse at start-up):
        # free any such leftover before a machine's first sensor registers its interface.
        if not self._open:  # (any open sensor is on this factory: checked above)
            gc.collect()
        self._adc = MCP3008(channel=config.channel, device=config.select, pin_factory=pin_factory)
        self._open.add(self)

    def raw(self) -> int:
        """One conversion, 0..1023."""
        return int(self._adc.raw_value)

    def read(self, sales: int) -> SensorRead:
        cfg = self.config
        raw_counts: list[float] = []
        for _ in range(self.samples):
            value = self.raw()
            if value in (0, ADC_MAX):
                rail = "0 V" if value == 0 else "full scale"
                return faulted(
                    FaultState.DISCONNECTED, f"MCP3008 CE{cfg.select} ch{cfg.channel} reads {rail}"
                )
            raw_counts.append(self.calibration.count(value / ADC_MAX))
        return count_from_samples(raw_counts, self.capacity, self._watch, sales, "analog")

    def close(self) -> None:
        self._open.discard(self)
        self._adc.close()
