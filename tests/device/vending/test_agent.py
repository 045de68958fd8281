"""The agent core on mock pins: it sells, notices restocking visits, and flags faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from device.settings import load_settings
from device.store import repo
from device.store.models import PaymentMethod, RecountSource, SaleState
from device.vending.sim.machine import SimulatedMachine
from device.vending.sim.scenarios import OFFICE_SNACKS

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def _machine(tmp_path: Path, route_every: timedelta = timedelta(days=3)) -> SimulatedMachine:
    return SimulatedMachine(
        load_settings(),
        OFFICE_SNACKS,
        database=tmp_path / "m.db",
        start=START,
        seed=3,
        route_every=route_every,
    )


def test_stock_falls_as_customers_buy_and_sensors_agree_with_the_shelves(tmp_path: Path) -> None:
    with _machine(tmp_path) as machine:
        machine.run(days=1)
        state = machine.agent.state
        assert state is not None
        assert machine.totals.sales > 10
        for slot in state.slots:
            true_stock = machine.physics.stock(slot.slot_id)
            assert slot.stock == true_stock  # the store's books match the shelf
            if slot.sensor_count is not None:  # and so do the counting sensors
                assert slot.sensor_count == true_stock
            assert slot.fault == "ok"
        assert sum(s.stock or 0 for s in state.slots) < sum(s.capacity for s in state.slots)
        with machine.store.read() as session:
            sold = repo.sales_since(session, START)
        assert len(sold) == machine.totals.sales
        assert {s.state for s in sold} == {SaleState.COMPLETED}
        assert sum(s.price for s in sold) == machine.totals.revenue


def test_restocking_visit_is_recorded_as_a_recount(tmp_path: Path) -> None:
    with _machine(tmp_path, route_every=timedelta(days=2)) as machine:
        machine.run(days=2.5)
        assert machine.totals.restock_visits == 2
        with machine.store.read() as session:
            recounts = repo.last_recounts(session)
        visit = START + timedelta(days=2)
        for slot in machine.settings.slots:
            assert recounts[slot.id].at == visit
            expected = (
                RecountSource.SENSOR
                if slot.sensor.kind in ("distance", "analog")
                else RecountSource.RESTOCK
            )
            assert recounts[slot.id].source == expected
            assert recounts[slot.id].count == slot.capacity


def test_faulted_sensor_raises_an_alert_and_is_shown(tmp_path: Path) -> None:
    with _machine(tmp_path) as machine:
        machine.run(days=0.5)
        machine.physics.disconnect(1)
        machine.agent.poll(machine.driver.now())
        state = machine.agent.state
        assert state is not None
        assert state.slots[0].fault == "disconnected"
        assert any(alert.startswith("slot 1: disconnected") for alert in state.alerts)
        assert 1 not in machine.poller.last.usable_slot_ids()  # type: ignore[union-attr]


def test_start_settles_a_vend_a_crash_interrupted(tmp_path: Path) -> None:
    with _machine(tmp_path) as machine:
        machine.run(days=0.1)
        with machine.store.write() as session:
            sale = repo.record_sale(
                session,
                slot_id=2,
                gtin=machine.settings.slot(2).gtin,
                price=machine.settings.slot(2).retail_price,
                payment=PaymentMethod.CASHLESS,
                now=machine.driver.now(),
            )
        machine.agent.start(machine.driver.now())  # what a restart does first
        with machine.store.read() as session:
            settled = repo.get_sale(session, sale.id)  # type: ignore[arg-type]
            assert repo.pending_sales(session) == []
        assert settled is not None
        # the shelf still holds the item, so the customer gets the money back
        assert settled.state == SaleState.REFUNDED
