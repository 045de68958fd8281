"""The taxi's city simulation: deterministic per seed, books that add up, policies that keep their rules.

Short horizons (a few simulated days) so each test takes a second or two; the city-year
figures are measured by ``benchmarks/taxi.py``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from device.cli import app
from device.taxi.city import TOU_PER_KWH, City, build_city, charge_cost
from device.taxi.fares import CITY_TARIFF, ONE, Market, Quote, Trip, quote
from device.taxi.policies import AGENT_CAP_BP, POLICIES, Agent, Taxi, make_policy
from device.taxi.simulate import TaxiResult, compare, quote_request, run

DAYS = 4


@pytest.fixture(scope="module")
def city() -> City:
    return build_city(11, DAYS)


@pytest.fixture(scope="module")
def results(city: City) -> dict[str, tuple[TaxiResult, list[tuple[int, Quote]]]]:
    out = {}
    for name in POLICIES:
        rides: list[tuple[int, Quote]] = []

        def heard(r: int, q: Quote, rides: list[tuple[int, Quote]] = rides) -> None:
            rides.append((r, q))

        out[name] = (run(city, name, on_ride=heard), rides)
    return out


def test_the_same_seed_builds_the_same_world_and_the_same_year() -> None:
    a, b, other = build_city(5, 2), build_city(5, 2), build_city(6, 2)
    assert a.arrival_s == b.arrival_s
    assert a.wtp_bp == b.wtp_bp
    assert a.stations == b.stations
    assert np.array_equal(a.demand_bp, b.demand_bp)
    assert np.array_equal(a.queue_s, b.queue_s)
    assert a.arrival_s != other.arrival_s
    assert compare(5, 2) == compare(5, 2)


@pytest.mark.parametrize("name", POLICIES)
def test_energy_is_conserved_and_the_battery_never_runs_dry(
    city: City, results: dict[str, tuple[TaxiResult, list[tuple[int, Quote]]]], name: str
) -> None:
    result, _ = results[name]
    assert result.start_wh + result.charged_wh - result.used_wh == result.end_wh
    assert result.min_wh >= 0
    assert result.end_wh <= city.physics.battery_wh
    assert result.rides > 0


@pytest.mark.parametrize("name", POLICIES)
def test_money_adds_up_ride_by_ride(
    city: City, results: dict[str, tuple[TaxiResult, list[tuple[int, Quote]]]], name: str
) -> None:
    result, rides = results[name]
    assert len(rides) == result.rides
    assert sum(q.price for _, q in rides) == result.revenue
    assert result.profit == result.revenue - result.energy_cost - result.wear_cost
    km = result.paid_km + result.deadhead_km
    assert (
        result.wear_cost // 1000 <= km * city.physics.wear_per_km // 1000 + city.physics.wear_per_km
    )
    # Every fare is the published rule applied to the trip at its time: nothing personal.
    policy = make_policy(name, city)
    for r, q in rides:
        assert q == quote_request(city, policy, CITY_TARIFF, r, city.arrival_s[r])
        assert q.price * ONE <= q.metered * city.wtp_bp[r]  # the rider agreed to it


def test_driver_rules_take_every_fare_at_the_plain_tariff(
    results: dict[str, tuple[TaxiResult, list[tuple[int, Quote]]]],
) -> None:
    result, rides = results["driver-rules"]
    assert result.declined_by_policy == 0
    assert result.declined_by_rider == 0  # everyone pays the tariff
    assert all(q.factor_bp == ONE and q.surge == 0 for _, q in rides)


def test_the_agent_never_charges_above_the_cap_nor_surges_in_an_emergency(
    city: City, results: dict[str, tuple[TaxiResult, list[tuple[int, Quote]]]]
) -> None:
    result, rides = results["agent"]
    assert all(q.factor_bp <= AGENT_CAP_BP for _, q in rides)
    assert result.emergency_max_factor_bp == ONE
    # On every request made inside an emergency, the agent's quote has no surge; surge's does.
    agent, surge = make_policy("agent", city), make_policy("surge", city)
    inside = [
        r for r, t in enumerate(city.arrival_s) if city.emergency[city.hour(t), city.origin[r]]
    ]
    assert inside, "the world has an emergency within its first days"
    for r in inside:
        t = city.arrival_s[r]
        assert quote_request(city, agent, CITY_TARIFF, r, t).surge == 0
    assert (
        max(quote_request(city, surge, CITY_TARIFF, r, city.arrival_s[r]).factor_bp for r in inside)
        > 2 * ONE
    )


def test_uncapped_surge_prices_the_same_trip_far_apart(
    results: dict[str, tuple[TaxiResult, list[tuple[int, Quote]]]],
) -> None:
    assert results["surge"][0].max_factor_bp > AGENT_CAP_BP
    assert results["surge"][0].max_per_km > results["agent"][0].max_per_km


def test_charging_is_paid_hour_by_hour_at_the_time_of_use_price() -> None:
    # 50 kWh at 50 kW from 05:30: half an hour of night price, then day price.
    seconds, cost = charge_cost(50_000, 5 * 3600 + 1800, 50_000)
    assert seconds == 3600
    assert cost == 25_000 * TOU_PER_KWH[5] // 1000 + 25_000 * TOU_PER_KWH[6] // 1000
    assert charge_cost(0, 0, 50_000) == (0, 0)


def test_the_agent_charges_at_night_in_the_quietest_cheap_hour(city: City) -> None:
    """Half full at 01:00 on a Monday it waits; at 04:00, the night's quietest hour, it charges to full.

    Every cheap hour costs the same per kWh, but not the same in riders missed.
    """
    agent = Agent(city)
    half = city.physics.battery_wh // 2
    quiet = int(np.argmin(city.expected[0, :6].sum(axis=1)))
    assert quiet == 4
    for hour in range(quiet):
        assert agent.idle(city, Taxi(t=hour * 3600, zone=city.home, wh=half)).kind != "charge"
    action = agent.idle(city, Taxi(t=quiet * 3600, zone=city.home, wh=half))
    assert action.kind == "charge"
    assert action.target_wh == city.physics.battery_wh
    assert action.zone in city.stations
    # An almost empty battery charges at once, whatever the hour.
    low = agent.idle(city, Taxi(t=3600, zone=city.home, wh=city.physics.battery_wh // 20))
    assert low.kind == "charge"


def test_a_trip_is_priced_by_distance_and_time_only(city: City) -> None:
    r = 0
    metres = city.dist_m[city.origin[r]][city.dest[r]]
    policy = make_policy("driver-rules", city)
    expected = quote(CITY_TARIFF, Trip(metres, city.travel_s(metres, city.arrival_s[r])), Market())
    assert quote_request(city, policy, CITY_TARIFF, r, city.arrival_s[r]).price == expected.price


def test_simulate_kind_taxi_compare_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "taxi.json"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--kind",
            "taxi",
            "--compare",
            "--days",
            "2",
            "--seed",
            "5",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "robotaxi, seed 5" in result.output
    assert "fairness cap costs" in result.output
    data = json.loads(out.read_text())
    assert [r["policy"] for r in data["results"]] == list(POLICIES)
    assert data["results"] == [asdict(r) for r in compare(5, 2).results]


def test_an_unknown_kind_or_taxi_policy_is_refused() -> None:
    assert CliRunner().invoke(app, ["simulate", "--kind", "bus"]).exit_code == 2
    bad = CliRunner().invoke(
        app, ["simulate", "--kind", "taxi", "--policy", "route", "--days", "1"]
    )
    assert bad.exit_code == 2
