"""Demand forecast per slot from hourly sales counts, with an uncertainty band.

Model (one ``SlotForecaster`` per slot, updated incrementally with new hours):

* Rate in hour ``t``: ``level * profile[how(t)]`` where ``how`` is the hour of the
  week (Monday 00h = 0 .. Sunday 23h = 167) in the timezone of ``start`` (use UTC)
  and ``profile`` has mean 1 over the week.
* Level: exponentially weighted ratio estimator ``A / B`` with
  ``A = sum w_t y_t`` and ``B = sum w_t profile[how(t)]``, ``w_t = beta**age``
  (half-life ``level_half_life_days``). Unlike ``y_t / profile`` smoothing it
  stays finite in hours whose profile is ~0 (nights in an office).
* Profile: per hour-of-week discounted sums ``S`` (sales) and ``E`` (hours seen,
  half-life ``profile_half_life_days``). With the overall rate ``r = sum S / sum E``
  each cell is shrunk toward a separable prior (hour-of-day x weekday factors,
  each shrunk toward 1): ``ratio = (S + k) / (expected + k)`` at every level,
  with ``k = 1 / tau2`` pseudo-items from an empirical-Bayes (method of moments)
  estimate of how much the true ratios spread beyond Poisson noise. Flat or short
  history gives a flat profile; a strong, well-observed pattern the empirical one.
* Intermittent items: Teunter-Syntetos-Babai (TSB) on calendar days, demand
  probability ``p`` updated every day and demand size ``z`` (and ``z2 = E[size^2]``)
  on demand days. TSB replaces the level (daily mean ``p*z``) when at least
  ``min_days_for_tsb`` days are seen and the share of zero days ``1 - p`` is at
  least ``intermittent_zero_share``. The hourly profile still spreads the day.
* Uncertainty: cumulative demand ``D(t)`` over the next ``t`` hours is negative
  binomial with mean ``mu(t)`` and ``Var = d*mu + cv2*mu^2``. ``d`` (>= 1) is the
  day-level variance/mean ratio: for the seasonal model from one-day-ahead
  residuals ``(sum (y-mu)^2 + k) / (sum mu + k)`` (shrunk to Poisson), for TSB
  ``(p*z2 - (p*z)^2) / (p*z)``. ``cv2 = v_day / (m_day^2 * n_eff)`` is the
  uncertainty of the rate estimate itself (``n_eff`` effective days in the window).
* Stockouts: sales while a slot is empty are lost, not absent. Hours (or parts of
  hours) without stock add no exposure to ``B`` and ``E``; a day with a stockout
  feeds no dispersion residual, its zero-sale evidence for TSB's ``p`` is
  weighted by the share of the day's demand it could have served, and its size
  is scaled up by that share (at most ``1 / MIN_SIZE_SHARE``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from statistics import NormalDist
from typing import Literal, TypeVar, cast

import numpy as np
import numpy.typing as npt

from device.vending.planning.errors import PlanInputError, SalesHistoryError
from device.vending.planning.fresh import FreshSlotProblem

_T = TypeVar("_T")
CDF_ROW_MIN = 32  # units a CDF row covers at least (it is extended when asked for more)
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Method = Literal["seasonal", "tsb"]
Interval = tuple[datetime, datetime]

HOURS_PER_DAY = 24
HOURS_PER_WEEK = 168
HOUR = timedelta(hours=1)
DEFAULT_HORIZON_HOURS = 14 * HOURS_PER_DAY
MIN_PROFILE_SPREAD = 1e-3  # caps the profile prior at 1000 pseudo-items
MIN_SIZE_SHARE = 0.2  # a day stocked for less is scaled up at most 5x (TSB size)


@dataclass(frozen=True, slots=True)
class ForecastConfig:
    """Smoothing knobs; the defaults are what the simulation benchmark uses."""

    level_half_life_days: float = 14.0
    profile_half_life_days: float = 56.0
    dispersion_shrinkage: float = 20.0
    intermittent_zero_share: float = 0.5
    min_days_for_tsb: int = 7

    def __post_init__(self) -> None:
        for name in (
            "level_half_life_days",
            "profile_half_life_days",
            "dispersion_shrinkage",
        ):
            if not getattr(self, name) > 0:
                raise PlanInputError(f"ForecastConfig.{name}", "must be positive")
        if not 0 < self.intermittent_zero_share < 1:
            raise PlanInputError("ForecastConfig.intermittent_zero_share", "must be in (0, 1)")
        if self.min_days_for_tsb < 1:
            raise PlanInputError("ForecastConfig.min_days_for_tsb", "must be at least 1")


DEFAULT_CONFIG = ForecastConfig()


def floor_hour(when: datetime) -> datetime:
    """The start of the hour containing ``when`` (the unit a forecaster observes)."""
    return when.replace(minute=0, second=0, microsecond=0)


def _shrunk_ratio(sales: FloatArray, expected: FloatArray) -> FloatArray:
    """Observed/expected per bucket, shrunk toward 1 by an empirical-Bayes gamma prior.

    The spread of the true ratios, ``tau2``, is estimated by moments (observed
    spread minus Poisson noise); the prior is worth ``k = 1 / tau2`` pseudo-items.
    Flat demand gives ``tau2 ~ 0`` and a flat result; a strong pattern a small ``k``.
    """
    total = float(expected.sum())
    spread = float((np.square(sales - expected) / np.maximum(expected, 1e-9)).sum())
    tau2 = max((spread - sales.size) / total, MIN_PROFILE_SPREAD)
    ratio: FloatArray = (sales + 1 / tau2) / (expected + 1 / tau2)
    return ratio


@lru_cache(maxsize=16)
def _normal_quantile(q: float) -> float:
    """The standard normal's ``q`` quantile (the planner asks for the same few levels)."""
    return NormalDist().inv_cdf(q)


