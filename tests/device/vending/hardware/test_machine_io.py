"""Door switch, vend motors, drop sensor, coin acceptor and CPU temperature on mock pins."""

from __future__ import annotations

from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from device.settings import Settings
from device.vending.hardware.coin import CoinAcceptor
from device.vending.hardware.health import CpuHealth
from device.vending.hardware.poller import HardwarePoller
from device.vending.sim.physics import SensorPhysics

from .conftest import T0


def test_a_restocking_visit_opens_and_closes_the_door(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    events: list[str] = []
    poller.door.when_opened = lambda: events.append("opened")
    poller.door.when_closed = lambda: events.append("closed")
    assert not poller.door.is_open
    physics.open_door()
    assert poller.door.is_open
    during = poller.poll(T0, {})
    assert (during.door_open, during.door_visits_ended) == (True, 0)
    physics.close_door()
    after = poller.poll(T0, {})
    assert (after.door_open, after.door_visits_ended) == (False, 1)
    assert poller.poll(T0, {}).door_visits_ended == 0
    assert events == ["opened", "closed"]


def test_restock_fills_the_slots_in_one_visit(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.set_stock(1, 2)
    physics.set_stock(3, 5)
    poller.poll(T0, {})
    physics.restock({1: 12, 3: 20})
    snapshot = poller.poll(T0, {})
    assert snapshot.door_visits_ended == 1
    assert (snapshot.slot(1).count, snapshot.slot(3).count) == (12, 20)


def test_a_motor_pulse_turns_the_pin_on_then_off(
    poller: HardwarePoller, pin_factory: MockFactory, settings: Settings
) -> None:
    pin = pin_factory.pin(settings.slot(2).motor_pin)
    pin.clear_states()
    poller.motors[2].run(0.01)
    assert [s.state for s in pin.states] == [False, True, False]
    assert not poller.motors[2].is_running
    with pytest.raises(ValueError, match="pulse"):
        poller.motors[2].run(-1)


def test_a_vend_drops_an_item_the_drop_sensor_sees(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    poller.drop.arm()
    assert not poller.drop.dropped()
    poller.motors[4].run(0)
    assert poller.drop.dropped()
    assert poller.drop.drops == 1
    assert physics.stock(4) == 14
    poller.drop.arm()
    assert not poller.drop.dropped()


def test_a_background_pulse_can_be_awaited_in_real_time(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    poller.drop.arm()
    poller.motors[1].run(0.02, wait=False)
    assert poller.drop.wait(timeout=5)
    assert physics.stock(1) == 11


def test_a_jammed_spiral_turns_but_nothing_drops(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.jam(5)
    poller.drop.arm()
    poller.motors[5].run(0)
    assert not poller.drop.dropped()
    assert not poller.drop.wait(timeout=0.05)
    assert physics.stock(5) == 16
    physics.jam(5, jammed=False)
    poller.motors[5].run(0)
    assert poller.drop.dropped()


def test_an_empty_slot_drops_nothing(poller: HardwarePoller, physics: SensorPhysics) -> None:
    physics.set_stock(2, 0)
    poller.drop.arm()
    poller.motors[2].run(0)
    assert not poller.drop.dropped()


def test_coin_pulses_become_credit_in_base_units(
    poller: HardwarePoller, physics: SensorPhysics, settings: Settings
) -> None:
    assert poller.coins.credit == 0
    physics.insert_coins(3)
    assert poller.coins.credit == 3 * settings.machine.coin_value == 1_500_000
    assert poller.coins.take_credit() == 1_500_000
    assert poller.coins.credit == 0
    assert poller.coins.take_credit() == 0


def test_a_coin_value_must_be_positive(pin_factory: MockFactory) -> None:
    with pytest.raises(ValueError, match="coin_value"):
        CoinAcceptor(27, 0, pin_factory=pin_factory)


def test_cpu_temperature_comes_from_the_thermal_file(
    pin_factory: MockFactory, tmp_path: Path
) -> None:
    thermal = tmp_path / "temp"
    thermal.write_text("48312\n")
    health = CpuHealth(pin_factory=pin_factory, sensor_file=thermal)
    assert health.temperature() == pytest.approx(48.312)
    thermal.write_text("garbage\n")
    assert health.temperature() is None
    thermal.unlink()
    assert health.temperature() is None
    health.close()


@pytest.mark.parametrize("content", [None, "not a number"])
def test_cpu_temperature_is_unknown_off_the_pi(
    pin_factory: MockFactory, tmp_path: Path, content: str | None
) -> None:
    thermal = tmp_path / "temp"
    if content is not None:
        thermal.write_text(content)
    health = CpuHealth(pin_factory=pin_factory, sensor_file=thermal)
    assert health.temperature() is None
    health.close()


def test_the_snapshot_carries_the_cpu_temperature(
    settings: Settings, pin_factory: MockFactory, physics: SensorPhysics, tmp_path: Path
) -> None:
    thermal = tmp_path / "temp"
    thermal.write_text("61000")
    with HardwarePoller(settings, pin_factory=pin_factory, cpu_sensor_file=thermal) as poller:
        assert poller.poll(T0, {}).cpu_temp_c == pytest.approx(61.0)
