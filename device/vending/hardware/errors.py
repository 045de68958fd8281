"""Errors of the hardware layer: one root, leaves that name the pin or the slot."""

from __future__ import annotations

from device.errors import CustobotError


class HardwareError(CustobotError):
    """Root of every error raised by ``device.vending.hardware`` and ``device.vending.sim``."""


class PinFactoryError(HardwareError):
    """The configured pin factory cannot be built on this machine."""

    def __init__(self, factory: str, problem: str) -> None:
        super().__init__(f"pin_factory {factory!r}: {problem}")
        self.factory = factory
        self.problem = problem


class PinError(HardwareError):
    """A GPIO pin could not be opened or driven (in use, invalid, wrong mode)."""

    def __init__(self, pin: int, problem: str) -> None:
        super().__init__(f"GPIO{pin}: {problem}")
        self.pin = pin
        self.problem = problem


class SlotError(HardwareError):
    """A slot's sensor failed to read, or a slot id is unknown or unsuited to the request."""

    def __init__(self, slot_id: int, problem: str) -> None:
        super().__init__(f"slot {slot_id}: {problem}")
        self.slot_id = slot_id
        self.problem = problem
