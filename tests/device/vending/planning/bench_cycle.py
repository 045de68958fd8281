"""Benchmark: cost of one forecast + plan cycle for the 6-slot demo machine.

Runs daily cycles on the office scenario's seeded customers against a toy world
(one supplier, orders placed just after midnight arrive ``--lead`` hours later,
bought at list price, nothing spoils) and reports the wall time per cycle, plus
the toy world's fill rate and delivery count as a sanity check of the defaults.
Not a test: no timing is asserted anywhere.

    .venv/bin/python -m tests.device.vending.planning.bench_cycle [--days 365] [--seed 1] [--lead 24]
        [--order-cost 0]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np

from device.settings import load_settings
from device.vending.planning.forecast import DemandModels
from device.vending.planning.planner import Economics, SlotStock, SupplierOption, plan
from device.vending.sim.customers import CustomerStream
from device.vending.sim.scenarios import OFFICE_SNACKS

START = datetime(2026, 1, 5, tzinfo=UTC)
DAY = timedelta(days=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lead", type=float, default=24.0)
    parser.add_argument("--order-cost", type=int, default=0, help="base units per delivery")
    args = parser.parse_args()
    slots = load_settings().slots
    stream = CustomerStream(OFFICE_SNACKS.demand, OFFICE_SNACKS.site, seed=args.seed)
    prices = {s.gtin: s.retail_price // 2 for s in slots}
    supplier = SupplierOption("acme", args.lead, prices, reliability=0.98)
    economics = Economics(order_cost=args.order_cost)
    models = DemandModels([s.id for s in slots], START)
    stock = {s.id: s.par for s in slots}
    arriving: list[tuple[datetime, dict[int, int]]] = []  # (arrival time, slot -> units)
    sold: Counter[int] = Counter()
    wanted: Counter[int] = Counter()
    deliveries = 0
    empty_since: dict[int, datetime] = {}
    empty: dict[int, list[tuple[datetime, datetime]]] = {s.id: [] for s in slots}
    cycle_seconds: list[float] = []
    cpu_seconds = 0.0
    for day in range(args.days):
        begin = START + day * DAY
        sales: list[tuple[datetime, int]] = []
        # Deliveries (slot 0) sort before customers arriving at the same moment.
        events: list[tuple[datetime, int, dict[int, int]]] = [
            (a.when, a.slot_id, {}) for a in stream.arrivals(begin, begin + DAY)
        ]
        events += [(when, 0, units) for when, units in arriving if when < begin + DAY]
        arriving = [(when, units) for when, units in arriving if when >= begin + DAY]
        for when, slot_id, units in sorted(events, key=lambda e: (e[0], e[1])):
            for sid, n in units.items():
                stock[sid] += n
                if sid in empty_since and n > 0:
                    empty[sid].append((empty_since.pop(sid), when))
            if slot_id == 0:
                continue
            wanted[slot_id] += 1
            if stock[slot_id] > 0:
                stock[slot_id] -= 1
                sold[slot_id] += 1
                sales.append((when, slot_id))
                if stock[slot_id] == 0:
                    empty_since[slot_id] = when
        now = begin + DAY + timedelta(minutes=5)
        on_order: Counter[int] = Counter()
        for _, units in arriving:
            on_order.update(units)
        began, cpu_began = time.perf_counter(), time.process_time()
        for sid, since in empty_since.items():
            empty[sid].append((since, now))  # still empty: open span up to now
        models.observe(sales, now, empty)
        empty = {sid: [] for sid in empty}
        forecasts = models.forecasts(now)
        snapshot = {sid: SlotStock(sid, n, on_order=on_order[sid]) for sid, n in stock.items()}
        result = plan(now, slots, snapshot, forecasts, [supplier], economics)
        cycle_seconds.append(time.perf_counter() - began)
        cpu_seconds += time.process_time() - cpu_began
        for need in result.needs:
            deliveries += 1
            units = {line.slot_id: line.quantity for line in need.lines}
            arriving.append((now + timedelta(hours=args.lead), units))
    ms = np.array(cycle_seconds) * 1000
    print(f"cycles: {len(ms)} (6 slots: observe a day of sales + forecast + plan)")
    print(
        f"per cycle: median {np.median(ms):.3f} ms, mean {ms.mean():.3f} ms, "
        f"p95 {np.percentile(ms, 95):.3f} ms; CPU time {cpu_seconds / len(ms) * 1000:.3f} ms"
    )
    fill = {s.id: round(sold[s.id] / max(wanted[s.id], 1), 3) for s in slots}
    total = sum(sold.values()) / max(sum(wanted.values()), 1)
    print(f"toy world: fill rate {total:.4f} {fill}, deliveries {deliveries}")


if __name__ == "__main__":
    main()
