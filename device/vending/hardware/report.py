"""Read a machine's sensors once and show them: the wiring check an operator runs on a Pi."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from device.settings import Settings
from device.vending.hardware.factory import make_pin_factory
from device.vending.hardware.poller import HardwarePoller, StockSnapshot
from device.vending.sim.physics import SensorPhysics


def mock_stand_in(settings: Settings, pin_factory: Any) -> SensorPhysics | None:
    """On ``mock`` pins there is no machine to read: a simulated one stands in, every slot
    full, so ``run`` and ``sensors`` see the same healthy machine (None on real pins).
    Build it before the poller: it claims the pins the sensors then read."""
    if settings.pin_factory != "mock":
        return None
    physics = SensorPhysics(settings, pin_factory)
    for slot in settings.slots:
        physics.set_stock(slot.id, slot.capacity)
    return physics


def recount_full(settings: Settings, poller: HardwarePoller) -> None:
    """Tell the poller the stand-in's slots were counted full (sensors that need a recount)."""
    for slot in settings.slots:
        poller.recount(slot.id, slot.capacity)


def read_machine(settings: Settings, now: datetime, *, samples: int = 3) -> StockSnapshot:
    """Open every device on the configured pin factory, poll once, release the pins."""
    factory = make_pin_factory(settings.pin_factory)
    physics = mock_stand_in(settings, factory)
    try:
        with HardwarePoller(settings, pin_factory=factory, samples=samples) as poller:
            if physics is not None:
                recount_full(settings, poller)
            return poller.poll(now, {})
    finally:
        if physics is not None:
            physics.close()
        factory.close()


def snapshot_table(settings: Settings, snapshot: StockSnapshot) -> Table:
    """One row per slot: what the sensor says, how sure it is, and any fault."""
    door = "open" if snapshot.door_open else "closed"
    temp = "unknown" if snapshot.cpu_temp_c is None else f"{snapshot.cpu_temp_c:.1f} °C"
    table = Table(
        title=f"{settings.device_id} at {snapshot.taken_at:%Y-%m-%d %H:%M:%S}",
        caption=f"door {door}, CPU {temp}",
    )
    for column in ("slot", "item", "sensor", "count", "range", "confidence", "fault", "detail"):
        table.add_column(column)
    for reading in snapshot.slots:
        cfg = settings.slot(reading.slot_id)
        bounds = "?" if reading.floor is None else f"{reading.floor}..{reading.ceiling}"
        table.add_row(
            str(reading.slot_id),
            cfg.name,
            cfg.sensor.kind,
            "-" if reading.count is None else str(reading.count),
            bounds,
            f"{reading.confidence:.2f}",
            reading.fault.value,
            reading.detail,
        )
    return table
