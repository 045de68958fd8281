"""The markdown decision: list price unless front units would expire unsold and a lower
price earns more from them in expectation; never above list, below the floor or deeper
than the maximum markdown."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.vending.pricing.markdown import PRICE_STEP, WINDOW_HOURS, decide, expected_sold, lift

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
LIST = 4_500_000


def rate(per_day: float) -> Callable[[float], float]:
    return lambda hours: per_day * hours / 24


def test_units_that_sell_in_time_keep_the_list_price() -> None:
    got = decide(NOW, ((20.0, 2), (60.0, 4)), LIST, LIST // 2, 40, rate(6.0))
    assert (got.price, got.units) == (LIST, 0)
    assert got.reason.startswith("list price")


def test_front_units_that_would_expire_unsold_get_the_price_that_earns_most() -> None:
    # 6 units expire in 24 h, 1 expected at list (0.98 of them sell, 4.41 USDC); at 60%
    # of list (the 40% maximum) each customer takes 2.8 of them: 2.5 sell, 6.70 USDC.
    got = decide(NOW, ((24.0, 6), (70.0, 5)), LIST, LIST // 2, 40, rate(1.0))
    assert got.price == LIST * 60 // 100
    assert got.units == 6
    assert "6 unit(s) expire within 24 h" in got.reason
    assert "40% off" in got.reason
    # 3 units: a shallower cut earns most (two customers at 82% take all three).
    mild = decide(NOW, ((24.0, 3),), LIST, LIST // 2, 40, rate(1.0))
    assert LIST * 60 // 100 < mild.price < LIST
    assert mild.price % PRICE_STEP == 0


def test_no_markdown_when_it_gives_away_more_than_it_sells() -> None:
    # 2 units, 1 expected at list: 0.26 would expire unsold on average, and the
    # customers who come would mostly have paid the list price.
    got = decide(NOW, ((24.0, 2),), LIST, LIST // 2, 40, rate(1.0))
    assert (got.price, got.units) == (LIST, 0)
    assert "earns more" in got.reason


def test_expected_sold_is_poisson_demand_times_the_lift_capped_at_the_units() -> None:
    assert expected_sold(1.0, 1) == pytest.approx(1 - math.exp(-1))
    assert expected_sold(2.0, 2) == pytest.approx(2 - 2 * math.exp(-2) - 2 * math.exp(-2))
    assert expected_sold(0.0, 5) == 0.0
    assert expected_sold(50.0, 3) == pytest.approx(3.0)
    # A markdown multiplies what each customer takes (no customer: no sale at any price):
    # one customer (P = 1/e) takes 2, two or more take all 3
    assert expected_sold(1.0, 3, 2.0) == pytest.approx(2 / math.e + 3 * (1 - 2 / math.e))


def test_the_floor_wins_over_the_maximum_markdown() -> None:
    floor = LIST * 80 // 100
    got = decide(NOW, ((10.0, 5),), LIST, floor, 40, rate(1.0))
    assert got.price == floor
    none_allowed = decide(NOW, ((10.0, 5),), LIST, LIST, 40, rate(1.0))
    assert none_allowed.price == LIST
    assert none_allowed.units == 0


def test_expired_units_far_lots_and_no_demand_keep_the_list_price() -> None:
    assert decide(NOW, ((0.0, 4),), LIST, 0, 40, rate(1.0)).price == LIST  # past its date
    far = decide(NOW, ((WINDOW_HOURS + 1, 9),), LIST, 0, 40, rate(1.0))
    assert far.price == LIST
    assert decide(NOW, ((5.0, 4),), LIST, 0, 40, rate(0.0)).price == LIST  # no sales yet


lots = st.lists(
    st.tuples(st.floats(min_value=-5, max_value=200), st.integers(min_value=0, max_value=20)),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(
    expiring=lots,
    list_price=st.integers(min_value=0, max_value=10_000_000),
    floor_share=st.floats(min_value=0, max_value=1),
    max_pct=st.integers(min_value=0, max_value=100),
    per_day=st.floats(min_value=0, max_value=50),
)
def test_the_price_is_always_within_the_owners_bounds(
    expiring: list[tuple[float, int]],
    list_price: int,
    floor_share: float,
    max_pct: int,
    per_day: float,
) -> None:
    floor = int(list_price * floor_share)
    got = decide(NOW, expiring, list_price, floor, max_pct, rate(per_day))
    assert floor <= got.price <= list_price
    assert got.price >= list_price * (100 - max_pct) // 100
    assert (got.units == 0) == (got.price == list_price)
    assert got.units <= sum(n for _, n in expiring)


@settings(max_examples=200, deadline=None)
@given(
    left=st.floats(min_value=0.5, max_value=WINDOW_HOURS),
    units=st.integers(min_value=1, max_value=15),
    per_day=st.floats(min_value=0.01, max_value=30),
)
def test_a_markdown_earns_more_than_the_list_price_in_expectation(
    left: float, units: int, per_day: float
) -> None:
    got = decide(NOW, ((left, units),), LIST, LIST // 2, 40, rate(per_day))
    at_list = per_day * left / 24
    marked = got.price * expected_sold(at_list, units, lift(got.price / LIST))
    assert marked >= LIST * expected_sold(at_list, units)
    if got.units:
        assert marked > LIST * expected_sold(at_list, units)