def _check_time(when: datetime, what: str, *, on_hour: bool) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise SalesHistoryError(f"{what} {when!r} is naive; pass an aware time (UTC)")
    if on_hour and when != floor_hour(when):
        raise SalesHistoryError(f"{what} {when.isoformat()} is not on an hour boundary")


def _hour_of_week(when: datetime) -> int:
    return when.weekday() * HOURS_PER_DAY + when.hour


def _hours_between(start: datetime, end: datetime) -> int:
    return int((end - start) // HOUR)


def _nb_cdf(mean: FloatArray, var: FloatArray, kmax: int) -> FloatArray:
    """CDF ``P(D <= k)`` for ``k = 0..kmax`` of each negative binomial (or Poisson) row.

    Parametrised by mean and variance (``var >= mean``; equal means Poisson).
    Built from the pmf recurrence in log space so large means do not overflow.
    """
    mu = np.maximum(mean, 1e-12)
    excess = np.maximum(var / mu - 1.0, 1e-12)  # = mu / r of the NB; ~0 is Poisson
    log_p0 = -mu * (np.log1p(excess) / excess)
    step = (excess / (mu * (1.0 + excess)))[:, None]
    j = np.arange(kmax, dtype=np.float64)
    # In place where it can be: the planner asks for ~40,000 short rows a simulated year.
    ratio = np.log1p((j - mu[:, None]) * step)
    ratio += np.log(mu)[:, None] - np.log1p(j)
    log_pmf = np.empty((mu.size, kmax + 1))
    log_pmf[:, 0] = log_p0
    ratio.cumsum(axis=1, out=log_pmf[:, 1:])
    log_pmf[:, 1:] += log_p0[:, None]
    cdf: FloatArray = np.exp(log_pmf, out=log_pmf).cumsum(axis=1)
    return cdf


@dataclass(frozen=True, slots=True, eq=False)
class Forecast:
    """Expected demand hour by hour from ``start``, and its distribution.

    ``hourly[k]`` is the expected demand in ``[start + k h, start + (k+1) h)``.
    Beyond the horizon the mean grows at ``daily_rate / 24`` per hour.
    """

    start: datetime
    method: Method
    daily_rate: float
    hourly: FloatArray
    dispersion: float
    level_cv2: float
    cumulative: FloatArray = field(init=False, repr=False)
    # The planner asks the same question of one forecast several times per review
    # (each candidate supplier, each batch); the answers are pure, so kept here.
    _memo: dict[tuple[object, ...], object] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        cumulative = np.concatenate([[0.0], np.cumsum(self.hourly)])
        object.__setattr__(self, "cumulative", cumulative)

    @property
    def horizon_hours(self) -> int:
        return len(self.hourly)

    def expected(self, hours: float) -> float:
        """Expected cumulative demand over the next ``hours`` hours."""
        if hours <= 0:
            return 0.0
        horizon = self.horizon_hours
        if hours >= horizon:
            return float(self.cumulative[horizon]) + (hours - horizon) * self.daily_rate / 24
        k = int(hours)
        low = float(self.cumulative[k])
        return low + (hours - k) * (float(self.cumulative[k + 1]) - low)

    def variance(self, hours: float) -> float:
        mu = self.expected(hours)
        return self.dispersion * mu + self.level_cv2 * mu * mu

    def quantile(self, q: float, hours: float, at_most: int | None = None) -> int:
        """Smallest ``n`` with ``P(demand over the next hours <= n) >= q``; with
        ``at_most``, no more than that (the search stops there: months of demand
        are not walked unit by unit when only a slot's worth matters)."""
        _check_q(q)
        return int(
            self._remember(("quantile", q, hours, at_most), self._quantile, q, hours, at_most)
        )

    def _quantile(self, q: float, hours: float, at_most: int | None) -> int:
        mu = self.expected(hours)
        return _nb_quantile(mu, self.dispersion * mu + self.level_cv2 * mu * mu, q, at_most)

    def _remember(self, key: tuple[object, ...], compute: Callable[..., _T], *args: object) -> _T:
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = compute(*args)
        return cast(_T, found)

    def cdf(self, n: int, hours: float) -> float:
        """``P(demand over the next hours <= n)``."""
        return self.cdfs(((n, hours),))[0]

    def cdfs(self, asks: Sequence[tuple[int, float]]) -> list[float]:
        """``P(demand over the next hours <= n)`` for each ``(n, hours)`` in ``asks``.

        The planner walks n up one unit at a time over the same hours: one CDF row per
        hours, extended when asked past its end (row[k] does not depend on its length).
        The rows an answer lacks are built together, in one array computation (each row
        bit for bit what it would be alone): most of a short row's cost is numpy's
        per-call overhead, and the planner asks two horizons per step.
        """
        rows = cast("list[FloatArray | None]", [self._memo.get(("cdf", h)) for _, h in asks])
        if any(row is None or n >= row.size for (n, _), row in zip(asks, rows, strict=True)):
            build_cdf_rows((self, n, hours) for n, hours in asks)
            rows = cast("list[FloatArray | None]", [self._memo.get(("cdf", h)) for _, h in asks])
        # No row after building: no demand over those hours, P = 1.
        return [
            0.0 if n < 0 else 1.0 if row is None else float(row[n])
            for (n, _), row in zip(asks, rows, strict=True)
        ]

    def day_pmfs(self, from_hours: float, days: int, top: int) -> list[FloatArray]:
        """Per day from ``from_hours`` on, ``P(demand that day = k)`` for ``k < top`` and
        ``P(>= top)`` last (the shape ``device.vending.planning.fresh`` solves over).
        Shared between callers: not to be changed."""
        return self._remember(
            ("day_pmfs", from_hours, days, top), self._day_pmfs, from_hours, days, top
        )

    def _day_pmfs(self, from_hours: float, days: int, top: int) -> list[FloatArray]:
        edges = [self.expected(from_hours + day * HOURS_PER_DAY) for day in range(days + 1)]
        mean = np.maximum(np.diff(np.array(edges)), 0.0)
        var = self.dispersion * mean + self.level_cv2 * mean * mean
        # All days at once, row by row the same arithmetic as one day at a time.
        pmfs = np.zeros((days, top + 1))
        pmfs[:, :top] = np.diff(_nb_cdf(mean, var, max(top - 1, 0)), axis=1, prepend=0.0)[:, :top]
        pmfs[:, top] = np.maximum(1.0 - pmfs[:, :top].sum(axis=1), 0.0)
        silent = mean <= 0
        pmfs[silent] = 0.0
        pmfs[silent, 0] = 1.0
        return list(pmfs)

    def best_fresh_order(
        self,
        problem: FreshSlotProblem,
        from_hours: float,
        days: int,
        prices: tuple[int, int],
        stock: tuple[int, ...],
        waste_penalty: float = 0.0,
    ) -> int:
        """``problem.best_order`` over this forecast's ``days`` from ``from_hours`` at
        ``(retail, unit cost)`` holding ``stock``: the planner's decide and fill passes
        ask the same of one forecast, and the exact solution is its dearest answer."""
        return self._remember(
            ("fresh", problem, from_hours, days, prices, stock, waste_penalty),
            lambda: problem.best_order(
                self.day_pmfs(from_hours, days, problem.capacity), *prices, stock, waste_penalty
            ),
        )

    def expected_shortfall(self, stock: int, hours: float) -> float:
        """``E[(D - stock)+]``: demand over the next ``hours`` that ``stock`` cannot serve."""
        return self.expected_shortfalls(stock, (hours,))[0]

    def expected_shortfalls(self, stock: int, hours: Sequence[float]) -> list[float]:
        """``expected_shortfall(stock, h)`` for each ``h`` in ``hours``.

        Uses ``sum_{k<s} (s - k) P(D = k) = sum_{j<s} P(D <= j)``, read off the CDF
        rows ``cdfs`` keeps (built together when missing, shared with the planner's
        other questions over the same hours).
        """
        if stock <= 0:
            return [self.expected(h) for h in hours]
        self.cdfs([(stock - 1, h) for h in hours])
        shortfalls = []
        for h in hours:
            row = cast("FloatArray | None", self._memo.get(("cdf", h)))
            # No row: no demand over those hours, so none short.
            shortfalls.append(
                0.0
                if row is None
                else max(0.0, self.expected(h) - stock + float(row[:stock].sum()))
            )
        return shortfalls

    def hours_until_stockout(self, stock: int, q: float = 0.5) -> float:
        """Hours until ``stock`` is sold out with probability ``1 - q`` (``inf``: not in horizon).

        The first time ``t`` with ``quantile(q, t) >= stock``; a higher ``q``
        (service level) gives an earlier, more cautious time. Interpolated
        linearly within the hour. ``hours_until_stockouts`` asks several at once.
        """
        return hours_until_stockouts([(self, stock, q)])[0]

    def _stockout_window(self, stock: int, q: float) -> IntArray | None:
        """The hours around the normal approximation's crossing, where the exact CDF
        most likely crosses ``q``; None when the approximation never reaches ``stock``."""
        mu = self.cumulative
        sd = np.sqrt(self.dispersion * mu + self.level_cv2 * mu * mu)
        reached = mu + _normal_quantile(q) * sd >= stock - 0.5
        if not reached[-1]:
            return None
        guess = int(np.argmax(reached))
        return np.arange(max(guess - 12, 0), min(guess + 13, self.horizon_hours + 1))

    def _stockout_by_days(self, stock: int, q: float) -> float:
        """The crossing outside the window: a coarse pass over whole days, then hour by
        hour in that day."""
        coarse = np.append(np.arange(0, self.horizon_hours, HOURS_PER_DAY), self.horizon_hours)
        below = self._cdf_at(coarse, stock - 1) < q
        if not below[-1]:
            return math.inf
        day = int(np.argmax(below))
        hours = np.arange(coarse[day - 1], coarse[day] + 1)
        return _crossing(hours, self._cdf_at(hours, stock - 1), q)

    def _cdf_at(self, hours: IntArray, n: int) -> FloatArray:
        """``P(D(h) <= n)`` for each whole hour ``h`` within the horizon."""
        mu = self.cumulative[hours]
        cdf: FloatArray = _nb_cdf(mu, self.dispersion * mu + self.level_cv2 * mu * mu, n)[:, -1]
        return cdf

    def days_to_empty(self, stock: int) -> float:
        """Days until the expected demand reaches ``stock`` (what the dashboard shows).

        Past the horizon the demand grows at the mean rate; ``inf`` without demand.
        """
        if stock <= 0:
            return 0.0
        k = int(np.searchsorted(self.cumulative, stock))
        if k <= self.horizon_hours:
            low, high = float(self.cumulative[k - 1]), float(self.cumulative[k])
            return (k - 1 + (stock - low) / (high - low)) / HOURS_PER_DAY
        if self.daily_rate <= 0:
            return math.inf
        left = stock - float(self.cumulative[-1])
        return self.horizon_hours / HOURS_PER_DAY + left / self.daily_rate


def _crossing(hours: IntArray, cdf: FloatArray, q: float) -> float:
    """Where ``cdf`` (falling along ``hours``) first drops below ``q``, interpolated."""
    k = int(np.argmax(cdf < q))
    before, after = float(cdf[k - 1]), float(cdf[k])
    return float(hours[k - 1]) + (before - q) / (before - after)


def hours_until_stockouts(asks: Sequence[tuple[Forecast, int, float]]) -> list[float]:
    """``forecast.hours_until_stockout(stock, q)`` for each ``(forecast, stock, q)``.

    P(D(t) <= stock - 1) only falls as t grows. Fast path: the exact CDF in a window
    around the normal approximation's crossing, the windows of all the asks in one
    array computation (the planner asks for every slot; each value bit for bit what it
    would be alone); if the crossing is not inside it, ``Forecast._stockout_by_days``.
    """
    answers: list[float | None] = []
    windows: list[tuple[int, IntArray]] = []  # (ask, its window) of the asks to work out
    for forecast, stock, q in asks:
        _check_q(q)
        answer = cast("float | None", forecast._memo.get(("stockout", stock, q)))
        if answer is None and stock <= 0:
            answer = 0.0
        elif answer is None and (window := forecast._stockout_window(stock, q)) is not None:
            windows.append((len(answers), window))
        answers.append(answer)
    if windows:
        mean = [asks[i][0].cumulative[window] for i, window in windows]
        var = [
            asks[i][0].dispersion * mu + asks[i][0].level_cv2 * mu * mu
            for (i, _), mu in zip(windows, mean, strict=True)
        ]
        top = max(asks[i][1] for i, _ in windows) - 1
        cdf = _nb_cdf(np.concatenate(mean), np.concatenate(var), top)
        start = 0
        for i, window in windows:
            _, stock, q = asks[i]
            lasts = cdf[start : start + window.size, stock - 1]  # P(D(h) <= stock - 1)
            start += window.size
            if lasts[0] >= q > lasts[-1]:
                answers[i] = _crossing(window, lasts, q)
    for i, (forecast, stock, q) in enumerate(asks):
        answer = answers[i]
        if answer is None:
            answer = forecast._stockout_by_days(stock, q)
        forecast._memo[("stockout", stock, q)] = answers[i] = answer
    return cast("list[float]", answers)


def build_cdf_rows(wanted: Iterable[tuple[Forecast, int, float]]) -> None:
    """Make each ``(forecast, n, hours)``'s CDF row over ``hours`` cover ``P(D <= n)``.

    The rows missing or too short, of one forecast or several, are built together in one
    array computation, each bit for bit what it would be alone: most of a short row's
    cost is numpy's per-call overhead, and the planner asks for tens of thousands of
    rows a simulated year. A row is extended to twice the ``n`` that outgrew it.
    """
    lengths: dict[tuple[int, float], tuple[Forecast, int]] = {}  # by (id(forecast), hours)
    for forecast, n, hours in wanted:
        row = cast("FloatArray | None", forecast._memo.get(("cdf", hours)))
        if n >= 0 and (row is None or n >= row.size):
            key = (id(forecast), hours)
            longest = lengths[key][1] if key in lengths else 0
            lengths[key] = (forecast, max(2 * n, CDF_ROW_MIN, longest))
    build = []  # (forecast, hours, mean, length); no demand: P = 1, no row
    for (_, hours), (forecast, length) in lengths.items():
        mu = forecast.expected(hours)
        if mu > 0:
            build.append((forecast, hours, mu, length))
    if not build:
        return
    mean = [mu for _, _, mu, _ in build]
    var = [f.dispersion * mu + f.level_cv2 * mu * mu for f, _, mu, _ in build]
    rows = _nb_cdf(np.array(mean), np.array(var), max(length for *_, length in build))
    for (forecast, hours, _, _), row in zip(build, rows, strict=True):
        forecast._memo[("cdf", hours)] = row


def _nb_quantile(mean: float, var: float, q: float, at_most: int | None = None) -> int:
    """Scalar version of ``_nb_cdf``'s recurrence, stopping at the quantile (no arrays)."""
    if mean <= 0 or (at_most is not None and at_most <= 0):
        return 0
    mu = max(mean, 1e-12)
    excess = max(var / mu - 1.0, 1e-12)
    log_p = -mu * (math.log1p(excess) / excess)
    step, log_mu = excess / (mu * (1.0 + excess)), math.log(mu)
    cdf, k = math.exp(log_p), 0
    limit = math.ceil(mu + 20 * math.sqrt(max(var, mu)) + 50)  # rounding may stop cdf short of q
    if at_most is not None:
        limit = min(limit, at_most)
    while cdf < q and k < limit:
        log_p += math.log1p((k - mu) * step) + log_mu - math.log1p(k)
        k += 1
        cdf += math.exp(log_p)
    return k


def _check_q(q: float) -> None:
    if not 0 < q < 1:
        raise PlanInputError("quantile", f"q must be in (0, 1), got {q}")


class SlotForecaster:
    """Incremental demand model of one slot: feed it whole hours, ask for forecasts.

    ``start`` is the first hour it will observe (aware, on an hour boundary).
    Each update costs O(hours added), so a daily update of a year-old model is
    as cheap as on day one.
    """

    def __init__(
        self, start: datetime, config: ForecastConfig = DEFAULT_CONFIG, *, slot_id: int = 0
    ) -> None:
        _check_time(start, "start", on_hour=True)
        self.slot_id = slot_id  # names the slot in error messages
        self.config = config
        self.start = start
        self._hours = 0
        self._start_how = _hour_of_week(start)
        beta = 0.5 ** (1 / (config.level_half_life_days * HOURS_PER_DAY))
        gamma = 0.5 ** (1 / (config.profile_half_life_days * HOURS_PER_DAY))
        ages = np.arange(HOURS_PER_DAY + 1, dtype=np.float64)
        self._beta_pow: FloatArray = beta**ages
        self._gamma_pow: FloatArray = gamma**ages
        self._beta_day = 0.5 ** (1 / config.level_half_life_days)
        self._n_eff_max = (1 + self._beta_day) / (1 - self._beta_day)
        self._a = 0.0  # discounted sales
        self._b = 0.0  # discounted profile exposure
        self._sums: FloatArray = np.zeros(HOURS_PER_WEEK)
        self._exposure: FloatArray = np.zeros(HOURS_PER_WEEK)
        self._profile: FloatArray = np.ones(HOURS_PER_WEEK)
        self._profile_stale = False
        self._day_sales = 0.0
        self._day_expected = 0.0
        self._day_mass = 0.0
        self._day_exposed = 0.0
        self._day_whole = start.hour == 0
        self._days = 0
        self._sq_err = 0.0
        self._expected_sum = 0.0
        self._p = 0.0
        self._z = 0.0
        self._z2 = 0.0
        self._demand_days = 0

    @property
    def observed_until(self) -> datetime:
        """End of the last observed hour: where the next ``observe_*`` call starts."""
        return self.start + self._hours * HOUR

    @property
    def days_observed(self) -> int:
        """Whole calendar days seen with some stock (what TSB is built on)."""
        return self._days

    def observe_counts(self, counts: npt.ArrayLike, available: npt.ArrayLike | None = None) -> None:
        """Add sales counts for consecutive hours starting at ``observed_until``.

        ``available`` is the share of each hour the slot had stock (default all 1).
        Sales while empty are lost, not absent: an empty hour adds no exposure, so
        stockouts do not drag the forecast down (censored demand), and a day with
        a stockout is left out of TSB and of the dispersion residuals.
        """
        values = np.asarray(counts)
        if values.ndim != 1:
            raise SalesHistoryError("hourly counts must be a 1-D sequence")
        if values.size == 0:
            return
        data = values.astype(np.float64)
        if not np.all(np.isfinite(data)) or data.min() < 0 or np.any(data != np.floor(data)):
            raise SalesHistoryError("hourly counts must be non-negative integers")
        share = np.ones(data.size) if available is None else np.asarray(available, np.float64)
        if share.shape != data.shape or not np.all((share >= 0) & (share <= 1)):
            raise SalesHistoryError("available must be one share in [0, 1] per hour")
        self._observe_hours(data, share)

    def _observe_history(self, history: SalesHistory) -> None:
        """``observe_counts`` of a history from ``SalesHistory.from_sales``, unchecked: its
        counts are whole and its shares in [0, 1] by construction (the agent feeds every
        slot this way at every review)."""
        counts = history.counts.astype(np.float64)
        available = np.ones(counts.size) if history.available is None else history.available
        self._observe_hours(counts, available)

    def _observe_hours(self, counts: FloatArray, available: FloatArray) -> None:
        """Checked hours from ``observed_until`` on, one piece per calendar day."""
        done = 0
        while done < counts.size:
            how = (self._start_how + self._hours) % HOURS_PER_WEEK
            take = min(HOURS_PER_DAY - how % HOURS_PER_DAY, counts.size - done)
            piece = slice(done, done + take)
            self._observe_within_day(counts[piece], available[piece], how)
            done += take

    def observe_sales(
        self, sales: Iterable[datetime], until: datetime, empty: Iterable[Interval] = ()
    ) -> None:
        """Add the hours from ``observed_until`` to ``floor_hour(until)`` from sale times.

        Every sale must fall in that window: a sale outside it is either counted
        already or belongs to an hour not complete yet. ``empty`` lists the
        ``(from, to)`` spans when the slot had no stock (see ``observe_counts``).
        """
        _check_time(until, "until", on_hour=False)
        end = floor_hour(until)
        slot = self.slot_id
        history = SalesHistory.from_sales(
            ((when, slot) for when in sales), [slot], self.observed_until, end, {slot: empty}
        )[slot]
        self._observe_history(history)

    def _observe_within_day(self, sales: FloatArray, available: FloatArray, how: int) -> None:
        n = sales.size
        profile = self.profile()[how : how + n]
        exposure = profile * available
        level = self._a / self._b if self._b > 0 else 0.0
        weights = self._beta_pow[n - 1 :: -1]  # age of each hour at the end of the piece
        self._a = self._beta_pow[n] * self._a + float(weights @ sales)
        self._b = self._beta_pow[n] * self._b + float(weights @ exposure)
        decay = self._gamma_pow[n - 1 :: -1]
        self._sums *= self._gamma_pow[n]
        self._exposure *= self._gamma_pow[n]
        self._sums[how : how + n] += decay * sales
        self._exposure[how : how + n] += decay * available
        self._profile_stale = True
        self._day_sales += float(sales.sum())
        exposed = float(exposure.sum())
        self._day_expected += level * exposed
        self._day_mass += float(profile.sum())
        self._day_exposed += exposed
        self._hours += n
        if (how + n) % HOURS_PER_DAY == 0:
            self._close_day()

    def _close_day(self) -> None:
        # Share of the day's expected demand that fell in hours with stock.
        share = self._day_exposed / self._day_mass if self._day_mass > 0 else 0.0
        if self._day_whole and share > 0:
            y, mu = self._day_sales, self._day_expected
            if share >= 1 - 1e-9 and self._days >= self.config.min_days_for_tsb and mu > 0:
                self._sq_err = self._beta_day * self._sq_err + (y - mu) ** 2
                self._expected_sum = self._beta_day * self._expected_sum + mu
            self._days += 1
            alpha = 1 - self._beta_day
            # A sale proves a demand day; no sale over part of a day is weaker evidence.
            evidence = 1.0 if y > 0 else share
            self._p += max(alpha, 1 / self._days) * evidence * (float(y > 0) - self._p)
            if y > 0:
                self._demand_days += 1
                step = max(alpha, 1 / self._demand_days)
                size = y / max(share, MIN_SIZE_SHARE)  # sales cut short by a stockout
                self._z += step * (size - self._z)
                self._z2 += step * (size * size - self._z2)
        self._day_whole = True
        self._day_sales = 0.0
        self._day_expected = 0.0
        self._day_mass = 0.0
        self._day_exposed = 0.0

    def profile(self) -> FloatArray:
        """The hour-of-week profile (168 values, mean 1); flat without history."""
        if not self._profile_stale:
            return self._profile
        self._profile_stale = False
        total_sales, total_exposure = float(self._sums.sum()), float(self._exposure.sum())
        if total_sales <= 0 or total_exposure <= 0:
            self._profile = np.ones(HOURS_PER_WEEK)
            return self._profile
        rate = total_sales / total_exposure
        sales = self._sums.reshape(7, HOURS_PER_DAY)
        expected = self._exposure.reshape(7, HOURS_PER_DAY) * rate
        # One raking pass (hour, weekday given hour, hour given weekday): when some
        # hours are seen mostly on slow days (stockouts on busy ones), the factors
        # still separate.
        per_hour = sales.sum(axis=0)
        by_hour = _shrunk_ratio(per_hour, expected.sum(axis=0))
        by_day = _shrunk_ratio(sales.sum(axis=1), (expected * by_hour).sum(axis=1))
        by_hour = _shrunk_ratio(per_hour, (expected * by_day[:, None]).sum(axis=0))
        prior = np.outer(by_day, by_hour)
        prior /= prior.mean()
        cells = prior * _shrunk_ratio(sales, expected * prior)
        self._profile = (cells / cells.mean()).ravel()
        return self._profile

    def method(self) -> Method:
        """``tsb`` once enough days are seen and many of them had no sale."""
        intermittent = 1 - self._p >= self.config.intermittent_zero_share
        return "tsb" if self._days >= self.config.min_days_for_tsb and intermittent else "seasonal"

    def forecast(self, now: datetime, horizon_hours: int = DEFAULT_HORIZON_HOURS) -> Forecast:
        """Demand for the ``horizon_hours`` hours after ``now`` (sales up to now are in stock)."""
        _check_time(now, "now", on_hour=False)
        if now < self.start:
            raise SalesHistoryError(f"now {now.isoformat()} is before the history start")
        if horizon_hours < 1:
            raise PlanInputError("horizon_hours", "must be at least 1")
        method = self.method()
        if method == "tsb":
            daily = self._p * self._z
            day_var = self._p * self._z2 - daily * daily
        else:
            daily = HOURS_PER_DAY * self._a / self._b if self._b > 0 else 0.0
            k = self.config.dispersion_shrinkage
            day_var = daily * max(1.0, (self._sq_err + k) / (self._expected_sum + k))
        if daily > 0:
            dispersion = max(1.0, day_var / daily)
            n_eff = min(max(self._hours / HOURS_PER_DAY, 1.0), self._n_eff_max)
            cv2 = max(day_var, daily) / (daily * daily * n_eff)
        else:
            dispersion, cv2 = 1.0, 0.0
        how = (self._start_how + _hours_between(self.start, now)) % HOURS_PER_WEEK
        index = (how + np.arange(horizon_hours)) % HOURS_PER_WEEK
        hourly = (daily / HOURS_PER_DAY) * self.profile()[index]
        return Forecast(now, method, daily, hourly, dispersion, cv2)


@dataclass(frozen=True, slots=True)
class SalesHistory:
    """Hourly sales of one slot: ``counts[i]`` sold in ``[start + i h, start + (i+1) h)``.

    ``available[i]`` is the share of that hour the slot had stock (None: always).
    """

    start: datetime
    counts: IntArray
    available: FloatArray | None = None

    @property
    def end(self) -> datetime:
        return self.start + len(self.counts) * HOUR

    @classmethod
    def from_sales(
        cls,
        sales: Iterable[tuple[datetime, int]],
        slot_ids: Iterable[int],
        start: datetime,
        end: datetime,
        empty: Mapping[int, Iterable[Interval]] | None = None,
    ) -> dict[int, SalesHistory]:
        """Bucket ``(time, slot_id)`` sales into hourly counts per slot over ``[start, end)``.

        ``empty[slot]`` lists ``(from, to)`` spans the slot had no stock; they may
        reach outside the window (an open span: ``to`` = ``end``).
        """
        _check_time(start, "start", on_hour=True)
        _check_time(end, "end", on_hour=True)
        if end < start:
            raise SalesHistoryError(
                f"end {end.isoformat()} is before the start {start.isoformat()}"
            )
        hours = _hours_between(start, end)
        counts = {slot: np.zeros(hours, dtype=np.int64) for slot in slot_ids}
        for when, slot in sales:
            if slot not in counts:
                raise SalesHistoryError("sale for an unknown slot", slot)
            _check_time(when, "sale time", on_hour=False)
            if not start <= when < end:
                raise SalesHistoryError(
                    f"sale at {when.isoformat()} is outside [{start.isoformat()}, {end.isoformat()})",
                    slot,
                )
            counts[slot][_hours_between(start, when)] += 1
        available: dict[int, FloatArray | None] = dict.fromkeys(counts)
        for slot, spans in (empty or {}).items():
            if slot not in counts:
                raise SalesHistoryError("stockout span for an unknown slot", slot)
            available[slot] = _availability(start, hours, spans, slot)
        return {slot: cls(start, c, available[slot]) for slot, c in counts.items()}


def _availability(start: datetime, hours: int, spans: Iterable[Interval], slot: int) -> FloatArray:
    """Share of each hour from ``start`` not covered by the empty ``spans``."""
    share = np.ones(hours)
    for begin, end in spans:
        _check_time(begin, "stockout start", on_hour=False)
        _check_time(end, "stockout end", on_hour=False)
        if end < begin:
            raise SalesHistoryError("a stockout span ends before it starts", slot)
        first = max((begin - start) / HOUR, 0.0)
        last = min((end - start) / HOUR, float(hours))
        k = math.floor(first)
        while k < last:
            share[k] -= min(last, k + 1) - max(first, k)
            k += 1
    clipped: FloatArray = np.clip(share, 0.0, 1.0)
    return clipped


def forecast(
    history: SalesHistory,
    now: datetime,
    horizon_hours: int = DEFAULT_HORIZON_HOURS,
    config: ForecastConfig = DEFAULT_CONFIG,
) -> Forecast:
    """One-shot forecast from a whole history (a ``SlotForecaster`` fitted from scratch)."""
    model = SlotForecaster(history.start, config)
    model.observe_counts(history.counts, history.available)
    return model.forecast(now, horizon_hours)


class DemandModels:
    """One ``SlotForecaster`` per slot, fed together from ``(time, slot_id)`` sales.

    The agent's daily cycle: ``observe(sales since observed_until, now)`` then
    ``forecasts(now)``. After a restart, rebuild it from the stored sales history.
    """

    def __init__(
        self, slot_ids: Iterable[int], start: datetime, config: ForecastConfig = DEFAULT_CONFIG
    ) -> None:
        self.models = {slot: SlotForecaster(start, config, slot_id=slot) for slot in slot_ids}
        self.observed_until = start

    def observe(
        self,
        sales: Iterable[tuple[datetime, int]],
        until: datetime,
        empty: Mapping[int, Iterable[Interval]] | None = None,
    ) -> None:
        """Count the hours ``[observed_until, floor_hour(until))``; all-or-nothing on bad input.

        ``empty[slot]``: the ``(from, to)`` spans the slot had no stock, so lost
        sales are not mistaken for absent demand.
        """
        _check_time(until, "until", on_hour=False)
        end = floor_hour(until)
        histories = SalesHistory.from_sales(sales, self.models, self.observed_until, end, empty)
        for slot, model in self.models.items():
            model._observe_history(histories[slot])
        self.observed_until = end

    def forecasts(
        self, now: datetime, horizon_hours: int = DEFAULT_HORIZON_HOURS
    ) -> dict[int, Forecast]:
        return {slot: model.forecast(now, horizon_hours) for slot, model in self.models.items()}
