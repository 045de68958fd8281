"""VendHardware built from real gpiozero devices on MockFactory pins, for the vend tests.

The motors are ``OutputDevice``s and the drop beam a ``DigitalInputDevice`` (pulled up;
an item breaking the IR beam pulls it low). What the item does when a motor turns is
the test's ``on_motor`` callback, which drives the beam's mock pin like a falling item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from gpiozero import DigitalInputDevice, OutputDevice
from gpiozero.pins.mock import MockFactory, MockPin

from device.settings import SalesCountConfig, SlotConfig

DROP_PIN = 22
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
COLA = 1  # slot 1 costs 2.00 USDC
CHIPS = 2  # slot 2 costs 1.50 USDC
PRICES = {COLA: 2_000_000, CHIPS: 1_500_000}


def demo_slots(prices: Mapping[int, int]) -> list[SlotConfig]:
    """Slots with the given prices, one motor pin each (GPIO 5, 6, ...)."""
    return [
        SlotConfig(
            id=slot_id,
            gtin=f"0{slot_id:07d}",
            name=f"item {slot_id}",
            retail_price=price,
            capacity=10,
            par=5,
            motor_pin=4 + slot_id,
            sensor=SalesCountConfig(kind="sales"),
        )
        for slot_id, price in prices.items()
    ]


class MockPinMachine:
    """Motors and a drop beam on gpiozero mock pins; the item falls unless told otherwise."""

    def __init__(
        self,
        factory: MockFactory,
        slots: list[SlotConfig],
        on_motor: Callable[[MockPinMachine, int], None] | None = None,
    ) -> None:
        self.factory = factory
        self.motors = {s.id: OutputDevice(s.motor_pin, pin_factory=factory) for s in slots}
        self.beam = DigitalInputDevice(DROP_PIN, pull_up=True, pin_factory=factory)
        self.beam.when_activated = self._beam_broken
        self.on_motor = on_motor if on_motor is not None else MockPinMachine.item_falls
        self._dropped = False

    @property
    def beam_pin(self) -> MockPin:
        pin: MockPin = self.factory.pin(DROP_PIN)
        return pin

    def motor_pin(self, slot_id: int) -> MockPin:
        pin: MockPin = self.motors[slot_id].pin
        return pin

    def item_falls(self, slot_id: int) -> None:
        """An item passes the beam: the pin goes low, then high again."""
        self.beam_pin.drive_low()
        self.beam_pin.drive_high()

    def _beam_broken(self) -> None:
        self._dropped = True

    # --- VendHardware ---

    def arm_drop_sensor(self) -> None:
        self._dropped = False

    def run_motor(self, slot_id: int) -> None:
        motor = self.motors[slot_id]
        motor.on()
        try:
            self.on_motor(self, slot_id)
        finally:
            motor.off()

    def drop_seen(self) -> bool:
        return self._dropped

    def close(self) -> None:
        for motor in self.motors.values():
            motor.close()
        self.beam.close()
