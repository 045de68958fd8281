"""A low/empty stock switch (``Button`` lever or ``LineSensor`` reflector): a bound, not a count.

The switch is *active* (lever held down / item seen) while more than ``floor`` items
remain and drops out at ``floor``. A broken wire reads as inactive, i.e. "low":
the safe side for a machine that would rather check than run dry. A plain switch
cannot tell a cut wire from a low slot by itself; that shows up as STUCK once the
sales since the last recount contradict it.
"""

from __future__ import annotations

import threading
from typing import Any

from gpiozero import Button, LineSensor

from device.settings import SwitchSensorConfig
from device.vending.hardware.door import HOLD_TIME_S
from device.vending.hardware.readings import FaultState, SensorRead, faulted

SWITCH_CONFIDENCE = 0.6  # a bound is worth less than a count


class StockSwitch:
    """Reads the switch and counts its changes between polls (too many means flapping)."""

    def __init__(
        self,
        config: SwitchSensorConfig,
        capacity: int,
        *,
        pin_factory: Any,
        max_toggles: int = 3,
        line_sample_rate: float = 200.0,
    ) -> None:
        self.config = config
        self.capacity = capacity
        self.max_toggles = max_toggles
        self._lock = threading.Lock()
        self._toggles = 0
        self._sales_since_change = 0
        self._device: Any
        if config.device == "button":
            self._device = Button(
                config.pin, pull_up=True, hold_time=HOLD_TIME_S, pin_factory=pin_factory
            )
        else:
            # LineSensor smooths in a background thread; queue_len=1 keeps it at most
            # one sample (1 / line_sample_rate seconds) behind the pin.
            self._device = LineSensor(
                config.pin,
                queue_len=1,
                partial=True,
                sample_rate=line_sample_rate,
                pin_factory=pin_factory,
            )
        self._device.when_activated = self._changed
        self._device.when_deactivated = self._changed

    def _changed(self) -> None:
        with self._lock:
            self._toggles += 1
            self._sales_since_change = 0

    @property
    def tripped(self) -> bool:
        """True when the slot is at or below its floor."""
        return not bool(self._device.is_active)

    def read(self, sales: int, estimate: int | None) -> SensorRead:
        """``estimate`` is last recount minus sales since, when a recount is known."""
        floor = self.config.floor
        with self._lock:
            toggles, self._toggles = self._toggles, 0
            self._sales_since_change += sales
            sales_since_change = self._sales_since_change
        tripped = self.tripped
        if toggles > self.max_toggles:
            return faulted(
                FaultState.FLAPPING, f"switch on GPIO{self.config.pin} changed {toggles} times"
            )
        if estimate is not None and sales_since_change > 0:
            should_trip = estimate <= floor - 1  # clearly below the floor
            should_hold = estimate >= floor + 2  # clearly above it
            if (should_trip and not tripped) or (should_hold and tripped):
                state = "low" if tripped else "not low"
                return faulted(
                    FaultState.STUCK,
                    f"switch reads {state} but sales since recount leave {estimate}",
                )
        if tripped:
            return SensorRead(
                None, 0, floor, SWITCH_CONFIDENCE, FaultState.OK, f"at or below {floor}"
            )
        return SensorRead(
            None, floor + 1, self.capacity, SWITCH_CONFIDENCE, FaultState.OK, f"above {floor}"
        )

    def close(self) -> None:
        self._device.close()
