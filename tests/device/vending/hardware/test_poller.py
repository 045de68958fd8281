"""The poller: one owner of all pins, an immutable snapshot per poll, faults as alerts."""

from __future__ import annotations

import dataclasses
import gc
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog.testing
from gpiozero import MCP3008
from gpiozero.pins.mock import MockFactory

from device.settings import Settings
from device.vending.hardware.errors import PinError, SlotError
from device.vending.hardware.poller import HardwarePoller
from device.vending.hardware.readings import FaultState
from device.vending.sim.physics import SensorPhysics

from .conftest import T0


def test_a_full_healthy_machine_reads_every_slot(
    poller: HardwarePoller, settings: Settings
) -> None:
    snapshot = poller.poll(T0, {})
    assert snapshot.taken_at == T0
    assert [r.slot_id for r in snapshot.slots] == [s.id for s in settings.slots]
    assert snapshot.alerts == ()
    assert snapshot.usable_slot_ids() == {s.id for s in settings.slots}
    counts = {r.slot_id: r.count for r in snapshot.slots}
    assert counts == {1: 12, 2: 10, 3: 20, 4: 15, 5: None, 6: 8}
    assert snapshot.cpu_temp_c is None
    assert not snapshot.door_open
    assert poller.last is snapshot


def test_the_snapshot_time_is_the_one_passed_in(poller: HardwarePoller) -> None:
    simulated = datetime(2031, 12, 31, 23, 59, tzinfo=UTC)
    assert poller.poll(simulated, {}).taken_at == simulated


