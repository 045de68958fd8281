"""A slot's vend motor (spiral or pusher) behind a driver on one GPIO pin."""

from __future__ import annotations

from typing import Any

from gpiozero import DigitalOutputDevice


class VendMotor:
    """Runs one pulse per vend; gpiozero times the pulse so the caller's clock stays out of it."""

    def __init__(self, slot_id: int, pin: int, *, pin_factory: Any) -> None:
        self.slot_id = slot_id
        self.pin = pin
        self._output = DigitalOutputDevice(pin, initial_value=False, pin_factory=pin_factory)

    def run(self, seconds: float, *, wait: bool = True) -> None:
        """Turn the motor for ``seconds``; with ``wait=False`` return at once (gpiozero thread)."""
        if seconds < 0:
            raise ValueError(f"motor pulse must be >= 0 s, got {seconds}")
        self._output.blink(on_time=seconds, off_time=0, n=1, background=not wait)

    def stop(self) -> None:
        self._output.off()

    @property
    def is_running(self) -> bool:
        return bool(self._output.is_active)

    def close(self) -> None:
        self._output.close()
