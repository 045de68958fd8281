"""Tune a policy's knobs on the training seeds: a coordinate search on a grid.

A baseline that is to be beaten must be a good one, and the agent gets the same
treatment: knobs are searched the way a practitioner would, on seeds 1-3 only
(seeds 4-10 are for evaluation). Starting from the committed defaults, each knob
in turn is tried at every value of its grid with the others fixed, and the best
total profit over the training seeds is kept; ``passes`` rounds of that. Runs go
to worker processes. ``tune_classic`` searches ``ClassicParams``; ``tune_agent``
the planner's knobs in ``AgentTuning`` (``AGENT_GRID``).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from device.logs import configure_logging
from device.settings import Settings
from device.vending.sim.classic import ClassicParams
from device.vending.sim.compare import run_policy, scenario_named
from device.vending.sim.policies import AgentTuning, machine_tuning

TRAINING_SEEDS = (1, 2, 3)
GRID: dict[str, tuple[float, ...]] = {
    "review_hours": (6.0, 12.0, 24.0),
    "safety": (0.5, 1.0, 1.5, 2.0),
    "cover_days": (1.0, 2.0, 3.0, 5.0),
    "window_hours": (24.0, 48.0),
    "fresh_share": (0.5, 0.8, 1.0),
}
# The agent's knobs (``agent_knob`` says where each one goes): ``overflow_risk`` is
# both planner passes' chance that an order does not fit on arrival (units that do
# not fit are paid and written off); ``credit_hours`` and ``credit_fit`` how far
# beyond that a unit more is credited; ``reorder_hours`` when a later delivery could
# bring a fresher perishable instead; ``service_level`` when a slot triggers an
# order; the ``fill_*`` knobs size an order once one goes out (``plan_restock``).
AGENT_GRID: dict[str, tuple[float, ...]] = {
    "overflow_risk": (0.02, 0.05, 0.1, 0.25, 0.5),
    "credit_hours": (0.0, 12.0, 24.0, 36.0, 48.0),
    "credit_fit": (0.0, 0.6, 0.75, 0.9, 0.95),
    "reorder_hours": (0.0, 24.0, 36.0, 48.0, 72.0),
    "service_level": (0.9, 0.95, 0.98, 0.995),
    "fill_review_hours": (48.0, 96.0, 168.0),
    "fill_topup_hours": (48.0, 96.0, 168.0),
    "fill_service_level": (0.8, 0.98),
    "target_margin_ppm": (200_000, 300_000, 400_000),
}

P = TypeVar("P", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Tuned(Generic[P]):
    """The best parameters found and every point tried (total profit, base units)."""

    scenario: str
    policy: str
    days: float
    seeds: tuple[int, ...]
    best: P
    profit: int
    tried: list[tuple[P, int]] = field(default_factory=list)


def _profit(
    settings: Settings, scenario: str, policy: str, params: Any, days: float, seed: int
) -> int:
    return run_policy(settings, scenario, policy, days=days, seed=seed, tuning=params).profit


def agent_knob(tuning: AgentTuning, knob: str, value: float) -> AgentTuning:
    """``tuning`` with one of ``AGENT_GRID``'s knobs set to ``value``."""
    fill = tuning.fill or tuning.planner
    if knob in ("overflow_risk", "credit_hours", "credit_fit", "waste_penalty", "reorder_hours"):
        return dataclasses.replace(
            tuning,
            planner=dataclasses.replace(tuning.planner, **{knob: value}),
            fill=dataclasses.replace(fill, **{knob: value}),
        )
    if knob == "service_level":
        return dataclasses.replace(
            tuning, planner=dataclasses.replace(tuning.planner, service_level=value)
        )
    if knob.startswith("fill_"):
        return dataclasses.replace(
            tuning, fill=dataclasses.replace(fill, **{knob.removeprefix("fill_"): value})
        )
    if knob == "target_margin_ppm":
        return dataclasses.replace(tuning, target_margin_ppm=round(value))
    raise ValueError(f"unknown agent knob {knob!r}; expected one of {', '.join(AGENT_GRID)}")


def _classic_knob(params: ClassicParams, knob: str, value: float) -> ClassicParams:
    return dataclasses.replace(params, **{knob: value})


def coordinate_search(
    settings: Settings,
    scenario: str,
    policy: str,
    start: P,
    grid: dict[str, tuple[float, ...]],
    knob: Callable[[P, str, float], P],
    *,
    days: float,
    seeds: Sequence[int],
    passes: int,
    workers: int,
    progress: Callable[[P, int], None] | None,
) -> Tuned[P]:
    """Search ``grid`` knob by knob from ``start`` for the highest total profit of
    ``policy`` on ``seeds`` (``knob(point, name, value)`` sets one knob)."""
    scenario_named(scenario)
    if set(seeds) & set(range(4, 11)):
        raise ValueError("seeds 4-10 are for evaluation: tune on others")
    seen: dict[P, int] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=configure_logging,
        initargs=("warning",),
    ) as pool:

        def score(points: list[P]) -> None:
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

        best = start
        score([best])
        for _ in range(passes):
            for name, values in grid.items():
                points = [knob(best, name, v) for v in values]
                score(points)
                best = max([best, *points], key=lambda p: (seen[p], p == best))
    return Tuned(scenario, policy, days, tuple(seeds), best, seen[best], list(seen.items()))


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
) -> Tuned[ClassicParams]:
    """Search ``grid`` knob by knob for the highest total profit of ``policy`` on ``seeds``."""
    if policy not in ("classic-list", "classic-neg"):
        raise ValueError(f"only the classic policies are tuned here, not {policy!r}")
    return coordinate_search(
        settings,
        scenario,
        policy,
        ClassicParams(),
        grid or GRID,
        _classic_knob,
        days=days,
        seeds=seeds,
        passes=passes,
        workers=workers,
        progress=progress,
    )


def tune_agent(
    settings: Settings,
    scenario: str,
    *,
    days: float = 365,
    seeds: Sequence[int] = TRAINING_SEEDS,
    passes: int = 1,
    workers: int = 2,
    grid: dict[str, tuple[float, ...]] | None = None,
    start: AgentTuning | None = None,
    progress: Callable[[AgentTuning, int], None] | None = None,
) -> Tuned[AgentTuning]:
    """Search the agent's planner knobs (``AGENT_GRID``) from its defaults, the same way."""
    return coordinate_search(
        settings,
        scenario,
        "agent",
        start or machine_tuning(settings),
        grid or AGENT_GRID,
        agent_knob,
        days=days,
        seeds=seeds,
        passes=passes,
        workers=workers,
        progress=progress,
    )
