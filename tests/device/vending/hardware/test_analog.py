"""MCP3008 through gpiozero's SPI on mock pins (software, or the Pi's hardware controller),
answered by the mock MCP3008 chip."""

from __future__ import annotations

import gc

import pytest
from gpiozero import MCP3008
from gpiozero.pins.mock import MockFactory

from device.errors import ConfigError
from device.settings import SPI0_PINS, AnalogSensorConfig, load_settings
from device.vending.hardware.analog import CalibratedAnalogSensor, Calibration
from device.vending.hardware.factory import satisfy_software_spi_default
from device.vending.hardware.poller import HardwarePoller
from device.vending.hardware.readings import FaultState
from device.vending.sim.physics import MCP3008Chip, MockHardwareSPI, PiMockFactory, SensorPhysics

from .conftest import T0

SLOT = 3  # chocolate: MCP3008 CE0 channel 0, 20 items over readings 0.05..0.95


@pytest.mark.parametrize("select", [0, 1])
def test_the_mock_chip_speaks_the_mcp3008_protocol(pin_factory: MockFactory, select: int) -> None:
    chip = MCP3008Chip(select, pin_factory=pin_factory)
    values = [0, 1, 512, 1023, 77, 900, 345, 1022]
    for channel, raw in enumerate(values):
        chip.set_channel(channel, raw)
    satisfy_software_spi_default(pin_factory)
    adcs = [MCP3008(channel=c, device=select, pin_factory=pin_factory) for c in range(8)]
    try:
        assert [adc.raw_value for adc in adcs] == values
    finally:
        for adc in adcs:
            adc.close()
        chip.close()


def test_the_simulators_factory_reads_spi0_through_the_hardware_controller() -> None:
    factory = PiMockFactory()
    chip = MCP3008Chip(0, pin_factory=factory)
    chip.set_channel(2, 700, 300)
    adc = MCP3008(channel=2, device=0, pin_factory=factory)
    unwired = MCP3008(channel=0, device=1, pin_factory=factory)  # no chip on CE1
    clock = factory.pin(SPI0_PINS[0])
    try:
        assert isinstance(adc._spi, MockHardwareSPI)
        edges = len(clock.states)
        assert [adc.raw_value, adc.raw_value, adc.raw_value] == [700, 300, 700]
        assert unwired.raw_value == 0  # MISO stays low: read as a disconnected channel
        assert len(clock.states) == edges  # whole words: no pin was bit-banged
    finally:
        for device in (adc, unwired, chip):
            device.close()
        factory.reset()


def test_the_chip_rejects_values_an_mcp3008_cannot_produce(pin_factory: MockFactory) -> None:
    chip = MCP3008Chip(0, pin_factory=pin_factory)
    with pytest.raises(ValueError, match=r"0\.\.1023"):
        chip.set_channel(0, 1024)
    chip.close()


def test_calibration_interpolates_between_unsorted_points() -> None:
    curve = Calibration([(0.9, 10), (0.1, 0), (0.3, 6)], slot_id=1)
    assert curve.count(0.2) == pytest.approx(3)
    assert curve.count(0.6) == pytest.approx(8)
    assert curve.count(0.9) == pytest.approx(10)
    # past the ends the end segments continue, so a wild reading is visibly wild
    assert curve.count(1.0) == pytest.approx(10 + 0.1 * 4 / 0.6)
    assert curve.count(0.0) == pytest.approx(-3)
    for count in (0, 3, 6, 8, 10, 12):
        assert curve.count(curve.reading(count)) == pytest.approx(count)


def test_a_calibration_with_two_points_at_one_reading_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"slots\[id=4\]\.sensor\.calibration: two points"):
        Calibration([(0.5, 0), (0.5, 10)], slot_id=4)


def test_every_stock_level_reads_back_through_the_curve(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    for count in range(20, -1, -1):
        physics.set_stock(SLOT, count)
        physics.set_stock(4, min(count, 15))
        snapshot = poller.poll(T0, {})
        assert snapshot.slot(SLOT).count == count
        assert snapshot.slot(4).count == min(count, 15)
        assert snapshot.slot(SLOT).fault is FaultState.OK


def test_a_channel_at_0v_is_disconnected(poller: HardwarePoller, physics: SensorPhysics) -> None:
    physics.disconnect(SLOT)
    reading = poller.poll(T0, {}).slot(SLOT)
    assert reading.fault is FaultState.DISCONNECTED
    assert reading.detail == "MCP3008 CE0 ch0 reads 0 V"
    assert poller.poll(T0, {}).slot(4).fault is FaultState.OK  # its neighbour is unaffected


def test_a_channel_at_full_scale_is_disconnected(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.chip(0).set_channel(1, 1023)
    reading = poller.poll(T0, {}).slot(4)
    assert reading.fault is FaultState.DISCONNECTED
    assert "full scale" in reading.detail


def test_a_reading_beyond_the_curve_is_out_of_range(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.out_of_range(SLOT)
    snapshot = poller.poll(T0, {})
    assert snapshot.slot(SLOT).fault is FaultState.OUT_OF_RANGE
    assert snapshot.slot(SLOT).count == 20
    assert SLOT not in snapshot.usable_slot_ids()


def test_conversions_jumping_up_and_down_are_flapping(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.set_stock(SLOT, 9)
    physics.flap(SLOT)
    assert poller.poll(T0, {}).slot(SLOT).fault is FaultState.FLAPPING


def test_a_load_cell_that_does_not_lighten_while_items_sell_is_stuck(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    poller.poll(T0, {})
    physics.stick(SLOT)
    for _ in range(3):
        poller.motors[SLOT].run(0)
    reading = poller.poll(T0, {SLOT: 3}).slot(SLOT)
    assert reading.fault is FaultState.STUCK
    assert physics.stock(SLOT) == 17


def test_a_machine_opens_its_sensors_whenever_an_old_closed_bus_is_collected(
    pin_factory: MockFactory,
) -> None:
    # gpiozero 2.0.1 keeps a closed SPI interface in a reference cycle, and when the
    # cyclic collector finally frees it, closing it again unregisters whichever
    # interface holds its pins then. A collection between a machine's two MCP3008s
    # opening (allocation triggers one at any time) made the second open a second bus
    # on the same clock pin: GPIOPinInUse at start-up.
    settings = load_settings()
    analog = [(s, s.sensor) for s in settings.slots if isinstance(s.sensor, AnalogSensorConfig)]
    assert len({sensor.select for _, sensor in analog}) == 1  # one MCP3008, one bus
    assert len(analog) >= 2
    gc.disable()
    earlier = type(pin_factory)()
    physics = SensorPhysics(settings, pin_factory)
    sensors: list[CalibratedAnalogSensor] = []
    try:
        satisfy_software_spi_default(earlier)
        closed = MCP3008(channel=0, device=analog[0][1].select, pin_factory=earlier)
        closed.close()
        del closed  # garbage now, in gpiozero's reference cycle
        for slot, _ in analog:
            physics.set_stock(slot.id, slot.capacity - slot.id)
        for slot, config in analog:
            sensors.append(
                CalibratedAnalogSensor(
                    config, slot.capacity, slot_id=slot.id, pin_factory=pin_factory
                )
            )
            gc.collect()  # the collector runs between two sensors opening
        assert [s.read(0).count for s in sensors] == [s.capacity - s.id for s, _ in analog]
    finally:
        for sensor in sensors:
            sensor.close()
        physics.close()
        earlier.reset()
        gc.enable()
