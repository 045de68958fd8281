"""A fresh gpiozero MockFactory per test (never the global), the demo machine's settings,
and the simulated machine: physics first (it claims the pins), then the poller.

Every test runs on both SPI paths: gpiozero's software SPI (plain ``MockFactory``,
bit-banged pins) and the Pi's hardware SPI controller (``PiMockFactory``, what the
simulator uses, as a Pi does on the SPI0 pins)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from device.settings import Settings, load_settings
from device.vending.hardware.poller import HardwarePoller
from device.vending.sim.physics import PiMockFactory, SensorPhysics

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=[MockFactory, PiMockFactory], ids=["software-spi", "hardware-spi"])
def pin_factory(request: pytest.FixtureRequest) -> Iterator[MockFactory]:
    factory: MockFactory = request.param()
    yield factory
    factory.reset()


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def no_cpu_file(tmp_path: Path) -> Path:
    return tmp_path / "no-thermal-zone"


@pytest.fixture
def physics(settings: Settings, pin_factory: MockFactory) -> Iterator[SensorPhysics]:
    machine = SensorPhysics(settings, pin_factory)
    for slot in settings.slots:
        machine.set_stock(slot.id, slot.capacity)
    yield machine
    machine.close()


@pytest.fixture
def poller(
    settings: Settings, pin_factory: MockFactory, physics: SensorPhysics, no_cpu_file: Path
) -> Iterator[HardwarePoller]:
    with HardwarePoller(settings, pin_factory=pin_factory, cpu_sensor_file=no_cpu_file) as p:
        for slot in settings.slots:
            p.recount(slot.id, slot.capacity)
        yield p
