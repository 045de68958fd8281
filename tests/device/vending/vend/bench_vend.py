"""Vends per second through the real VendFlow on a tmp SQLite file and gpiozero mock pins.

    .venv/bin/python -m tests.device.vending.vend.bench_vend [SCRATCH_VENDS [DURABLE_VENDS]]

Runs the same workload (cashless vends, a restock recount now and then) with
``durable=False`` (synchronous=OFF: the simulation's scratch file; default a
year's 40,000 vends) and ``durable=True`` (synchronous=FULL: the device, where
every commit waits for the disk; default 2,000 vends).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from device.logs import configure_logging
from device.store import repo
from device.store.db import open_store
from device.store.models import PaymentMethod, RecountSource
from device.vending.vend import VendFlow
from tests.device.vending.vend.machine import PRICES, T0, MockPinMachine, demo_slots


def vends_per_second(vends: int, durable: bool) -> tuple[float, float]:
    """(vends per wall-clock second, vends per CPU second of this process)."""
    slots = demo_slots(PRICES)
    with tempfile.TemporaryDirectory() as scratch:
        store = open_store(Path(scratch) / "bench.db", durable=durable)
        machine = MockPinMachine(MockFactory(), slots)
        flow = VendFlow(store, machine, slots)
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(vends):
            now = T0 + timedelta(minutes=13 * i)
            slot = slots[i % len(slots)]
            if i % 20 < len(slots):  # a restock visit now and then
                with store.write() as session:
                    repo.record_recount(session, slot.id, 10, RecountSource.RESTOCK, now)
            flow.vend(slot.id, now, PaymentMethod.CASHLESS)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        machine.close()
        store.close()
    return vends / elapsed, vends / cpu


if __name__ == "__main__":
    configure_logging("warning")
    counts = [int(arg) for arg in sys.argv[1:3]]
    counts += [40_000, 2_000][len(counts) :]
    for durable, count in zip((False, True), counts, strict=True):
        wall, cpu = vends_per_second(count, durable)
        sys.stdout.write(
            f"durable={durable}: {count} vends, {wall:,.0f} vends/s wall, {cpu:,.0f} per CPU-s\n"
        )
