"""The robotaxi's city-year for the README: every policy on seeds not tuned on, and the CPU time.

    .venv/bin/python -m benchmarks.taxi                   # seeds 4-10, a year each, markdown
    .venv/bin/python -m benchmarks.taxi --seed 4 --days 90
    .venv/bin/python -m benchmarks.taxi --check           # exit 1 if a target is missed

The agent's knobs (``device.taxi.policies.AgentTuning``) were tuned on seeds 1-3 only.
Targets (issue 19): agent profit >= 1.25x driver-rules; the fairness cap costs <= 5% of
the uncapped surge's profit; a city-year (the world and all four policies) in under a
minute of CPU time (``time.process_time``, not wall time: the machine is shared).
"""

from __future__ import annotations

import argparse
import sys
import time

from benchmarks.simulate import seed_list
from device.logs import configure_logging
from device.money import money
from device.taxi.city import build_city
from device.taxi.policies import POLICIES
from device.taxi.simulate import (
    TARGET_AGENT_OVER_DRIVER,
    TARGET_CAP_COST,
    TaxiComparison,
    cap_cost,
    markdown,
    run,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=seed_list, default=list(range(4, 11)), help="4, 4,5 or 4-10")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    configure_logging("warning")
    rows, missed = [], 0
    for i, seed in enumerate(args.seed):
        started = time.process_time()
        city = build_city(seed, args.days)
        results = []
        cpu = {}
        for name in POLICIES:
            t0 = time.process_time()
            results.append(run(city, name))
            cpu[name] = time.process_time() - t0
        total = time.process_time() - started
        comparison = TaxiComparison(seed, args.days, tuple(results))
        if i == 0:
            print(f"Seed {seed}, {args.days} days (money in USDC):\n")
            print(markdown(comparison) + "\n")
        runs = comparison.by_name()
        ratio = runs["agent"].profit / runs["driver-rules"].profit
        cost = cap_cost(comparison)
        missed += (ratio < TARGET_AGENT_OVER_DRIVER) + (cost > TARGET_CAP_COST) + (total >= 60)
        rows.append(
            f"| {seed} | "
            + " | ".join(money(runs[name].profit) for name in POLICIES)
            + f" | {ratio:.3f} | {cost:+.1%} | {total:.1f} s ({cpu['agent']:.1f} s) |"
        )
    print(
        "| seed | " + " | ".join(f"profit: {n}" for n in POLICIES) + " | agent / driver-rules "
        "| cap cost vs surge | CPU: world + 4 policies (agent alone) |"
    )
    print("|---:|" + "---:|" * (len(POLICIES) + 3))
    print("\n".join(rows))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
