"""The agent on every named scenario with and without markdowns: the README's table.

    .venv/bin/python -m benchmarks.markdowns  # a year, seed 1, every scenario
    .venv/bin/python -m benchmarks.markdowns --seeds 1-10  # totals: training 1-3, the rest
    .venv/bin/python -m benchmarks.markdowns --json out.json

Both runs of a pair see the same seeded world (customers, suppliers); with
markdowns on, the machine lowers the price of fresh units that would expire
unsold (``device/vending/pricing/markdown.py``) and the simulated customers answer with
the elasticity of their item class (``device/vending/sim/scenarios.py``). Two worker
processes (the machine has two cores).
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from benchmarks.simulate import seed_list
from device.logs import configure_logging
from device.settings import Settings, load_settings
from device.vending.sim.compare import PolicyResult, money, run_policy
from device.vending.sim.scenarios import SCENARIOS
from device.vending.sim.tune import TRAINING_SEEDS


def with_markdowns(settings: Settings, on: bool) -> Settings:
    pricing = settings.pricing.model_copy(update={"markdowns": on})
    return settings.model_copy(update={"pricing": pricing})


def _run(scenario: str, seed: int, days: float, on: bool) -> PolicyResult:
    configure_logging("warning")
    settings = with_markdowns(load_settings(None), on)
    result = run_policy(settings, scenario, "agent", days=days, seed=seed)
    result.samples.clear()
    return result


def table(pairs: list[tuple[PolicyResult, PolicyResult]]) -> str:
    lines = [
        "| scenario | seed | profit off → on (USDC) | Δ profit | spoiled items off → on "
        "| spoilage cost off → on | fill off → on | revenue off → on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario in dict.fromkeys(off.scenario for off, _ in pairs):
        rows: list[tuple[str, _Row, _Row]] = []
        for group, chosen in (("training", True), ("evaluation", False)):
            mine = [
                (off, on)
                for off, on in pairs
                if off.scenario == scenario and (off.seed in TRAINING_SEEDS) == chosen
            ]
            rows += [(str(off.seed), _Row.of(off), _Row.of(on)) for off, on in mine]
            if len(mine) > 1:
                name = f"**{group} total, seeds {', '.join(str(o.seed) for o, _ in mine)}**"
                rows.append(
                    (name, _Row.total([o for o, _ in mine]), _Row.total([o for _, o in mine]))
                )
        for seed, off, on in rows:
            lines.append(
                f"| {scenario} | {seed} | {money(off.profit, 6)} → {money(on.profit, 6)} "
                f"| {(on.profit - off.profit) / off.profit:+.2%} "
                f"| {off.spoiled} → {on.spoiled} "
                f"| {money(off.spoilage_cost, 6)} → {money(on.spoilage_cost, 6)} "
                f"| {off.sales / off.customers:.2%} → {on.sales / on.customers:.2%} "
                f"| {money(off.revenue, 6)} → {money(on.revenue, 6)} |"
            )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Row:
    """The figures of one run, or of a scenario's seeds summed."""

    profit: int
    spoiled: int
    spoilage_cost: int
    sales: int
    customers: int
    revenue: int

    @classmethod
    def of(cls, r: PolicyResult) -> _Row:
        return cls(r.profit, r.spoilage_units, r.spoilage_cost, r.sales, r.customers, r.revenue)

    @classmethod
    def total(cls, results: list[PolicyResult]) -> _Row:
        rows = [cls.of(r) for r in results]
        return cls(*(sum(getattr(row, f.name) for row in rows) for f in fields(cls)))


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
    jobs = [(s, seed, on) for s in names for seed in seed_list(args.seeds) for on in (False, True)]
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
                "off": asdict(_Row.of(off)),
                "on": asdict(_Row.of(on)),
            }
            for off, on in pairs
        ]
        args.json.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
