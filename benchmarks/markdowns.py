"""The agent on every named scenario with and without markdowns: the README's table.

    .venv/bin/python -m benchmarks.markdowns                  # a year, seed 1, markdown
    .venv/bin/python -m benchmarks.markdowns --seeds 1-3 --days 365
    .venv/bin/python -m benchmarks.markdowns --json out.json

Both runs of a pair see the same seeded world (customers, suppliers); with
markdowns on, the machine lowers the price of fresh units that would expire
unsold (``device/pricing/markdown.py``) and the simulated customers answer with
the elasticity of their item class (``device/sim/scenarios.py``). Two worker
processes (the machine has two cores).
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from device.logs import configure_logging
from device.settings import Settings, load_settings
from device.sim.compare import PolicyResult, money, run_policy
from device.sim.scenarios import SCENARIOS


def with_markdowns(settings: Settings, on: bool) -> Settings:
    pricing = settings.pricing.model_copy(update={"markdowns": on})
    return settings.model_copy(update={"pricing": pricing})


def _run(scenario: str, seed: int, days: float, on: bool) -> PolicyResult:
    configure_logging("warning")
    settings = with_markdowns(load_settings(None), on)
    result = run_policy(settings, scenario, "agent", days=days, seed=seed)
    result.samples.clear()
    return result


def seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(part) for part in text.split(",")]


def table(pairs: list[tuple[PolicyResult, PolicyResult]]) -> str:
    lines = [
        "| scenario | seed | profit off → on (USDC) | Δ profit | spoiled units off → on "
        "| spoilage cost off → on | fill off → on | revenue off → on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for off, on in pairs:
        lines.append(
            f"| {off.scenario} | {off.seed} | {money(off.profit, 6)} → {money(on.profit, 6)} "
            f"| {(on.profit - off.profit) / off.profit:+.1%} "
            f"| {off.spoilage_units} → {on.spoilage_units} "
            f"| {money(off.spoilage_cost, 6)} → {money(on.spoilage_cost, 6)} "
            f"| {off.fill_rate:.2%} → {on.fill_rate:.2%} "
            f"| {money(off.revenue, 6)} → {money(on.revenue, 6)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    configure_logging("warning")
    names = args.scenario or list(SCENARIOS)
    jobs = [(s, seed, on) for s in names for seed in seeds(args.seeds) for on in (False, True)]
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(_run, s, seed, args.days, on) for s, seed, on in jobs]
        results = [f.result() for f in futures]
    pairs = list(zip(results[::2], results[1::2], strict=True))
    sys.stdout.write(f"agent, {args.days:g} days; markdowns off → on\n\n{table(pairs)}\n")
    if args.json is not None:
        data = [
            {
                "scenario": off.scenario,
                "seed": off.seed,
                "off": {"profit": off.profit, "spoilage_units": off.spoilage_units},
                "on": {"profit": on.profit, "spoilage_units": on.spoilage_units},
            }
            for off, on in pairs
        ]
        args.json.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
