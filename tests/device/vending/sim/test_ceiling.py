"""The ceiling without foresight: an upper bound the oracle target is judged against."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from device.settings import load_settings
from device.vending.planning.fresh import FreshSlotProblem
from device.vending.sim.ceiling import ceiling, day_demand
from device.vending.sim.customers import CustomerStream, SlotDemand
from device.vending.sim.policies import SIM_START
from device.vending.sim.scenarios import OFFICE_SNACKS, SCENARIOS

SANDWICH = SlotDemand(daily_rate=1.5, active_day_share=0.5)


def _demand(capacity: int, days: int) -> list[np.ndarray]:
    stream = CustomerStream({6: SANDWICH}, OFFICE_SNACKS.site, seed=3)
    calendar = [(SIM_START + timedelta(days=d)).date() for d in range(days)]
    return [day_demand(stream, 6, day, capacity) for day in calendar]


def test_a_day_of_demand_is_a_distribution_with_the_streams_mean() -> None:
    stream = CustomerStream({6: SANDWICH}, OFFICE_SNACKS.site, seed=3)
    monday = SIM_START.date()
    pmf = day_demand(stream, 6, monday, 60)
    assert pmf.sum() == pytest.approx(1.0)
    assert pmf[0] > SANDWICH.active_day_share  # an idle day, or an active day without sale
    shape = float(OFFICE_SNACKS.site.hourly_shape(monday.weekday()).sum())
    assert float(np.arange(61) @ pmf) == pytest.approx(1.5 * shape, rel=1e-6)


def test_a_day_nobody_comes_sells_nothing() -> None:
    faded = SlotDemand(daily_rate=2.0, trend_per_year=-1.0)  # nothing left after a year
    stream = CustomerStream({6: faded}, OFFICE_SNACKS.site, seed=3, trend_origin=date(2025, 1, 1))
    pmf = day_demand(stream, 6, SIM_START.date(), 8)
    assert pmf.tolist() == [1.0] + [0.0] * 8


def test_the_best_fresh_policy_is_at_least_every_fixed_order_up_to_level() -> None:
    capacity, retail, cost = 6, 4_500_000, 1_800_000
    demand = _demand(capacity, 56)
    problem = FreshSlotProblem(capacity, life=3)
    best = problem.best_value(demand, retail, cost)
    fixed = [problem.policy_value(demand, retail, cost, level) for level in range(capacity + 1)]
    assert fixed[0] == 0.0
    assert best >= max(fixed) - 1e-6
    served = sum(float(np.arange(capacity + 1) @ pmf) for pmf in demand) * (retail - cost)
    assert max(fixed) > 0
    assert best < served  # expiry costs even the best policy something


def test_a_longer_shelf_life_is_worth_more_and_never_less() -> None:
    capacity, retail, cost = 8, 4_500_000, 1_800_000
    demand = _demand(capacity, 56)
    values = [
        FreshSlotProblem(capacity, life).best_value(demand, retail, cost) for life in (1, 2, 3, 4)
    ]
    assert values == sorted(values)
    assert values[0] < values[-1]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_ceiling_is_below_serving_everyone_and_names_the_fresh_slots(name: str) -> None:
    scenario = SCENARIOS[name]
    bound = ceiling(load_settings(), scenario, days=28, seed=1)
    fresh = {
        s.id
        for s in scenario.machine(load_settings()).slots
        if s.shelf_life_days is not None and s.shelf_life_days <= 4
    }
    assert {f.slot_id for f in bound.fresh} == fresh
    assert all(0 < f.best_without_foresight < f.every_customer for f in bound.fresh)
    assert bound.deliveries > 0
    assert 0 < bound.profit < bound.every_customer
