"""The service door switch: a restocking visit begins when it opens and ends when it closes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gpiozero import Button

Callback = Callable[[], None]
# We use no "held" events; gpiozero's hold thread sleeps hold_time while the switch
# is closed and close() waits for it, so a short one keeps shutdown prompt.
HOLD_TIME_S = 0.05


class DoorSwitch:
    """A reed switch held closed (pin low, pull-up) by the magnet while the door is shut."""

    def __init__(self, pin: int, *, pin_factory: Any, bounce_time: float | None = None) -> None:
        self.pin = pin
        self.when_opened: Callback | None = None
        self.when_closed: Callback | None = None
        self._lock = threading.Lock()
        self._visits_ended = 0
        self._button = Button(
            pin,
            pull_up=True,
            bounce_time=bounce_time,
            hold_time=HOLD_TIME_S,
            pin_factory=pin_factory,
        )
        self._button.when_released = self._opened
        self._button.when_pressed = self._closed

    @property
    def is_open(self) -> bool:
        return not bool(self._button.is_pressed)

    def _opened(self) -> None:
        if self.when_opened is not None:
            self.when_opened()

    def _closed(self) -> None:
        with self._lock:
            self._visits_ended += 1
        if self.when_closed is not None:
            self.when_closed()

    def take_visits_ended(self) -> int:
        """Visits (open then close) finished since the last call; the poller calls this."""
        with self._lock:
            ended, self._visits_ended = self._visits_ended, 0
        return ended

    def close(self) -> None:
        self._button.close()
