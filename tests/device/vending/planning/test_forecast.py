"""The demand forecast: pattern recovery, TSB for intermittent items, a calibrated band."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.vending.planning.errors import PlanInputError, SalesHistoryError
from device.vending.planning.forecast import (
    HOUR,
    DemandModels,
    Forecast,
    SalesHistory,
    SlotForecaster,
    build_cdf_rows,
    floor_hour,
    forecast,
    hours_until_stockouts,
)
from tests.device.vending.planning.synth import PEAK_HOUR, START, hourly_demand, true_profile


def fitted(counts: np.ndarray) -> SlotForecaster:
    model = SlotForecaster(START)
    model.observe_counts(counts)
    return model


def test_recovers_the_weekday_hour_pattern() -> None:
    days, rate = 84, 8.0
    model = fitted(hourly_demand(seed=3, days=days, daily_rate=rate))
    profile = model.profile().reshape(7, 24)
    truth = true_profile().reshape(7, 24)
    by_hour, true_by_hour = profile.mean(axis=0), truth.mean(axis=0)
    assert int(np.argmax(by_hour)) == PEAK_HOUR
    assert float(np.sqrt(np.mean((by_hour - true_by_hour) ** 2))) < 0.3
    # Night hours of an office machine are nearly dead, weekends slow.
    assert by_hour[:6].max() < 0.2
    assert profile[5:].mean() < 0.5 * profile[:5].mean()
    fc = model.forecast(START + days * 24 * HOUR)
    assert fc.method == "seasonal"
    assert abs(fc.daily_rate - rate) < 0.15 * rate
    # Day 84 is a Monday: the next 24 hours are a busy weekday, the next week is 7 mean days.
    assert fc.expected(24) > rate
    assert abs(fc.expected(168) - 7 * rate) < 0.15 * 7 * rate
    assert np.argmax(fc.hourly[:24]) == PEAK_HOUR


def test_daily_rate_is_unbiased_over_seeds() -> None:
    rates = [fitted(hourly_demand(s, 56, 5.0)).forecast(START).daily_rate for s in range(20)]
    assert abs(float(np.mean(rates)) - 5.0) < 0.25


def test_short_history_keeps_the_profile_near_flat() -> None:
    """Two days of flat demand must not invent a pattern; six months of it stay flat too."""
    rng = np.random.default_rng(11)
    short = fitted(rng.poisson(3 / 24, 48)).profile()
    long = fitted(rng.poisson(3 / 24, 180 * 24)).profile()
    assert abs(float(short.mean()) - 1) < 1e-9
    assert float(np.abs(long - 1).max()) < 0.1
    assert float(np.abs(short - 1).max()) < 1.0


def test_tsb_is_chosen_for_intermittent_demand_and_its_rate_is_close() -> None:
    """An item selling on a quarter of the days: TSB, and its daily rate near the truth."""
    estimates = []
    for seed in range(20):
        model = fitted(hourly_demand(seed, 150, daily_rate=0.6, active_share=0.25))
        fc = model.forecast(START + 150 * 24 * HOUR)
        assert fc.method == "tsb"
        estimates.append(fc.daily_rate)
    assert abs(float(np.mean(estimates)) - 0.6) < 0.08
    regular = fitted(hourly_demand(1, 150, daily_rate=6.0))
    assert regular.method() == "seasonal"


def test_new_model_forecasts_nothing_until_it_has_seen_sales() -> None:
    fc = SlotForecaster(START).forecast(START + timedelta(minutes=30))
    assert fc.daily_rate == 0
    assert fc.quantile(0.99, 72) == 0
    assert math.isinf(fc.hours_until_stockout(1, 0.99))
    assert math.isinf(fc.days_to_empty(5))


@pytest.mark.parametrize(("rate", "share"), [(6.0, 1.0), (1.0, 0.3)])
def test_band_covers_the_truth_at_the_nominal_rate(rate: float, share: float) -> None:
    """The 5..95 % band for the next 72 hours holds the real demand ~90 % of the time."""
    trials, covered = 200, 0
    days = 56
    for seed in range(trials):
        counts = hourly_demand(seed, days + 4, rate, share)
        model = fitted(counts[: days * 24])
        fc = model.forecast(START + days * 24 * HOUR)
        actual = int(counts[days * 24 : days * 24 + 72].sum())
        covered += fc.quantile(0.05, 72) <= actual <= fc.quantile(0.95, 72)
    assert 0.85 <= covered / trials <= 0.98


forecasts = st.builds(
    lambda seed, days, rate, share: fitted(hourly_demand(seed, days, rate, share)).forecast(
        START + days * 24 * HOUR + timedelta(minutes=17)
    ),
    st.integers(0, 10_000),
    st.integers(1, 60),
    st.floats(0.2, 30.0),
    st.sampled_from([1.0, 0.5, 0.2]),
)


@settings(max_examples=40, deadline=None)
@given(
    forecasts,
    st.floats(0.01, 0.99),
    st.floats(0.01, 0.99),
    st.floats(0.5, 400),
    st.floats(0.5, 400),
)
def test_quantiles_are_monotone(fc: Forecast, q1: float, q2: float, h1: float, h2: float) -> None:
    (qa, qb), (ha, hb) = sorted((q1, q2)), sorted((h1, h2))
    assert fc.quantile(qa, ha) <= fc.quantile(qb, ha)
    assert fc.quantile(qa, ha) <= fc.quantile(qa, hb)
    assert fc.expected(ha) <= fc.expected(hb)


@settings(max_examples=40, deadline=None)
@given(forecasts, st.floats(0.05, 0.95), st.floats(0.05, 0.95), st.integers(0, 40))
def test_stockout_time_is_earlier_for_less_stock_and_more_caution(
    fc: Forecast, q1: float, q2: float, stock: int
) -> None:
    cautious, relaxed = max(q1, q2), min(q1, q2)
    assert fc.hours_until_stockout(stock, cautious) <= fc.hours_until_stockout(stock, relaxed)
    assert fc.hours_until_stockout(stock, relaxed) <= fc.hours_until_stockout(stock + 1, relaxed)
    t = fc.hours_until_stockout(stock, relaxed)
    if 1 <= t < fc.horizon_hours:
        # At the stockout time the quantile has just reached the stock, not before.
        assert fc.quantile(relaxed, math.ceil(t)) >= stock
        assert fc.quantile(relaxed, math.floor(t) - 1e-9) < stock or stock == 0


def test_days_to_empty_beyond_the_horizon_uses_the_mean_rate() -> None:
    model = fitted(hourly_demand(5, 56, 4.0))
    fc = model.forecast(START + 56 * 24 * HOUR, horizon_hours=7 * 24)
    days = fc.days_to_empty(100)
    assert 20 < days < 30  # ~100 items at ~4 a day
    assert fc.hours_until_stockout(0) == 0.0
    assert fc.days_to_empty(4) < 2


def test_incremental_updates_equal_one_fit() -> None:
    """Feeding a day at a time from sale times gives the same forecast as one bulk fit."""
    counts = hourly_demand(9, 30, 7.0)
    history = SalesHistory(START, counts)
    now = START + 30 * 24 * HOUR
    bulk = forecast(history, now)
    model = SlotForecaster(START)
    for day in range(30):
        begin = START + day * 24 * HOUR
        sales = [
            begin + h * HOUR + timedelta(minutes=m)
            for h in range(24)
            for m in range(int(counts[day * 24 + h]))
        ]
        model.observe_sales(sales, begin + 24 * HOUR + timedelta(minutes=5))
    assert model.observed_until == now
    step = model.forecast(now)
    np.testing.assert_allclose(step.hourly, bulk.hourly, rtol=1e-9)
    assert step.dispersion == pytest.approx(bulk.dispersion)
    assert step.method == bulk.method


def test_history_from_sales_buckets_by_hour_and_slot() -> None:
    t0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
    sales = [(t0 + timedelta(minutes=59), 1), (t0 + timedelta(minutes=60), 1), (t0, 2)]
    histories = SalesHistory.from_sales(sales, [1, 2, 3], t0, t0 + 3 * HOUR)
    assert histories[1].counts.tolist() == [1, 1, 0]
    assert histories[2].counts.tolist() == [1, 0, 0]
    assert histories[3].counts.tolist() == [0, 0, 0]
    assert histories[1].end == t0 + 3 * HOUR
    assert floor_hour(t0 + timedelta(minutes=59, seconds=3)) == t0


def test_bad_history_is_refused_and_changes_nothing() -> None:
    t0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
    with pytest.raises(SalesHistoryError, match="naive"):
        SlotForecaster(datetime(2026, 3, 2, 8))
    with pytest.raises(SalesHistoryError, match="hour boundary"):
        SlotForecaster(t0 + timedelta(minutes=1))
    with pytest.raises(SalesHistoryError, match="outside"):
        SalesHistory.from_sales([(t0 + 3 * HOUR, 1)], [1], t0, t0 + 3 * HOUR)
    with pytest.raises(SalesHistoryError, match="unknown slot"):
        SalesHistory.from_sales([(t0, 9)], [1], t0, t0 + 3 * HOUR)
    model = SlotForecaster(t0)
    model.observe_counts([1, 0, 2])
    before = model.forecast(t0 + 3 * HOUR)
    for bad in ([1, -1], [0.5], [[1, 2]], [float("nan")]):
        with pytest.raises(SalesHistoryError):
            model.observe_counts(bad)
    with pytest.raises(SalesHistoryError, match="outside"):
        model.observe_sales([t0], t0 + 5 * HOUR)  # already counted
    assert model.observed_until == t0 + 3 * HOUR
    np.testing.assert_array_equal(model.forecast(t0 + 3 * HOUR).hourly, before.hourly)
    with pytest.raises(PlanInputError):
        before.quantile(1.0, 5)
    with pytest.raises(PlanInputError):
        model.forecast(t0 + 3 * HOUR, horizon_hours=0)


def test_demand_models_feed_every_slot_and_refuse_a_bad_batch_whole() -> None:
    models = DemandModels([1, 2], START)
    day = [(START + timedelta(hours=12, minutes=m), 1) for m in range(0, 60, 10)]
    day.append((START + timedelta(hours=15), 2))
    models.observe(day, START + timedelta(hours=24, minutes=30))
    assert models.observed_until == START + 24 * HOUR
    assert models.models[1].profile().size == 168
    before = models.forecasts(START + 24 * HOUR)
    assert before[1].daily_rate == pytest.approx(6.0, rel=0.01)
    assert before[2].daily_rate == pytest.approx(1.0, rel=0.01)
    bad = [(START + 30 * HOUR, 1), (START + 31 * HOUR, 7)]
    with pytest.raises(SalesHistoryError, match="unknown slot"):
        models.observe(bad, START + 48 * HOUR)
    assert models.observed_until == START + 24 * HOUR
    after = models.forecasts(START + 24 * HOUR)
    np.testing.assert_array_equal(after[1].hourly, before[1].hourly)


def sell_out(counts: np.ndarray, per_day: int) -> tuple[np.ndarray, np.ndarray]:
    """What a slot filled with ``per_day`` items each midnight sells, and when it had stock.

    The hour it sells out is stocked until its last sale (arrivals uniform in the hour).
    """
    sales = np.zeros_like(counts)
    available = np.ones(counts.size)
    for day in range(counts.size // 24):
        left = per_day
        for h in range(day * 24, day * 24 + 24):
            if left == 0:
                available[h] = 0.0
                continue
            sales[h] = min(counts[h], left)
            left -= int(sales[h])
            if left == 0 and counts[h] > sales[h]:
                available[h] = sales[h] / (counts[h] + 1)
    return sales, available


@pytest.mark.parametrize(
    ("rate", "share", "per_day", "recovered"), [(8.0, 1.0, 5, 0.82), (1.0, 0.3, 2, 0.6)]
)
def test_stockouts_are_lost_sales_not_missing_demand(
    rate: float, share: float, per_day: int, recovered: float
) -> None:
    """Sold out every busy day: told when the slot was empty, the forecast stays near the
    true demand instead of learning the censored sales."""
    told, naive = [], []
    for seed in range(10):
        sales, available = sell_out(hourly_demand(seed, 120, rate, share), per_day)
        aware = SlotForecaster(START)
        aware.observe_counts(sales, available)
        told.append(aware.forecast(START).daily_rate)
        naive.append(fitted(sales).forecast(START).daily_rate)
    assert float(np.mean(naive)) < 0.6 * rate
    assert float(np.mean(told)) > recovered * rate
    assert float(np.mean(told)) < 1.1 * rate


def test_stockout_spans_become_hourly_availability() -> None:
    t0 = START + 8 * HOUR
    empty = [(t0 + timedelta(minutes=30), t0 + timedelta(hours=2, minutes=15))]
    (history,) = SalesHistory.from_sales([], [4], t0, t0 + 4 * HOUR, {4: empty}).values()
    assert history.available is not None
    np.testing.assert_allclose(history.available, [0.5, 0.0, 0.75, 1.0])
    model = SlotForecaster(t0)
    with pytest.raises(SalesHistoryError, match="share"):
        model.observe_counts([1, 0], [1.0, 1.5])
    with pytest.raises(SalesHistoryError, match="ends before"):
        model.observe_sales([], t0 + 2 * HOUR, [(t0 + HOUR, t0)])
    assert model.observed_until == t0


@pytest.mark.parametrize(("mean", "stock"), [(0.3, 1), (4.0, 2), (4.0, 9), (25.0, 20)])
def test_expected_shortfall_matches_the_poisson_sum(mean: float, stock: int) -> None:
    fc = Forecast(START, "seasonal", mean, np.full(24, mean / 24), 1.0, 0.0)
    pmf = [math.exp(k * math.log(mean) - mean - math.lgamma(k + 1)) for k in range(200)]
    truth = sum((k - stock) * p for k, p in enumerate(pmf) if k > stock)
    assert fc.expected_shortfall(stock, 24) == pytest.approx(truth, abs=1e-9)
    assert fc.expected_shortfall(0, 24) == pytest.approx(mean)


@settings(max_examples=40, deadline=None)
@given(forecasts, st.lists(st.integers(0, 120), min_size=1, max_size=12), st.floats(0.5, 400))
def test_cdf_answers_do_not_depend_on_what_was_asked_before(
    fc: Forecast, ns: list[int], hours: float
) -> None:
    # A forecast keeps one CDF row per horizon and extends it; each answer must be the
    # bit-identical figure a fresh forecast gives for that question alone.
    for n in ns:
        alone = Forecast(fc.start, fc.method, fc.daily_rate, fc.hourly, fc.dispersion, fc.level_cv2)
        assert fc.cdf(n, hours) == alone.cdf(n, hours)


@settings(max_examples=40, deadline=None)
@given(
    forecasts,
    st.lists(
        st.lists(
            st.tuples(st.integers(-1, 120), st.sampled_from([0.0, 3.0, 30.0, 200.0])), max_size=3
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_cdf_rows_built_together_answer_as_each_alone(
    fc: Forecast, rounds: list[list[tuple[int, float]]]
) -> None:
    # cdfs builds the rows a round lacks in one array computation; each answer must be
    # the bit-identical figure a fresh forecast gives for that question alone.
    for asks in rounds:
        alone = [
            Forecast(
                fc.start, fc.method, fc.daily_rate, fc.hourly, fc.dispersion, fc.level_cv2
            ).cdf(n, hours)
            for n, hours in asks
        ]
        assert fc.cdfs(asks) == alone


@settings(max_examples=30, deadline=None)
@given(
    st.lists(forecasts, min_size=1, max_size=4),
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(-1, 120), st.sampled_from([0.0, 3.0, 200.0])),
        max_size=8,
    ),
)
def test_cdf_rows_of_several_forecasts_built_together_answer_as_each_alone(
    fcs: list[Forecast], asks: list[tuple[int, int, float]]
) -> None:
    asks = [(i % len(fcs), n, hours) for i, n, hours in asks]
    build_cdf_rows((fcs[i], n, hours) for i, n, hours in asks)
    for i, n, hours in asks:
        fc = fcs[i]
        alone = Forecast(fc.start, fc.method, fc.daily_rate, fc.hourly, fc.dispersion, fc.level_cv2)
        assert fc.cdf(n, hours) == alone.cdf(n, hours)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(forecasts, st.integers(-1, 80), st.sampled_from([0.5, 0.9, 0.95])),
        min_size=1,
        max_size=5,
    )
)
def test_stockouts_asked_together_are_each_as_asked_alone(
    asks: list[tuple[Forecast, int, float]],
) -> None:
    # One array computation holds every ask's window; each answer must be the figure a
    # fresh forecast gives for that question alone.
    alone = [
        Forecast(
            fc.start, fc.method, fc.daily_rate, fc.hourly, fc.dispersion, fc.level_cv2
        ).hours_until_stockout(stock, q)
        for fc, stock, q in asks
    ]
    assert hours_until_stockouts(asks) == alone


@settings(max_examples=40, deadline=None)
@given(
    forecasts,
    st.integers(-1, 60),
    st.lists(st.sampled_from([0.0, 3.0, 30.0, 200.0]), min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(-1, 120), st.sampled_from([3.0, 30.0, 200.0])), max_size=3),
)
def test_shortfalls_read_the_cdf_rows_other_questions_built(
    fc: Forecast, stock: int, hours: list[float], asked_before: list[tuple[int, float]]
) -> None:
    # Rows already built for other questions (longer or shorter) must give the figure a
    # fresh forecast gives: sum_{j<s} P(D <= j), summed as numpy sums.
    fc.cdfs(asked_before)
    fresh = Forecast(fc.start, fc.method, fc.daily_rate, fc.hourly, fc.dispersion, fc.level_cv2)
    truth = [
        fresh.expected(h)
        if stock <= 0
        else max(
            0.0, fresh.expected(h) - stock + float(np.sum([fresh.cdf(j, h) for j in range(stock)]))
        )
        for h in hours
    ]
    assert fc.expected_shortfalls(stock, hours) == truth
