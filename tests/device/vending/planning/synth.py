"""Seeded synthetic demand with a known weekday x hour pattern, for forecast tests."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

# Monday 2026-01-05 00:00 UTC: hour 0 of the history is hour 0 of the week.
START = datetime(2026, 1, 5, tzinfo=UTC)

HOUR_WEIGHTS = np.array(
    [0, 0, 0, 0, 0, 0, 0.2, 0.6, 1.2, 1.5, 1.8, 2.2, 3.0, 2.6, 1.8, 2.0, 1.8, 1.2, 0.6, 0.3, 0.2, 0.1, 0, 0]
)  # fmt: skip
DAY_WEIGHTS = np.array([1.1, 1.15, 1.15, 1.1, 1.0, 0.3, 0.2])
PEAK_HOUR = 12


def true_profile() -> npt.NDArray[np.float64]:
    """Hour-of-week profile with mean 1: the rate in each hour relative to the weekly mean."""
    shape = np.outer(DAY_WEIGHTS / DAY_WEIGHTS.mean(), HOUR_WEIGHTS / HOUR_WEIGHTS.mean())
    profile: npt.NDArray[np.float64] = shape.ravel()
    return profile


def hourly_demand(
    seed: int, days: int, daily_rate: float, active_share: float = 1.0
) -> npt.NDArray[np.int64]:
    """Poisson hourly sales from ``START``; on inactive days (intermittent items) nothing sells."""
    rng = np.random.default_rng(seed)
    rates = np.tile(true_profile() * daily_rate / 24, days // 7 + 1)[: days * 24]
    active = np.repeat(rng.random(days) < active_share, 24)
    counts: npt.NDArray[np.int64] = rng.poisson(rates / active_share) * active
    return counts