def test_a_snapshot_cannot_be_changed(poller: HardwarePoller) -> None:
    snapshot = poller.poll(T0, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.door_open = True  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.slots[0].count = 99  # type: ignore[misc]


def test_vends_on_every_slot_lower_every_reading(
    poller: HardwarePoller, physics: SensorPhysics, settings: Settings
) -> None:
    for slot in settings.slots:
        poller.drop.arm()
        poller.motors[slot.id].run(0)
        assert poller.drop.dropped(), slot.id
    snapshot = poller.poll(T0, {s.id: 1 for s in settings.slots})
    counts = {r.slot_id: r.count for r in snapshot.slots}
    assert counts == {1: 11, 2: 9, 3: 19, 4: 14, 5: None, 6: 7}
    assert {s.id: physics.stock(s.id) for s in settings.slots} == {
        1: 11,
        2: 9,
        3: 19,
        4: 14,
        5: 15,
        6: 7,
    }
    assert snapshot.alerts == ()


def test_a_faulted_slot_raises_an_alert_and_is_never_a_reason_to_buy(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.set_stock(2, 1)  # nearly empty: would be the best reason to buy...
    physics.flap(2)  # ...if the sensor could be believed
    snapshot = poller.poll(T0, {})
    assert [(a.slot_id, a.fault) for a in snapshot.alerts] == [(2, FaultState.FLAPPING)]
    assert 2 not in snapshot.usable_slot_ids()
    assert not snapshot.slot(2).usable
    physics.heal(2)
    healed = poller.poll(T0, {})
    assert healed.alerts == ()
    assert healed.slot(2).count == 1


def test_a_sensor_that_raises_is_marked_disconnected_and_the_rest_still_read(
    poller: HardwarePoller,
) -> None:
    sensor = poller.sensors[3]
    assert sensor is not None
    sensor.close()  # reading a closed gpiozero device raises DeviceClosed
    snapshot = poller.poll(T0, {})
    assert snapshot.slot(3).fault is FaultState.DISCONNECTED
    assert snapshot.slot(3).detail.startswith("read failed: ")
    assert [a.slot_id for a in snapshot.alerts] == [3]
    assert snapshot.slot(4).count == 15


@pytest.mark.parametrize(
    ("sales", "message"),
    [({99: 1}, "slot 99: no such slot"), ({6: -1}, "slot 6: negative sales")],
)
def test_bad_sales_are_refused_and_change_nothing(
    poller: HardwarePoller, sales: dict[int, int], message: str
) -> None:
    poller.poll(T0, {6: 2})
    with pytest.raises(SlotError, match=message):
        poller.poll(T0, {6: 1, **sales})
    assert poller.poll(T0, {}).slot(6).count == 6


def test_a_recount_outside_the_slot_is_refused(poller: HardwarePoller) -> None:
    with pytest.raises(SlotError, match=r"slot 6: recount 9 is outside 0\.\.8"):
        poller.recount(6, 9)
    with pytest.raises(SlotError, match="slot 42: no such slot"):
        poller.recount(42, 1)
    with pytest.raises(SlotError, match="slot 42: not in this snapshot"):
        poller.poll(T0, {}).slot(42)


def test_samples_must_be_positive(settings: Settings, pin_factory: MockFactory) -> None:
    with pytest.raises(ValueError, match="samples"):
        HardwarePoller(settings, pin_factory=pin_factory, samples=0)


def test_machines_on_fresh_factories_one_after_another_each_read_their_own_pins(
    settings: Settings, tmp_path: Path
) -> None:
    # gpiozero shares its software SPI bus by pin name across factories; closing
    # the poller must release it so the next machine talks to its own mock chip.
    for stock in (7, 13):
        factory = MockFactory()
        physics = SensorPhysics(settings, factory)
        physics.set_stock(3, stock)
        with HardwarePoller(settings, pin_factory=factory, cpu_sensor_file=tmp_path / "x") as p:
            assert p.poll(T0, {}).slot(3).count == stock
        physics.close()
        factory.reset()


def test_a_pin_used_twice_on_one_factory_is_a_hardware_error(
    settings: Settings, pin_factory: MockFactory, poller: HardwarePoller
) -> None:
    # the poller owns the pins; a second poller on the same factory must not share them
    with pytest.raises(PinError, match="GPIO23: GPIOPinInUse") as excinfo:
        HardwarePoller(settings, pin_factory=pin_factory)
    assert excinfo.value.pin == 23  # slot 1's trigger, the first pin it tried
    assert poller.poll(T0, {}).alerts == ()  # the failed construction released nothing of ours


def test_a_second_open_machine_in_one_process_is_refused_not_misread(
    settings: Settings, poller: HardwarePoller, tmp_path: Path
) -> None:
    other = MockFactory()
    SensorPhysics(settings, other)
    with pytest.raises(
        SlotError, match="slot 3: another pin factory in this process holds the SPI"
    ):
        HardwarePoller(settings, pin_factory=other, cpu_sensor_file=tmp_path / "x")
    assert poller.poll(T0, {}).slot(3).count == 20
    other.reset()


def test_the_refusal_holds_when_a_closed_machine_is_collected_late(
    settings: Settings, tmp_path: Path
) -> None:
    # gpiozero 2.0.1 forgets an open machine's SPI interface when an interface that was
    # closed before it opened is garbage-collected after: the refusal must not rely on that.
    earlier = MockFactory()
    SensorPhysics(settings, earlier)
    closed = MCP3008(channel=0, device=0, pin_factory=earlier)
    lingering = closed._spi  # what a reference cycle would keep alive past close()
    closed.close()
    factory = MockFactory()
    SensorPhysics(settings, factory).set_stock(3, 17)
    with HardwarePoller(settings, pin_factory=factory, cpu_sensor_file=tmp_path / "x") as open_:
        del lingering
        gc.collect()
        other = MockFactory()
        SensorPhysics(settings, other)
        with pytest.raises(SlotError, match="slot 3: another pin factory"):
            HardwarePoller(settings, pin_factory=other, cpu_sensor_file=tmp_path / "x")
        assert open_.poll(T0, {}).slot(3).count == 17
    for f in (earlier, factory, other):
        f.reset()


def test_a_fault_is_logged_when_it_starts_and_when_it_clears_not_every_poll(
    poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.out_of_range(4)
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            poller.poll(T0, {})
        physics.heal(4)
        poller.poll(T0, {})
    events = [(e["event"], e["slot"]) for e in logs if e["event"].startswith("slot_fault")]
    assert events == [("slot_fault", 4), ("slot_fault_cleared", 4)]
