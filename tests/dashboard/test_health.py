"""Sensor health on the stock page, the overview alerts and /metrics, from the real poller
(gpiozero MockFactory pins driven by the simulated sensor physics)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from gpiozero.pins.mock import MockFactory
from prometheus_client.parser import text_string_to_metric_families

from dashboard.app import create_app, start_in_thread
from dashboard.machine import LiveMachineView
from device.settings import Settings
from device.store.db import Store
from device.vending.hardware.poller import HardwarePoller
from device.vending.sim.physics import SensorPhysics
from tests.dashboard.chain import Chain
from tests.dashboard.conftest import OwnerLogin, login


@pytest.fixture
def poller(settings: Settings, tmp_path: Path) -> Iterator[tuple[SensorPhysics, HardwarePoller]]:
    factory = MockFactory()
    physics = SensorPhysics(settings, factory)
    for slot in settings.slots:
        physics.set_stock(slot.id, slot.capacity - 2)
    with HardwarePoller(
        settings, pin_factory=factory, cpu_sensor_file=tmp_path / "no-thermal"
    ) as poller:
        for slot in settings.slots:
            poller.recount(slot.id, slot.capacity - 2)
        yield physics, poller
    physics.close()
    factory.reset()


def test_a_disconnected_sensor_shows_on_stock_overview_and_metrics(
    settings: Settings,
    store: Store,
    chain: Chain,
    owner: OwnerLogin,
    poller: tuple[SensorPhysics, HardwarePoller],
    tmp_path: Path,
) -> None:
    physics, hardware = poller
    physics.disconnect(1)
    hardware.poll(datetime.now(UTC), {})
    view = LiveMachineView(settings, store, chain.pc, stock_snapshot=lambda: hardware.last)
    app = create_app(settings, view, engine=store.engine, secret_file=tmp_path / "s.key")
    running = start_in_thread(app)
    try:
        with httpx.Client(base_url=running.url) as client:
            login(client, owner)
            slots = {s["slot_id"]: s for s in client.get("/api/slots").json()}
            assert slots[1]["health"] == "disconnected"
            assert slots[2]["health"] == "ok"
            assert slots[2]["count"] == settings.slot(2).capacity - 2  # from the sensor
            alerts = client.get("/api/status").json()["alerts"]
            assert any(a["source"] == "slot:1" and "disconnected" in a["message"] for a in alerts)
            assert 'class="health disconnected"' in client.get("/stock").text
            text = client.get("/metrics").text
        faults = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert faults[("custobot_sensor_faults", ())] == 1
        assert (
            faults[("custobot_slot_sensor_fault", (("slot", "1"), ("state", "disconnected")))] == 1
        )
    finally:
        running.stop()
