"""DistanceSensor over a column: real gpiozero DistanceSensor, MockTriggerPin echoes."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory, MockTriggerPin

from device.settings import DistanceSensorConfig
from device.vending.hardware.distance import ColumnDistanceSensor
from device.vending.hardware.poller import HardwarePoller
from device.vending.hardware.readings import FaultState
from device.vending.sim.physics import SPEED_OF_SOUND, ColumnTriggerPin, ExactEchoPin, SensorPhysics

from .conftest import T0

SLOT = 1  # the demo machine's cola column: 12 items of 6.5 cm under a sensor 78 cm up


def column(empty: float, pitch: float) -> DistanceSensorConfig:
    return DistanceSensorConfig(
        kind="distance", trigger_pin=23, echo_pin=24, empty_distance_m=empty, item_pitch_m=pitch
    )


def test_gpiozero_mock_trigger_pin_echo_is_read_as_a_count(pin_factory: MockFactory) -> None:
    # gpiozero's own MockTriggerPin times the echo with sleep(), which only runs long
    # (fewer items), by tens of ms on a loaded machine. Four-metre "items" make one pitch
    # 23 ms of echo: a column at 2.4 items has 21 ms of slack before the count could
    # round down to 1, and one late sample spreads the three by 1.5 items (flapping)
    # only past 35 ms; the whole echo stays far inside gpiozero's 100 ms timeout.
    cfg = column(empty=12.0, pitch=4.0)
    distance = cfg.empty_distance_m - 2.4 * cfg.item_pitch_m
    echo = pin_factory.pin(cfg.echo_pin)
    pin_factory.pin(
        cfg.trigger_pin,
        pin_class=MockTriggerPin,
        echo_pin=echo,
        echo_time=2 * distance / SPEED_OF_SOUND,
    )
    # pinged as on a real HC-SR04: 60 ms apart
    sensor = ColumnDistanceSensor(cfg, 4, pin_factory=pin_factory, samples=3, ping_gap_s=0.06)
    readings = []
    try:
        # A sample the scheduler held back is seen for what it is (flapping or no echo),
        # never as a wrong count: read again, a bounded number of times.
        for _ in range(5):
            readings.append(sensor.read(sales=0))
            if readings[-1].fault is FaultState.OK:
                break
    finally:
        sensor.close()
    reading = readings[-1]
    assert reading.fault is FaultState.OK, [r.detail for r in readings]
    assert reading.count == 2
    disturbed = {FaultState.FLAPPING, FaultState.DISCONNECTED}
    assert all(r.fault in disturbed for r in readings[:-1])


def test_every_stock_level_of_the_column_reads_back_exactly(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    for count in range(12, -1, -1):
        physics.set_stock(SLOT, count)
        reading = poller.poll(T0, {}).slot(SLOT)
        assert (reading.count, reading.floor, reading.ceiling) == (count, count, count)
        assert reading.fault is FaultState.OK


def test_a_reading_past_the_column_floor_is_out_of_range(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.out_of_range(SLOT)
    snapshot = poller.poll(T0, {})
    reading = snapshot.slot(SLOT)
    assert reading.fault is FaultState.OUT_OF_RANGE
    assert reading.count == 0  # clamped, but not usable
    assert reading.confidence == 0
    assert SLOT not in snapshot.usable_slot_ids()


def test_something_above_a_full_column_is_out_of_range(pin_factory: MockFactory) -> None:
    # A 1 m sensor over 5 items of 10 cm: an echo from 20 cm (8 items) is a hand or a jam.
    cfg = column(empty=1.0, pitch=0.1)
    echo = pin_factory.pin(cfg.echo_pin, pin_class=ExactEchoPin)
    trigger = pin_factory.pin(cfg.trigger_pin, pin_class=ColumnTriggerPin, echo_pin=echo)
    trigger.set_echoes([2 * 0.2 / SPEED_OF_SOUND])
    sensor = ColumnDistanceSensor(cfg, 5, pin_factory=pin_factory)
    try:
        reading = sensor.read(sales=0)
    finally:
        sensor.close()
    assert reading.fault is FaultState.OUT_OF_RANGE
    assert reading.count == 5
    assert "8.0 items" in reading.detail


def test_no_echo_is_disconnected_not_an_exception(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.disconnect(SLOT)
    snapshot = poller.poll(T0, {})
    reading = snapshot.slot(SLOT)
    assert reading.fault is FaultState.DISCONNECTED
    assert reading.count is None
    assert "GPIO24" in reading.detail
    assert [a.slot_id for a in snapshot.alerts] == [SLOT]


def test_samples_jumping_up_and_down_are_flapping(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.set_stock(SLOT, 6)
    physics.flap(SLOT)
    reading = poller.poll(T0, {}).slot(SLOT)
    assert reading.fault is FaultState.FLAPPING
    assert reading.count is None
    physics.heal(SLOT)
    assert poller.poll(T0, {}).slot(SLOT).count == 6


def test_a_column_that_does_not_fall_while_items_sell_is_stuck(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    assert poller.poll(T0, {}).slot(SLOT).count == 12
    physics.stick(SLOT)
    poller.motors[SLOT].run(0)
    reading = poller.poll(T0, {SLOT: 1}).slot(SLOT)
    assert reading.fault is FaultState.OK  # one sale unseen may be a slow read
    poller.motors[SLOT].run(0)
    reading = poller.poll(T0, {SLOT: 1}).slot(SLOT)
    assert reading.fault is FaultState.STUCK
    assert "after 2 sales" in reading.detail
    assert physics.stock(SLOT) == 10
    physics.heal(SLOT)
    reading = poller.poll(T0, {}).slot(SLOT)
    assert (reading.fault, reading.count) == (FaultState.OK, 10)


@pytest.mark.parametrize(("samples", "expected"), [(1, 8), (5, 7)])
def test_the_median_of_samples_ignores_one_wild_sample(
    pin_factory: MockFactory, samples: int, expected: int
) -> None:
    cfg = column(empty=0.78, pitch=0.065)
    echo = pin_factory.pin(cfg.echo_pin, pin_class=ExactEchoPin)
    trigger = pin_factory.pin(cfg.trigger_pin, pin_class=ColumnTriggerPin, echo_pin=echo)

    def echo_at(items: float) -> float:
        return 2 * (0.78 - items * 0.065) / SPEED_OF_SOUND

    # the first ping reads 1.4 items high (a ripple on the surface), the rest read 7
    trigger.set_echoes([echo_at(8.4), echo_at(7), echo_at(7), echo_at(7), echo_at(7)])
    sensor = ColumnDistanceSensor(cfg, 12, pin_factory=pin_factory, samples=samples)
    try:
        reading = sensor.read(sales=0)
    finally:
        sensor.close()
    assert reading.count == expected
    assert reading.fault is FaultState.OK
