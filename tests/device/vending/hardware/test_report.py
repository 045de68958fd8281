"""The operator's one-shot sensor read and the poll benchmark."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory
from rich.console import Console

from device.settings import Settings
from device.vending.hardware.bench import measure_poll_cost
from device.vending.hardware.poller import HardwarePoller
from device.vending.hardware.report import read_machine, snapshot_table
from device.vending.sim.physics import PiMockFactory, SensorPhysics

from .conftest import T0


def test_reading_a_mock_machine_shows_it_full(settings: Settings) -> None:
    snapshot = read_machine(settings, T0)
    assert snapshot.taken_at == T0
    assert snapshot.alerts == ()
    counts = {r.slot_id: r.count for r in snapshot.slots}
    assert counts == {1: 12, 2: 10, 3: 20, 4: 15, 5: None, 6: 8}
    # the pins were released: a second read opens them again
    assert read_machine(settings, T0).alerts == ()


def test_the_table_names_every_slot_and_its_fault(
    settings: Settings, poller: HardwarePoller, physics: SensorPhysics
) -> None:
    physics.disconnect(3)
    console = Console(record=True, width=200)
    console.print(snapshot_table(settings, poller.poll(T0, {})))
    text = console.export_text()
    for slot in settings.slots:
        assert slot.name in text
    assert "disconnected" in text
    assert "MCP3008 CE0 ch0 reads 0 V" in text
    assert "door closed, CPU unknown" in text


@pytest.mark.parametrize("factory", [MockFactory, PiMockFactory], ids=["software", "hardware"])
def test_the_benchmark_measures_healthy_polls_through_several_refills(
    settings: Settings, factory: type[MockFactory]
) -> None:
    # 25 polls selling one item per slot each empty and refill every slot at least once
    cost = measure_poll_cost(settings, polls=25, samples=3, factory=factory)
    assert (cost.polls, cost.samples) == (25, 3)
    assert cost.faulted_polls == 0
