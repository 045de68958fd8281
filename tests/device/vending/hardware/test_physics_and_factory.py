"""Sensor physics refuses what a machine cannot do; the pin factory is built from settings."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from device.settings import Settings
from device.vending.hardware.errors import HardwareError, PinError, PinFactoryError, SlotError
from device.vending.hardware.factory import make_pin_factory
from device.vending.hardware.poller import HardwarePoller
from device.vending.sim.physics import PIN_HISTORY, SensorPhysics

from .conftest import T0


def test_stock_outside_the_slot_is_refused_and_changes_nothing(physics: SensorPhysics) -> None:
    with pytest.raises(SlotError, match=r"slot 1: stock 13 is outside 0\.\.12"):
        physics.set_stock(1, 13)
    with pytest.raises(SlotError, match="slot 7: no such slot"):
        physics.set_stock(7, 1)
    assert physics.stock(1) == 12


def test_a_bad_restock_opens_no_door(physics: SensorPhysics, poller: HardwarePoller) -> None:
    with pytest.raises(SlotError, match="slot 2"):
        physics.restock({1: 5, 2: 11})
    snapshot = poller.poll(T0, {})
    assert (snapshot.door_open, snapshot.door_visits_ended) == (False, 0)
    assert physics.stock(1) == 12


def test_faults_a_slot_cannot_have_are_refused(physics: SensorPhysics) -> None:
    with pytest.raises(SlotError, match="slot 6: a sales-count slot has no sensor"):
        physics.disconnect(6)
    with pytest.raises(SlotError, match="slot 5: a switch has no range"):
        physics.out_of_range(5)
    with pytest.raises(HardwareError, match="CE1"):
        physics.chip(1)


def test_physics_must_claim_the_pins_before_the_poller(
    settings: Settings, pin_factory: MockFactory, tmp_path: Path
) -> None:
    with (
        HardwarePoller(settings, pin_factory=pin_factory, cpu_sensor_file=tmp_path / "x"),
        pytest.raises(PinError, match="GPIO17: already claimed"),
    ):
        SensorPhysics(settings, pin_factory)


def test_physics_needs_the_mock_factory(settings: Settings) -> None:
    with pytest.raises(TypeError, match="MockFactory"):
        SensorPhysics(settings, object())


def test_the_mock_factory_is_fresh_each_time() -> None:
    first, second = make_pin_factory("mock"), make_pin_factory("mock")
    assert isinstance(first, MockFactory)
    assert first is not second


def test_lgpio_off_a_pi_is_a_clear_error() -> None:
    if importlib.util.find_spec("lgpio") is not None and Path("/dev/gpiochip0").exists():
        make_pin_factory("lgpio").close()  # on a Pi it simply works
        return
    with pytest.raises(
        PinFactoryError,
        match=r"pin_factory 'lgpio': (the lgpio module is not installed|cannot open the GPIO chip)",
    ):
        make_pin_factory("lgpio")


def test_an_unknown_pin_factory_is_refused() -> None:
    with pytest.raises(PinFactoryError, match="unknown pin factory"):
        make_pin_factory("pigpio")


def test_a_mock_machine_never_imports_lgpio() -> None:
    code = (
        "import sys\n"
        "from device.vending.hardware.factory import make_pin_factory\n"
        "from device.vending.hardware.poller import HardwarePoller\n"
        "from device.settings import load_settings\n"
        "s = load_settings()\n"
        "f = make_pin_factory(s.pin_factory)\n"
        "HardwarePoller(s, pin_factory=f).close()\n"
        "print(sorted(m for m in sys.modules if 'lgpio' in m))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "[]"  # structlog may log above it


def test_a_long_simulation_keeps_only_recent_pin_history(
    poller: HardwarePoller, physics: SensorPhysics, pin_factory: MockFactory
) -> None:
    for _ in range(40):  # ~300 SPI edges per poll would pile up in plain MockPins
        poller.poll(T0, {})
    longest = max(len(pin.states) for pin in pin_factory.pins.values())
    assert longest == PIN_HISTORY
