"""Read a machine's sensors once and show them: the wiring check an operator runs on a Pi."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table

from device.hardware.factory import make_pin_factory
from device.hardware.poller import HardwarePoller, StockSnapshot
from device.settings import Settings
from device.sim.physics import SensorPhysics


def read_machine(settings: Settings, now: datetime, *, samples: int = 3) -> StockSnapshot:
    """Open every device on the configured pin factory, poll once, release the pins.

    On ``mock`` pins there is no machine to read, so a simulated one stands in,
    every slot full and recounted.
    """
    factory = make_pin_factory(settings.pin_factory)
    physics = SensorPhysics(settings, factory) if settings.pin_factory == "mock" else None
    try:
        with HardwarePoller(settings, pin_factory=factory, samples=samples) as poller:
            if physics is not None:
                for slot in settings.slots:
                    physics.set_stock(slot.id, slot.capacity)
                    poller.recount(slot.id, slot.capacity)
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
