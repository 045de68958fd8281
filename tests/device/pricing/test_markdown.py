"""The markdown decision: list price unless front units would expire unsold; never
above list, below the floor or deeper than the maximum markdown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from device.pricing.markdown import PRICE_STEP, WINDOW_HOURS, decide

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
LIST = 4_500_000


def rate(per_day: float) -> Callable[[float], float]:
    return lambda hours: per_day * hours / 24


def test_units_that_sell_in_time_keep_the_list_price() -> None:
    got = decide(NOW, ((20.0, 2), (60.0, 4)), LIST, LIST // 2, 40, rate(6.0))
    assert (got.price, got.units) == (LIST, 0)
    assert got.reason.startswith("list price")


def test_front_units_that_would_expire_unsold_are_marked_down_just_enough() -> None:
    # 3 units expire in 24 h, 1 expected to sell at list: lift 3, price 3 ** -0.5 = 58%
    # of list, above the 40% maximum markdown: 60% of list.
    got = decide(NOW, ((24.0, 3), (70.0, 5)), LIST, LIST // 2, 40, rate(1.0))
    assert got.price == LIST * 60 // 100
    assert got.units == 3
    assert "3 unit(s) expire within 24 h" in got.reason
    assert "40% off" in got.reason
    # A smaller shortfall, a shallower cut (2 units, 1.5 expected: 87% of list).
    mild = decide(NOW, ((24.0, 2),), LIST, LIST // 2, 40, rate(1.5))
    assert LIST * 60 // 100 < mild.price < LIST
    assert mild.price % PRICE_STEP == 0


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
