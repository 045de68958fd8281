"""A pulse coin acceptor: each pulse is one coin of ``coin_value`` base units."""

from __future__ import annotations

import threading
from typing import Any

from gpiozero import DigitalInputDevice


class CoinAcceptor:
    """Open-collector output pulled up; a coin pulls it low for one pulse."""

    def __init__(self, pin: int, coin_value: int, *, pin_factory: Any) -> None:
        if coin_value <= 0:
            raise ValueError(f"coin_value must be positive base units, got {coin_value}")
        self.pin = pin
        self.coin_value = coin_value
        self._lock = threading.Lock()
        self._pulses = 0
        self._input = DigitalInputDevice(pin, pull_up=True, pin_factory=pin_factory)
        self._input.when_activated = self._pulse

    def _pulse(self) -> None:
        with self._lock:
            self._pulses += 1

    @property
    def credit(self) -> int:
        """Credit inserted and not yet taken, in token base units."""
        with self._lock:
            return self._pulses * self.coin_value

    def take_credit(self) -> int:
        """Return the credit and zero it, atomically (a pulse is never counted twice)."""
        with self._lock:
            pulses, self._pulses = self._pulses, 0
        return pulses * self.coin_value

    def close(self) -> None:
        self._input.close()
