"""How fast the simulator runs: CPU seconds and peak memory of a simulated machine-year.

    .venv/bin/python -m benchmarks.sim_speed                        # the agent, 365 days, seed 1
    .venv/bin/python -m benchmarks.sim_speed --policy telemetry --days 91
    .venv/bin/python -m benchmarks.sim_speed --compare              # custobot simulate --compare
    .venv/bin/python -m benchmarks.sim_speed --parts                # where the year's CPU goes

One policy runs in this process through ``device.vending.sim.compare.run_policy`` (the path
``custobot simulate --policy`` takes): CPU time (``time.process_time``, the figure to
compare on a loaded machine), wall time and peak RSS. ``--compare`` runs the command
itself (``custobot simulate --compare``: every policy in two worker processes, then
the ceiling) in a child process and reports its wall time, the CPU of each policy
(from its JSON) and of the whole command, and the largest peak RSS of the processes.
``--parts`` also times the main parts of the run (``process_time`` around each, a
part nested in another counted once, in the inner one); the timers add a little.
Issue 20's targets: the agent's year at most 6 s of CPU, the comparison under a minute.
A benchmark, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from device.logs import configure_logging
from device.money import money
from device.settings import load_settings
from device.vending.hardware.poller import HardwarePoller
from device.vending.planning.forecast import DemandModels
from device.vending.sim import policies
from device.vending.sim.compare import run_policy
from device.vending.sim.market import Market
from device.vending.sim.policies import POLICIES
from device.vending.sim.scenarios import SCENARIOS
from device.vending.vend import VendFlow

# (part, owner, attribute): what ``--parts`` times.
PARTS: tuple[tuple[str, Any, str], ...] = (
    ("sensor polls (mock pins)", HardwarePoller, "poll"),
    ("vend flow (store + pins)", VendFlow, "vend"),
    ("planner", policies, "plan_restock"),
    ("forecasts", DemandModels, "forecasts"),
    ("forecasts: observing sales", DemandModels, "observe"),
    ("negotiation", Market, "negotiate"),
)


def _peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


@contextmanager
def timed_parts() -> Iterator[dict[str, float]]:
    """CPU seconds spent in each of ``PARTS`` while the block runs (exclusive: time in a
    part called from another goes to the inner one)."""
    spent = dict.fromkeys((name for name, _, _ in PARTS), 0.0)
    inside: list[list[Any]] = []  # [part, started] of the parts running, innermost last

    def timer(name: str, run: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            now = time.process_time()
            if inside:
                outer = inside[-1]
                spent[outer[0]] += now - outer[1]
            inside.append([name, now])
            try:
                return run(*args, **kwargs)
            finally:
                now = time.process_time()
                spent[name] += now - inside.pop()[1]
                if inside:
                    inside[-1][1] = now

        return timed

    originals = [(owner, attribute, getattr(owner, attribute)) for _, owner, attribute in PARTS]
    for (name, _, _), (owner, attribute, run) in zip(PARTS, originals, strict=True):
        setattr(owner, attribute, timer(name, run))
    try:
        yield spent
    finally:
        for owner, attribute, run in originals:
            setattr(owner, attribute, run)


def one_policy(scenario: str, policy: str, days: float, seed: int, *, parts: bool = False) -> str:
    configure_logging("warning")
    settings = load_settings(None)
    timing: AbstractContextManager[dict[str, float]] = timed_parts() if parts else nullcontext({})
    with timing as spent:
        wall, cpu = time.perf_counter(), time.process_time()
        result = run_policy(settings, scenario, policy, days=days, seed=seed)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    lines = [
        f"{policy} on {scenario}, {days:g} days, seed {seed}: {cpu:.2f} s CPU, {wall:.2f} s wall, "
        f"peak RSS {_peak_rss_mb(resource.RUSAGE_SELF):.0f} MB "
        f"({result.customers:,} customers, {result.sales:,} sales, "
        f"profit {money(result.profit, settings.chain.token_decimals)} USDC)"
    ]
    if spent:
        spent["everything else"] = cpu - sum(spent.values())
        lines += [f"  {name}: {sec:.2f} s CPU ({sec / cpu:.0%})" for name, sec in spent.items()]
    return "\n".join(lines)


def the_comparison(scenario: str, days: float, seed: int) -> str:
    with tempfile.TemporaryDirectory(prefix="sim-speed-") as scratch:
        out = Path(scratch) / "compare.json"
        command = [
            *(sys.executable, "-m", "device", "--log-level", "warning", "simulate", "--compare"),
            *("--days", f"{days:g}", "--seed", str(seed), "--scenario", scenario),
            *("--json", str(out)),
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        data = json.loads(out.read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = [
        f"custobot simulate --compare --days {days:g} --seed {seed} --scenario {scenario}: "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU (all processes), "
        f"peak RSS {_peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB (largest process)",
    ]
    lines += [f"  {name}: {result['cpu_s']:.2f} s CPU" for name, result in data["policies"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--policy", choices=POLICIES, default="agent")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="office")
    parser.add_argument(
        "--compare", action="store_true", help="time custobot simulate --compare instead"
    )
    parser.add_argument("--parts", action="store_true", help="also time the run's main parts")
    args = parser.parse_args(argv)
    if args.compare:
        report = the_comparison(args.scenario, args.days, args.seed)
    else:
        report = one_policy(args.scenario, args.policy, args.days, args.seed, parts=args.parts)
    sys.stdout.write(report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
