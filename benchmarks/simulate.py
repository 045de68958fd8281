"""Every restocking policy on every named scenario: the README's comparison tables.

    .venv/bin/python -m benchmarks.simulate                 # a year per scenario, markdown
    .venv/bin/python -m benchmarks.simulate --days 90 --scenario office
    .venv/bin/python -m benchmarks.simulate --seed 4-10 --policies agent,classic-neg
    .venv/bin/python -m benchmarks.simulate --json out.json
    .venv/bin/python -m benchmarks.simulate --check         # exit 1 if the agent misses a target

Run it as a module: run by path, ``benchmarks/`` comes first on ``sys.path`` and
``benchmarks/dashboard.py`` hides the ``dashboard`` package from the workers.

Each scenario runs ``route``, ``telemetry``, ``classic-list``, ``classic-neg``,
``agent`` and ``oracle`` on the same seeded world (``device.vending.sim.compare.compare``,
two worker processes), the same code path as ``custobot simulate --compare``,
and the most any policy without foresight can earn there (``device.vending.sim.ceiling``).
With several seeds, a summary per scenario. The targets (issue 20): agent profit
>= 105% of the tuned ``classic-neg`` baseline's, fill rate >= 97%. Evaluate on
seeds 4-10: the baselines were tuned on 1-3.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from device.logs import configure_logging
from device.settings import load_settings
from device.vending.sim.ceiling import Ceiling, ceiling
from device.vending.sim.compare import Comparison, PolicyResult, compare, money, result_json
from device.vending.sim.gap import GAP_POLICIES, Gap, decompose, gap_json, gap_markdown, summed
from device.vending.sim.policies import POLICIES
from device.vending.sim.scenarios import SCENARIOS


def markdown(comparison: Comparison, bound: Ceiling | None) -> str:
    runs = comparison.results
    lines = [
        f"**{comparison.scenario}** ({SCENARIOS[comparison.scenario].description}); "
        f"{comparison.days:g} days, seed {comparison.seed}: "
        f"{comparison.wall_s:.1f} s wall, {comparison.cpu_s:.1f} s CPU",
        "",
        "| measure | " + " | ".join(runs) + " |",
        "|---" * (len(runs) + 1) + "|",
    ]
    rows: list[tuple[str, Callable[[PolicyResult], str]]] = [
        ("profit (USDC)", lambda r: money(r.profit, 6)),
        ("revenue", lambda r: money(r.revenue, 6)),
        ("fill rate", lambda r: f"{r.fill_rate:.2%}"),
        ("stockout slot-hours", lambda r: f"{r.stockout_hours:,.0f}"),
        ("spoilage items (cost)", lambda r: f"{r.spoilage_units} ({money(r.spoilage_cost, 6)})"),
        ("returned, no room (cost)", lambda r: f"{r.returned_units} ({money(r.returned_cost, 6)})"),
        ("procurement cost vs list", lambda r: f"{r.cost_vs_list:.1%}"),
        ("orders / deliveries", lambda r: f"{r.orders} / {r.deliveries}"),
        ("delivery fees", lambda r: money(r.delivery_fees, 6)),
        ("gas", lambda r: money(r.gas, 6)),
    ]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in runs.values()) + " |")
    lines.append("")
    agent = runs.get("agent")
    if agent is not None:
        for other in ("classic-neg", "classic-list", "telemetry", "oracle"):
            if other in runs and runs[other].profit:
                lines.append(f"agent/{other} profit {agent.profit / runs[other].profit:.1%}")
        targets = comparison.targets().items()
        lines.append(
            "targets: " + ", ".join(f"{k}: {'met' if v else 'missed'}" for k, v in targets)
        )
    if bound is not None:
        line = (
            f"ceiling without foresight (device/vending/sim/ceiling.py): {money(bound.profit, 6)}"
        )
        if agent is not None:
            line += f", agent at {agent.profit / bound.profit:.1%} of it"
        lines.append(line)
        gaps = gaps_of(comparison, bound)
        if gaps:
            lines += ["", gap_markdown(gaps)]
    lines.append("")
    return "\n".join(lines)


def gaps_of(comparison: Comparison, bound: Ceiling) -> list[Gap]:
    """The decomposition against the ceiling for those of agent and classic-neg that ran."""
    return [
        decompose(comparison.results[p], bound) for p in GAP_POLICIES if p in comparison.results
    ]


def summary(
    scenario: str, comparisons: list[Comparison], bounds: dict[int, int], gaps: list[list[Gap]]
) -> str:
    """Several seeds of one scenario: profit per policy summed, agent against each, and
    the decomposition against the ceiling summed over the seeds."""
    names = list(comparisons[0].results)
    seeds = [c.seed for c in comparisons]
    total = {n: sum(c.results[n].profit for c in comparisons) for n in names}
    lines = [
        f"**{scenario}**, seeds {seeds}, {comparisons[0].days:g} days each",
        "",
        "| policy | profit (sum) | fill rate (mean) | spoilage cost (sum) | cost vs list (mean) |",
        "|---|---:|---:|---:|---:|",
    ]
    for n in names:
        runs = [c.results[n] for c in comparisons]
        fill = sum(r.fill_rate for r in runs) / len(runs)
        spoiled = sum(r.spoilage_cost for r in runs)
        vs_list = sum(r.cost_vs_list for r in runs) / len(runs)
        lines.append(
            f"| {n} | {money(total[n], 6)} | {fill:.2%} | {money(spoiled, 6)} | {vs_list:.1%} |"
        )
    if bounds:
        lines.append(f"| ceiling | {money(sum(bounds.values()), 6)} | | | |")
    if "agent" in names:
        lines.append("")
        for other in [n for n in names if n != "agent"] + (["ceiling"] if bounds else []):
            per_seed = [
                c.results["agent"].profit
                / (bounds[c.seed] if other == "ceiling" else c.results[other].profit)
                for c in comparisons
            ]
            whole = total["agent"] / (sum(bounds.values()) if other == "ceiling" else total[other])
            lines.append(
                f"agent/{other}: {whole:.1%} in total, per seed "
                f"{min(per_seed):.1%}-{max(per_seed):.1%}"
            )
    if gaps and gaps[0]:
        per_policy = [summed([seed[i] for seed in gaps]) for i in range(len(gaps[0]))]
        lines += ["", f"summed over seeds {seeds}:", "", gap_markdown(per_policy)]
    lines.append("")
    return "\n".join(lines)


def seed_list(text: str) -> list[int]:
    """``4-10`` or ``1,2,3`` or ``5``."""
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(part) for part in text.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--seed", type=seed_list, default=[1], help="1, 1,2,3 or 4-10")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--policies", default=",".join(POLICIES), help="comma-separated")
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    configure_logging("warning")
    settings = load_settings(None)
    policies = tuple(args.policies.split(","))
    results = []
    missed = False
    for name in args.scenario or list(SCENARIOS):
        done: list[Comparison] = []
        bounds: dict[int, int] = {}
        gaps: list[list[Gap]] = []
        for seed in args.seed:
            comparison = compare(
                settings, name, days=args.days, seed=seed, policies=policies, workers=args.workers
            )
            bound = None
            if not args.no_ceiling:
                bound = ceiling(settings, SCENARIOS[name], days=round(args.days), seed=seed)
                bounds[seed] = bound.profit
            sys.stdout.write(markdown(comparison, bound) + "\n")
            sys.stdout.flush()
            data = result_json(comparison)
            if bound is not None:
                data["ceiling_without_foresight"] = bound.profit
                gaps.append(gaps_of(comparison, bound))
                data["gap"] = {g.policy: gap_json(g) for g in gaps[-1]}
            results.append(data)
            missed = missed or not all(comparison.targets().values())
            done.append(comparison)
        if len(done) > 1:
            sys.stdout.write(summary(name, done, bounds, gaps) + "\n")
            sys.stdout.flush()
        if args.json is not None:  # after each scenario: a long run keeps what it has
            args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
