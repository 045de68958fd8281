"""The drop sensor (IR beam across the delivery chute) that confirms an item fell."""

from __future__ import annotations

import threading
from typing import Any

from gpiozero import DigitalInputDevice


class DropSensor:
    """Counts beam breaks (pin high) since it was last armed.

    ``dropped()`` never blocks, for the simulated clock; ``wait(timeout)`` blocks
    for real time on a Pi.
    """

    def __init__(self, pin: int, *, pin_factory: Any) -> None:
        self.pin = pin
        self._lock = threading.Lock()
        self._drops = 0
        self._event = threading.Event()
        self._input = DigitalInputDevice(pin, pull_up=False, pin_factory=pin_factory)
        self._input.when_activated = self._broken

    def _broken(self) -> None:
        with self._lock:
            self._drops += 1
        self._event.set()

    def arm(self) -> None:
        """Forget earlier drops; call just before running the motor."""
        with self._lock:
            self._drops = 0
            self._event.clear()

    @property
    def drops(self) -> int:
        """Items seen falling since ``arm()``."""
        with self._lock:
            return self._drops

    def dropped(self) -> bool:
        return self.drops > 0

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a drop since ``arm()``."""
        return self._event.wait(timeout)

    def close(self) -> None:
        self._input.close()
