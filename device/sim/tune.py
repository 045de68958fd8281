"""Tune the classic (R, s, S) baseline on the training seeds: a coordinate search on a grid.

A baseline that is to be beaten must be a good one: its knobs are searched the
way a practitioner would, on seeds 1-3 only (seeds 4-10 are for evaluation).
Starting from ``ClassicParams()``, each knob in turn is tried at every value of
its grid with the others fixed, and the best total profit over the training
seeds is kept; ``passes`` rounds of that. Runs go to worker processes.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from device.logs import configure_logging
from device.settings import Settings
from device.sim.classic import ClassicParams
from device.sim.compare import run_policy, scenario_named

TRAINING_SEEDS = (1, 2, 3)
GRID: dict[str, tuple[float, ...]] = {
    "review_hours": (6.0, 12.0, 24.0),
    "safety": (0.5, 1.0, 1.5, 2.0),
    "cover_days": (1.0, 2.0, 3.0, 5.0),
    "window_hours": (24.0, 48.0),
    "fresh_share": (0.5, 0.8, 1.0),
}


@dataclass(frozen=True, slots=True)
class Tuned:
    """The best parameters found and every point tried (total profit, base units)."""

    scenario: str
    policy: str
    days: float
    seeds: tuple[int, ...]
    best: ClassicParams
    profit: int
    tried: list[tuple[ClassicParams, int]] = field(default_factory=list)


def _profit(
    settings: Settings, scenario: str, policy: str, params: ClassicParams, days: float, seed: int
) -> int:
    return run_policy(settings, scenario, policy, days=days, seed=seed, tuning=params).profit


def tune_classic(
    settings: Settings,
    scenario: str,
    *,
    policy: str = "classic-neg",
    days: float = 365,
    seeds: Sequence[int] = TRAINING_SEEDS,
    passes: int = 1,
    workers: int = 2,
    grid: dict[str, tuple[float, ...]] | None = None,
    progress: Callable[[ClassicParams, int], None] | None = None,
) -> Tuned:
    """Search ``grid`` knob by knob for the highest total profit of ``policy`` on ``seeds``."""
    scenario_named(scenario)
    if policy not in ("classic-list", "classic-neg"):
        raise ValueError(f"only the classic policies are tuned here, not {policy!r}")
    if set(seeds) & set(range(4, 11)):
        raise ValueError("seeds 4-10 are for evaluation: tune on others")
    grid = grid or GRID
    seen: dict[ClassicParams, int] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=configure_logging,
        initargs=("warning",),
    ) as pool:

        def score(points: list[ClassicParams]) -> None:
            fresh = [p for p in dict.fromkeys(points) if p not in seen]
            futures = {
                p: [
                    pool.submit(_profit, settings, scenario, policy, p, days, seed)
                    for seed in seeds
                ]
                for p in fresh
            }
            for p, runs in futures.items():
                seen[p] = sum(f.result() for f in runs)
                if progress is not None:
                    progress(p, seen[p])

        best = ClassicParams()
        score([best])
        for _ in range(passes):
            for knob, values in grid.items():
                points = [dataclasses.replace(best, **{knob: v}) for v in values]
                score(points)
                best = max([best, *points], key=lambda p: (seen[p], p == best))
    return Tuned(scenario, policy, days, tuple(seeds), best, seen[best], list(seen.items()))
