"""Build the one gpiozero pin factory the whole machine shares, from ``settings.pin_factory``."""

from __future__ import annotations

from typing import Any, Literal

from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from device.vending.hardware.errors import PinFactoryError

PinFactoryKind = Literal["mock", "lgpio"]


def make_pin_factory(kind: str) -> Any:
    """Return a fresh pin factory; lgpio is imported only when asked for (a non-Pi has none)."""
    if kind == "mock":
        return MockFactory()
    if kind == "lgpio":
        try:
            from gpiozero.pins.lgpio import LGPIOFactory
        except ImportError as exc:
            raise PinFactoryError(kind, f"the lgpio module is not installed ({exc})") from None
        try:
            return LGPIOFactory()
        except Exception as exc:  # no /dev/gpiochip*, not a Pi, no permission
            raise PinFactoryError(kind, f"cannot open the GPIO chip ({exc})") from None
    raise PinFactoryError(kind, "unknown pin factory; expected 'mock' or 'lgpio'")


def satisfy_software_spi_default(pin_factory: Any) -> None:
    """Work around gpiozero 2.0.1: its software SPI bus calls ``Device()`` without a factory.

    ``SPISoftwareBus`` (used for MCP3008 on mock pins) passes the explicit factory to
    its pins but constructs itself with none, so gpiozero looks up a *global* default
    and fails on a non-Pi. We give that lookup an unused MockFactory of its own; no
    device of ours ever uses the global, and a test's factory never leaks into it.
    On a Pi the lookup finds lgpio by itself, so only mock machines need this.
    """
    if isinstance(pin_factory, MockFactory) and Device.pin_factory is None:
        Device.pin_factory = MockFactory()
