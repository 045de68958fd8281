"""Simulated customers follow the site's seasonality and are reproducible by seed."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

from device.vending.sim.customers import OFFICE, CustomerStream, SlotDemand

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def _stream(seed: int = 7) -> CustomerStream:
    return CustomerStream(
        {1: SlotDemand(daily_rate=20), 2: SlotDemand(daily_rate=2, active_day_share=0.25)},
        OFFICE,
        seed=seed,
    )


def test_same_seed_same_customers_and_any_window_is_consistent() -> None:
    end = START + timedelta(days=14)
    first = list(_stream().arrivals(START, end))
    assert first == list(_stream().arrivals(START, end))
    assert first != list(_stream(seed=8).arrivals(START, end))
    middle = START + timedelta(days=3, hours=5)
    assert list(_stream().arrivals(START, middle)) + list(_stream().arrivals(middle, end)) == first
    assert all(a.when <= b.when for a, b in itertools.pairwise(first))


def test_rates_and_seasonality_match_the_profile() -> None:
    arrivals = list(_stream().arrivals(START, START + timedelta(days=364)))
    per_slot = Counter(a.slot_id for a in arrivals)
    assert 0.93 * 20 * 364 < per_slot[1] < 1.07 * 20 * 364
    by_hour = Counter(a.when.hour for a in arrivals if a.slot_id == 1)
    assert by_hour.most_common(1)[0][0] == 12  # lunch peak of the office profile
    assert by_hour[3] == 0  # nobody at 3 am
    weekday = sum(1 for a in arrivals if a.slot_id == 1 and a.when.weekday() < 5) / 5
    weekend = sum(1 for a in arrivals if a.slot_id == 1 and a.when.weekday() >= 5) / 2
    assert weekend < 0.4 * weekday


def test_intermittent_item_sells_on_few_days_with_the_same_mean() -> None:
    arrivals = [a for a in _stream().arrivals(START, START + timedelta(days=364)) if a.slot_id == 2]
    days_with_sales = {a.when.date() for a in arrivals}
    assert len(days_with_sales) < 0.35 * 364
    assert 0.8 * 2 * 364 < len(arrivals) < 1.2 * 2 * 364
