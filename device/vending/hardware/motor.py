"""A slot's vend motor (spiral or pusher) behind a driver on one GPIO pin."""

from __future__ import annotations

import time
from typing import Any

from gpiozero import DigitalOutputDevice


class VendMotor:
    """Runs one pulse per vend. ``run(0)`` is an instant on/off for the simulated clock."""

    def __init__(self, slot_id: int, pin: int, *, pin_factory: Any) -> None:
        self.slot_id = slot_id
        self.pin = pin
        self._output = DigitalOutputDevice(pin, initial_value=False, pin_factory=pin_factory)

    def run(self, seconds: float, *, wait: bool = True) -> None:
        """Turn the motor for ``seconds`` of real time.

        ``wait=True`` pulses in the caller's thread (no thread start: a simulated year
        makes tens of thousands of vends) and always switches off, even on an error;
        ``wait=False`` returns at once and lets a gpiozero thread end the pulse.
        """
        if seconds < 0:
            raise ValueError(f"motor pulse must be >= 0 s, got {seconds}")
        if not wait:
            self._output.blink(on_time=seconds, off_time=0, n=1, background=True)
            return
        self._output.on()
        try:
            if seconds:
                time.sleep(seconds)
        finally:
            self._output.off()

    @property
    def is_running(self) -> bool:
        return bool(self._output.is_active)

    def close(self) -> None:
        self._output.close()
