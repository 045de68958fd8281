"""A seeded stream of simulated customers with weekday/hour seasonality.

Demand per slot is a non-homogeneous Poisson process: a daily rate shaped by
the site's hour-of-day and day-of-week profiles and a linear trend. An
intermittent item only sells on some days (probability ``active_day_share``),
with the rate scaled up on those days so its mean is unchanged - the pattern
Croston/TSB forecasting exists for. The same seed always yields the same
customers, so policies can be compared on identical demand.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np


@dataclass(frozen=True, slots=True)
class SlotDemand:
    """Mean demand of one slot, in items per day before seasonality.

    ``trend_per_year`` grows (or shrinks) the rate linearly from the stream's trend origin.
    """

    daily_rate: float
    active_day_share: float = 1.0
    trend_per_year: float = 0.0

    def __post_init__(self) -> None:
        if self.daily_rate < 0:
            raise ValueError("daily_rate must be >= 0")
        if not 0 < self.active_day_share <= 1:
            raise ValueError("active_day_share must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class SiteProfile:
    """When people come: 24 hour weights and 7 weekday weights (Monday first)."""

    hour_weights: tuple[float, ...]
    weekday_weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.hour_weights) != 24 or len(self.weekday_weights) != 7:
            raise ValueError("a site profile needs 24 hour and 7 weekday weights")
        if min(self.hour_weights) < 0 or min(self.weekday_weights) < 0:
            raise ValueError("profile weights must be >= 0")

    def hourly_shape(self, weekday: int) -> np.ndarray:
        """Share of a mean day's demand in each hour of ``weekday``."""
        hours = np.asarray(self.hour_weights, dtype=float)
        days = np.asarray(self.weekday_weights, dtype=float)
        shape: np.ndarray = (hours / hours.sum()) * (days[weekday] / days.mean())
        return shape


OFFICE = SiteProfile(
    hour_weights=(0, 0, 0, 0, 0, 0, 0.2, 0.6, 1.2, 1.5, 1.8, 2.2,
                  3.0, 2.6, 1.8, 2.0, 1.8, 1.2, 0.6, 0.3, 0.2, 0.1, 0, 0),
    weekday_weights=(1.1, 1.15, 1.15, 1.1, 1.0, 0.3, 0.2),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Arrival:
    when: datetime
    slot_id: int


class CustomerStream:
    """Deterministic customer arrivals for a set of slots."""

    def __init__(
        self,
        demand: Mapping[int, SlotDemand],
        site: SiteProfile = OFFICE,
        seed: int = 0,
        trend_origin: date = date(2026, 1, 1),
    ) -> None:
        self.demand = dict(demand)
        self.site = site
        self.seed = seed
        self.trend_origin = trend_origin

    def _day_rng(self, day_index: int) -> np.random.Generator:
        # One generator per day: arrivals of a day do not depend on where a run started.
        return np.random.default_rng([self.seed, day_index])

    def arrivals(self, start: datetime, end: datetime) -> Iterator[Arrival]:
        """Customers arriving in ``[start, end)``, in time order."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        epoch = datetime(2000, 1, 1, tzinfo=start.tzinfo)
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < end:
            day_index = (day - epoch).days
            for arrival in self._day(day, day_index):
                if start <= arrival.when < end:
                    yield arrival
            day += timedelta(days=1)

    def active_rate(self, slot_id: int, day: date) -> float:
        """Mean customers of a slot per day of ``day``'s trend, on a day it sells at all
        (before the weekday/hour shape)."""
        d = self.demand[slot_id]
        years = (day - self.trend_origin).days / 365.0
        return d.daily_rate * max(0.0, 1.0 + d.trend_per_year * years) / d.active_day_share

    def selling_day_mean(self, slot_id: int, day: date) -> float:
        """Expected customers of a slot on ``day`` if it is one of the days it sells."""
        shape = self.site.hourly_shape(day.weekday())
        return self.active_rate(slot_id, day) * float(shape.sum())

    def _day(self, day: datetime, day_index: int) -> list[Arrival]:
        rng = self._day_rng(day_index)
        shape = self.site.hourly_shape(day.weekday())
        found: list[tuple[float, int]] = []
        for slot_id in sorted(self.demand):
            active = rng.random() < self.demand[slot_id].active_day_share
            if not active:
                continue
            counts = rng.poisson(self.active_rate(slot_id, day.date()) * shape)
            for hour in np.flatnonzero(counts):
                offsets = hour + rng.random(int(counts[hour]))
                found.extend((float(t), slot_id) for t in offsets)
        found.sort()
        return [Arrival(day + timedelta(hours=t), slot) for t, slot in found]
