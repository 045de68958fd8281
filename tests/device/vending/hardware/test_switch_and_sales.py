"""Low-stock switches (Button, LineSensor) give a bound; sales-count slots give bookkeeping."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from device.settings import Settings, SlotConfig, SwitchSensorConfig
from device.vending.hardware.poller import HardwarePoller, SlotReading
from device.vending.hardware.readings import FaultState
from device.vending.sim.physics import SensorPhysics

from .conftest import T0

SWITCH = 5  # granola: a Button lever, floor 2, capacity 16
SALES = 6  # sandwiches: no sensor, capacity 8


def sell(poller: HardwarePoller, slot_id: int, n: int) -> None:
    for _ in range(n):
        poller.motors[slot_id].run(0)


def test_the_lever_bounds_the_stock_above_and_at_the_floor(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    above = poller.poll(T0, {}).slot(SWITCH)
    assert (above.count, above.floor, above.ceiling) == (None, 3, 16)
    assert above.usable
    physics.set_stock(SWITCH, 3)
    assert poller.poll(T0, {}).slot(SWITCH).floor == 3
    physics.set_stock(SWITCH, 2)
    low = poller.poll(T0, {}).slot(SWITCH)
    assert (low.count, low.floor, low.ceiling) == (None, 0, 2)
    assert low.fault is FaultState.OK
    assert low.usable  # a tripped low switch is exactly a reason to buy


def test_a_switch_toggling_between_polls_is_flapping(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.flap(SWITCH)
    snapshot = poller.poll(T0, {})
    assert snapshot.slot(SWITCH).fault is FaultState.FLAPPING
    assert SWITCH not in snapshot.usable_slot_ids()
    physics.heal(SWITCH)
    assert poller.poll(T0, {}).slot(SWITCH).fault is FaultState.OK


def test_a_lever_that_never_drops_while_the_slot_sells_out_is_stuck(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.stick(SWITCH)
    sell(poller, SWITCH, 14)
    assert physics.stock(SWITCH) == 2
    reading = poller.poll(T0, {SWITCH: 14}).slot(SWITCH)
    assert reading.fault is FaultState.OK  # 2 left is the floor: the lever may just hold
    sell(poller, SWITCH, 1)
    reading = poller.poll(T0, {SWITCH: 1}).slot(SWITCH)
    assert reading.fault is FaultState.STUCK
    assert "leave 1" in reading.detail


def test_a_cut_switch_wire_reads_low_and_is_caught_once_sales_contradict_it(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.disconnect(SWITCH)
    reading = poller.poll(T0, {}).slot(SWITCH)
    assert (reading.fault, reading.ceiling) == (FaultState.OK, 2)  # indistinguishable yet
    sell(poller, SWITCH, 1)
    reading = poller.poll(T0, {SWITCH: 1}).slot(SWITCH)
    assert reading.fault is FaultState.STUCK
    assert "reads low" in reading.detail


@pytest.fixture
def line_machine(
    pin_factory: MockFactory, tmp_path: Path
) -> Iterator[tuple[SensorPhysics, HardwarePoller]]:
    slot = SlotConfig(
        id=9,
        gtin="12345678",
        name="Gum",
        retail_price=900_000,
        capacity=30,
        par=20,
        motor_pin=21,
        sensor=SwitchSensorConfig(kind="switch", pin=16, device="line", floor=4),
    )
    settings = Settings(device_id="line-test", slots=[slot])
    physics = SensorPhysics(settings, pin_factory)
    physics.set_stock(9, 30)
    with HardwarePoller(
        settings, pin_factory=pin_factory, cpu_sensor_file=tmp_path / "x"
    ) as poller:
        yield physics, poller
    physics.close()


def poll_until(poller: HardwarePoller, slot_id: int, ceiling: int) -> SlotReading:
    """LineSensor samples in gpiozero's thread: allow it a few samples to see the pin."""
    deadline = time.monotonic() + 5
    while True:
        reading = poller.poll(T0, {}).slot(slot_id)
        if reading.ceiling == ceiling or time.monotonic() > deadline:
            return reading
        time.sleep(0.005)


def test_a_line_sensor_sees_the_last_items_go(
    line_machine: tuple[SensorPhysics, HardwarePoller],
) -> None:
    physics, poller = line_machine
    assert poll_until(poller, 9, 30).floor == 5
    physics.set_stock(9, 4)
    low = poll_until(poller, 9, 4)
    assert (low.floor, low.ceiling, low.fault) == (0, 4, FaultState.OK)


def test_a_sales_count_slot_is_unknown_until_recounted(
    settings: Settings, pin_factory: MockFactory, physics: SensorPhysics, no_cpu_file: Path
) -> None:
    with HardwarePoller(settings, pin_factory=pin_factory, cpu_sensor_file=no_cpu_file) as poller:
        reading = poller.poll(T0, {}).slot(SALES)
        assert reading.count is None
        assert not reading.usable
        poller.recount(SALES, 8)
        assert poller.poll(T0, {}).slot(SALES).count == 8


def test_sales_count_is_recount_minus_sales_with_falling_confidence(
    poller: HardwarePoller,
) -> None:
    first = poller.poll(T0, {SALES: 2}).slot(SALES)
    second = poller.poll(T0, {SALES: 3}).slot(SALES)
    assert (first.count, second.count) == (6, 3)
    assert second.confidence < first.confidence
    assert second.detail == "recount 8 minus 5 sales"


def test_more_sales_than_the_recount_is_out_of_range(poller: HardwarePoller) -> None:
    snapshot = poller.poll(T0, {SALES: 9})
    assert snapshot.slot(SALES).fault is FaultState.OUT_OF_RANGE
    assert snapshot.slot(SALES).count == 0
    assert [a.slot_id for a in snapshot.alerts] == [SALES]
    assert SALES not in snapshot.usable_slot_ids()
