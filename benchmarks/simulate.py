"""All four restocking policies on every named scenario: the README's comparison tables.

    .venv/bin/python -m benchmarks.simulate                 # a year per scenario, markdown
    .venv/bin/python -m benchmarks.simulate --days 90 --scenario office
    .venv/bin/python -m benchmarks.simulate --json out.json
    .venv/bin/python -m benchmarks.simulate --check         # exit 1 if the agent misses a target

Run it as a module: run by path, ``benchmarks/`` comes first on ``sys.path`` and
``benchmarks/dashboard.py`` hides the ``dashboard`` package from the workers.

Each scenario runs ``route``, ``telemetry``, ``agent`` and ``oracle`` on the
same seeded world (``device.sim.compare.compare``, two worker processes), the
same code path as ``custobot simulate --compare``. The targets (issue 5): agent
profit >= 95% of the oracle's and >= 110% of telemetry's, fill rate >= 98%. Each
scenario also shows the most any policy without foresight can earn on that world
(``device.sim.ceiling``), as a share of the oracle's profit.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from device.logs import configure_logging
from device.settings import load_settings
from device.sim.ceiling import Ceiling, ceiling
from device.sim.compare import Comparison, PolicyResult, compare, money, result_json
from device.sim.scenarios import SCENARIOS


def markdown(comparison: Comparison, bound: Ceiling) -> str:
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
        ("procurement cost vs list", lambda r: f"{r.cost_vs_list:.1%}"),
        ("orders / deliveries", lambda r: f"{r.orders} / {r.deliveries}"),
        ("delivery fees", lambda r: money(r.delivery_fees, 6)),
        ("gas", lambda r: money(r.gas, 6)),
    ]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in runs.values()) + " |")
    agent, oracle, telemetry = runs["agent"], runs["oracle"], runs["telemetry"]
    lines += [
        "",
        f"agent/oracle profit {agent.profit / oracle.profit:.1%}, "
        f"agent/telemetry {agent.profit / telemetry.profit:.1%}, "
        "targets: "
        + ", ".join(f"{k}: {'met' if v else 'missed'}" for k, v in comparison.targets().items()),
        "",
        f"ceiling without foresight (device/sim/ceiling.py): {money(bound.profit, 6)}, "
        f"{bound.profit / oracle.profit:.1%} of the oracle, agent at "
        f"{agent.profit / bound.profit:.1%} of it",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    configure_logging("warning")
    settings = load_settings(None)
    results = []
    missed = False
    for name in args.scenario or list(SCENARIOS):
        comparison = compare(settings, name, days=args.days, seed=args.seed)
        bound = ceiling(settings, SCENARIOS[name], days=round(args.days), seed=args.seed)
        sys.stdout.write(markdown(comparison, bound) + "\n")
        sys.stdout.flush()
        results.append(result_json(comparison) | {"ceiling_without_foresight": bound.profit})
        missed = missed or not all(comparison.targets().values())
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
