"""Ultrasonic (HC-SR04) sensor over a column: count = (empty distance - measured) / item pitch.

gpiozero's ``DistanceSensor`` pings in a background thread every 60 ms and
averages a queue. A poll must instead see the column *now*, promptly and
deterministically (the simulated year polls ~800 times), so we stop that thread
once the sensor is built and take ``samples`` pings synchronously at poll time
through the sensor's own ``_read`` (the same trigger/echo timing code gpiozero
runs in its thread); we take the median ourselves. A sensor that gives no echo
costs one 0.1 s timeout per poll (we stop at the first missing echo).

A real HC-SR04 wants ~60 ms between pings so late reflections die out; pass
``ping_gap_s=0.06`` on a Pi. Mock pins need no gap, so the default is none.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from gpiozero import DistanceSensor

from device.settings import DistanceSensorConfig
from device.vending.hardware.readings import (
    FaultState,
    SensorRead,
    StuckWatch,
    count_from_samples,
    faulted,
)

# Beyond the floor of the column by this many pitches, gpiozero reports "max distance".
_HEADROOM_PITCHES = 4


def max_distance_m(config: DistanceSensorConfig) -> float:
    """The farthest distance the sensor reports; anything beyond reads as this."""
    return config.empty_distance_m + _HEADROOM_PITCHES * config.item_pitch_m


class ColumnDistanceSensor:
    """Counts the items stacked under an ultrasonic sensor."""

    def __init__(
        self,
        config: DistanceSensorConfig,
        capacity: int,
        *,
        pin_factory: Any,
        samples: int = 3,
        stuck_after_sales: int = 2,
        ping_gap_s: float = 0.0,
    ) -> None:
        self.config = config
        self.capacity = capacity
        self.samples = samples
        self.ping_gap_s = ping_gap_s
        self._watch = StuckWatch(stuck_after_sales)
        with warnings.catch_warnings():  # "use pigpio for accuracy": not ours to fix
            warnings.simplefilter("ignore")
            self._sensor = DistanceSensor(
                echo=config.echo_pin,
                trigger=config.trigger_pin,
                queue_len=1,
                partial=True,
                max_distance=max_distance_m(config),
                pin_factory=pin_factory,
            )
        self._sensor._queue.stop()  # we ping on demand; see the module docstring

    def ping(self) -> float | None:
        """One synchronous measurement in metres, or None when no echo came back."""
        with warnings.catch_warnings():  # DistanceSensorNoEcho: we report it as a fault
            warnings.simplefilter("ignore")
            return self._ping()

    def _ping(self) -> float | None:
        """``ping`` for a caller that already ignores gpiozero's warnings (one filter a
        read instead of one a ping: a simulated year pings ~12,000 times)."""
        fraction = self._sensor._read()
        if fraction is None:
            return None
        return float(fraction) * float(self._sensor.max_distance)

    def read(self, sales: int) -> SensorRead:
        """Median of ``samples`` pings turned into a count, with the fault rules applied."""
        cfg = self.config
        raw: list[float] = []
        with warnings.catch_warnings():  # DistanceSensorNoEcho: we report it as a fault
            warnings.simplefilter("ignore")
            for i in range(self.samples):
                if i and self.ping_gap_s:
                    time.sleep(self.ping_gap_s)
                metres = self._ping()
                if metres is None:
                    return faulted(FaultState.DISCONNECTED, f"no echo on GPIO{cfg.echo_pin}")
                raw.append((cfg.empty_distance_m - metres) / cfg.item_pitch_m)
        return count_from_samples(raw, self.capacity, self._watch, sales, "distance")

    def close(self) -> None:
        self._sensor.close()
