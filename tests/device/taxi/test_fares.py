"""Fair fares, as properties: never above the cap, surge zero in an emergency, no personal prices."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.taxi.errors import FareError
from device.taxi.fares import CITY_TARIFF, MACHINE_NOTICE, ONE, Market, Tariff, Trip, quote

tariffs = st.builds(
    Tariff,
    base=st.integers(0, 20_000_000),
    per_km=st.integers(0, 10_000_000),
    per_minute=st.integers(0, 2_000_000),
    minimum=st.integers(0, 30_000_000),
)
trips = st.builds(Trip, distance_m=st.integers(0, 200_000), duration_s=st.integers(0, 4 * 3600))
caps = st.integers(ONE, 5 * ONE)
demands = st.integers(0, 50 * ONE)


@given(tariffs, trips, demands, caps)
def test_no_quote_is_above_the_cap(tariff: Tariff, trip: Trip, demand: int, cap: int) -> None:
    q = quote(tariff, trip, Market(demand_bp=demand, cap_bp=cap))
    assert q.factor_bp <= cap
    assert q.price * ONE <= q.metered * cap
    assert q.price >= q.metered  # the factor never discounts below the tariff either


@given(tariffs, trips, demands, st.one_of(st.none(), caps))
def test_an_emergency_has_no_surge(
    tariff: Tariff, trip: Trip, demand: int, cap: int | None
) -> None:
    q = quote(tariff, trip, Market(demand_bp=demand, cap_bp=cap, emergency=True))
    assert q.surge == 0
    assert q.factor_bp == ONE
    assert q.price == quote(tariff, trip, Market(demand_bp=0, cap_bp=cap)).price


@given(tariffs, trips, demands, caps)
def test_the_same_trip_at_the_same_time_costs_the_same(
    tariff: Tariff, trip: Trip, demand: int, cap: int
) -> None:
    """Two riders asking for the same trip in the same market get equal quotes, line for line."""
    first = quote(tariff, trip, Market(demand_bp=demand, cap_bp=cap))
    second = quote(
        Tariff(tariff.base, tariff.per_km, tariff.per_minute, tariff.minimum),
        Trip(trip.distance_m, trip.duration_s),
        Market(demand_bp=demand, cap_bp=cap),
    )
    assert first == second


def test_the_price_function_cannot_see_a_rider() -> None:
    """No rider identity can reach the price: the function takes the tariff, the trip, the market."""
    assert list(inspect.signature(quote).parameters) == ["tariff", "trip", "market"]
    assert {f for f in Trip.__dataclass_fields__} == {"distance_m", "duration_s"}
    market_fields = {
        "demand_bp",
        "cap_bp",
        "emergency",
        "rules_source",
    }  # the owners' rules' origin
    assert {f for f in Market.__dataclass_fields__} == market_fields


@given(tariffs, trips, demands, st.one_of(st.none(), caps), st.booleans())
def test_every_quote_adds_up_and_says_it_is_a_machine(
    tariff: Tariff, trip: Trip, demand: int, cap: int | None, emergency: bool
) -> None:
    q = quote(tariff, trip, Market(demand_bp=demand, cap_bp=cap, emergency=emergency))
    assert q.price == sum(amount for _, amount in q.lines)
    assert all(amount >= 0 for _, amount in q.lines)
    assert [label for label, _ in q.lines][:3] == ["base", "distance", "time"]
    assert q.price >= tariff.minimum
    assert q.notice == MACHINE_NOTICE
    assert "autonomous machine" in q.describe()[-1]


@given(tariffs, trips, st.integers(0, 100_000), demands, caps)
def test_a_longer_trip_never_costs_less(
    tariff: Tariff, trip: Trip, extra_m: int, demand: int, cap: int
) -> None:
    market = Market(demand_bp=demand, cap_bp=cap)
    longer = Trip(trip.distance_m + extra_m, trip.duration_s)
    assert quote(tariff, longer, market).price >= quote(tariff, trip, market).price


def test_a_ten_km_trip_in_base_units_with_its_breakdown() -> None:
    q = quote(
        CITY_TARIFF,
        Trip(distance_m=10_000, duration_s=1_200),
        Market(demand_bp=18_000, cap_bp=15_000),
    )
    assert q.lines == (
        ("base", 3_500_000),
        ("distance", 19_000_000),
        ("time", 8_000_000),
        ("demand", 15_250_000),  # 1.5× cap on 30.50, not the 1.8× demand asks
    )
    assert q.price == 45_750_000
    assert q.describe()[:2] == ["base: 3.50 USDC", "distance: 19.00 USDC"]
    assert q.per_km() == 4_575_000


def test_uncapped_surge_follows_demand() -> None:
    q = quote(CITY_TARIFF, Trip(10_000, 1_200), Market(demand_bp=30_000, cap_bp=None))
    assert q.factor_bp == 30_000
    assert q.price == 3 * q.metered


@pytest.mark.parametrize(
    "make",
    [
        lambda: Market(cap_bp=ONE - 1),
        lambda: Market(demand_bp=-1),
        lambda: Trip(distance_m=-1, duration_s=0),
        lambda: Tariff(base=-1, per_km=0, per_minute=0),
    ],
)
def test_impossible_terms_are_refused(make: Callable[[], object]) -> None:
    with pytest.raises(FareError):
        make()
