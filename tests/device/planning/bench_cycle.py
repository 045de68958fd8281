"""Benchmark: cost of one forecast + plan cycle for the 6-slot demo machine.

Runs a year of daily cycles on seeded office demand against a toy world (one
supplier, deliveries on time, bought at list price) and reports the mean and
median wall time per cycle, plus the toy world's fill rate and order count as a
sanity check of the defaults. Not a test: no timing is asserted anywhere.

    .venv/bin/python -m tests.device.planning.bench_cycle [--days 365] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

import numpy as np

from device.planning.forecast import HOUR, SlotForecaster
from device.planning.planner import SlotStock, SupplierOption, plan
from device.settings import load_settings
from tests.device.planning.synth import START, hourly_demand

DAILY_RATES = {1: 4.0, 2: 3.0, 3: 5.0, 4: 3.5, 5: 0.8, 6: 2.5}
INTERMITTENT = {5: 0.3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    slots = load_settings().slots
    demand = {
        s.id: hourly_demand(
            args.seed + s.id, args.days, DAILY_RATES[s.id], INTERMITTENT.get(s.id, 1)
        )
        for s in slots
    }
    supplier = SupplierOption("acme", 24.0, {s.gtin: s.retail_price // 2 for s in slots}, 0.98)
    models = {s.id: SlotForecaster(START) for s in slots}
    stock = {s.id: s.par for s in slots}
    # (day index it arrives, slot -> units): ordered just after midnight, 24 h lead time.
    arriving: list[tuple[int, dict[int, int]]] = []
    sold = wanted = orders = 0
    cycle_seconds: list[float] = []
    for day in range(args.days):
        for due, units in [a for a in arriving if a[0] == day]:
            for slot_id, n in units.items():
                stock[slot_id] += n
            arriving.remove((due, units))
        for s in slots:
            today = demand[s.id][day * 24 : (day + 1) * 24]
            want = int(today.sum())
            wanted += want
            sold += min(want, stock[s.id])
            stock[s.id] = max(0, stock[s.id] - want)
        now = START + timedelta(days=day + 1, minutes=5)
        on_order = {sid: 0 for sid in stock}
        for _, units in arriving:
            for slot_id, n in units.items():
                on_order[slot_id] += n
        began = time.perf_counter()
        for s in slots:
            models[s.id].observe_counts(demand[s.id][day * 24 : (day + 1) * 24])
        forecasts = {sid: m.forecast(now) for sid, m in models.items()}
        snapshot = {sid: SlotStock(sid, n, on_order=on_order[sid]) for sid, n in stock.items()}
        result = plan(now, slots, snapshot, forecasts, [supplier])
        cycle_seconds.append(time.perf_counter() - began)
        for need in result.needs:
            orders += 1
            arriving.append((day + 2, {line.slot_id: line.quantity for line in need.lines}))
    assert models[1].observed_until == START + args.days * 24 * HOUR
    ms = np.array(cycle_seconds) * 1000
    print(f"cycles: {len(ms)} (6 slots: observe a day + forecast + plan)")
    print(
        f"per cycle: mean {ms.mean():.3f} ms, median {np.median(ms):.3f} ms, p95 {np.percentile(ms, 95):.3f} ms"
    )
    print(f"toy world: fill rate {sold / max(wanted, 1):.4f}, orders {orders}")


if __name__ == "__main__":
    main()
