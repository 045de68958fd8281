"""Fresh items ordered by their stock by age: the exact policy the planner follows."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import pytest

from device.vending.planning.forecast import Forecast
from device.vending.planning.fresh import FreshSlotProblem, solvable, state_count
from device.vending.planning.planner import SlotStock

RETAIL, COST = 4_500_000, 1_800_000
NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def poisson_days(mean: float, days: int, top: int) -> list[np.ndarray]:
    k = np.arange(top)
    pmf = np.exp(-mean + k * math.log(mean) - np.array([math.lgamma(i + 1) for i in k]))
    day = np.append(pmf, 1.0 - pmf.sum())
    return [day] * days


def test_an_item_that_keeps_one_day_is_the_classic_newsvendor() -> None:
    """With nothing carried over, each day is a newsvendor: buy while P(D >= q) >= c/r."""
    capacity, mean = 12, 3.0
    demand = poisson_days(mean, 10, capacity)
    ordered = FreshSlotProblem(capacity, life=1).best_order(demand, RETAIL, COST, ())
    cdf = np.cumsum(demand[0])
    newsvendor = int(np.argmax(cdf >= 1 - COST / RETAIL))
    assert ordered == newsvendor == 3


def test_the_more_it_holds_the_less_it_orders() -> None:
    """Orders come every day: today's buys what today's stock may not cover and what
    keeps until the next order; a slot full of fresh items or with no margin buys none."""
    problem = FreshSlotProblem(8, life=3)
    demand = poisson_days(1.5, 14, 8)
    orders = [problem.best_order(demand, RETAIL, COST, (0, units)) for units in range(9)]
    assert orders[0] > 0
    assert all(a >= b for a, b in pairwise(orders))
    assert orders[8] == 0
    assert problem.best_order(demand, RETAIL, RETAIL, (0, 0)) == 0
    assert problem.best_order(demand, RETAIL, 900_000, (0, 0)) >= orders[0]  # cheaper: more


def test_more_stock_than_fits_is_trimmed_not_refused() -> None:
    problem = FreshSlotProblem(6, life=3)
    assert problem.best_order(poisson_days(1.5, 7, 6), RETAIL, COST, (5, 5)) == 0


def test_the_state_count_matches_the_problem_and_bounds_what_is_solved() -> None:
    for capacity, life in [(8, 3), (12, 4), (5, 1), (15, 2)]:
        assert state_count(capacity, life) == len(FreshSlotProblem(capacity, life).states)
    assert solvable(8, 3)
    assert not solvable(8, 6)  # more ages than the exact solution is built for
    assert not solvable(40, 4)  # 12,341 states: the newsvendor decides instead


def test_a_forecast_gives_each_days_demand_distribution() -> None:
    hourly = np.tile(np.r_[np.zeros(12), np.full(12, 0.25)], 14)  # 3 a day, afternoons
    fc = Forecast(NOW, "seasonal", 3.0, hourly, 1.5, 0.01)
    days = fc.day_pmfs(24.0, 5, 40)
    assert len(days) == 5
    for pmf in days:
        assert pmf.sum() == pytest.approx(1.0)
        assert float(np.arange(41) @ pmf) == pytest.approx(3.0, rel=1e-3)
    capped = fc.day_pmfs(0.0, 1, 2)[0]
    assert capped[2] == pytest.approx(1.0 - capped[0] - capped[1])
    silent = Forecast(NOW, "tsb", 0.0, np.zeros(14 * 24), 1.0, 0.0)
    assert silent.day_pmfs(0.0, 2, 4)[0].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_stock_by_age_on_arrival() -> None:
    """What a delivery 24 h away will find: the oldest expired or sold, on-order newest."""
    fc = Forecast(NOW, "seasonal", 2.0, np.full(14 * 24, 2.0 / 24), 1.0, 0.0)
    stock = SlotStock(1, 7, on_order=2, expiring=((10.0, 3), (40.0, 2), (70.0, 2)))
    # The 3 expire before it comes; 2 sell from the oldest left (the 40 h lot);
    # the 70 h lot has 2 days left then, the 2 on order the newest age.
    assert stock.by_days_left(3, 24.0, fc) == (0, 4)
    assert stock.by_days_left(4, 24.0, fc) == (0, 2, 2)
    assert SlotStock(1, 0).by_days_left(3, 24.0, fc) == (0, 0)


def test_the_newsvendor_throws_away_what_its_order_leaves_unsold() -> None:
    """Life 1: every day orders the newsvendor's 3 units, sells min(D, 3) and throws the
    rest away; the expectation walked forward must say exactly that."""
    capacity, days = 12, 10
    demand = poisson_days(3.0, days, capacity)
    out = FreshSlotProblem(capacity, life=1).outcome(demand, RETAIL, COST)
    k = np.arange(capacity + 1)
    sold = float(np.minimum(k, 3) @ demand[0])
    assert out.ordered == pytest.approx(3 * days)
    assert out.sold == pytest.approx(sold * days)
    assert out.spoiled == pytest.approx((3 - sold) * days)
    assert out.profit == pytest.approx(RETAIL * out.sold - COST * out.ordered)


@pytest.mark.parametrize(("capacity", "life", "mean"), [(8, 3, 1.5), (8, 3, 0.6), (10, 2, 4.0)])
def test_the_expected_outcome_walks_the_best_policy(capacity: int, life: int, mean: float) -> None:
    """Walked forward from an empty slot, the best policy earns what the backward solution
    says it does; nothing is sold or thrown away that was not bought; and counting waste
    against it buys less, throws less away and never earns more."""
    demand = poisson_days(mean, 30, capacity)
    problem = FreshSlotProblem(capacity, life)
    best = problem.outcome(demand, RETAIL, COST)
    assert best.profit == pytest.approx(problem.best_value(demand, RETAIL, COST), rel=1e-9)
    assert 0 <= best.ordered - best.sold - best.spoiled <= capacity  # what is left at the end
    outcomes = [
        problem.outcome(demand, RETAIL, COST, waste_penalty=penalty * COST)
        for penalty in (0.5, 1, 2, 8)
    ]
    for less, more in pairwise([best, *outcomes]):
        assert more.spoiled <= less.spoiled + 1e-9
        assert more.profit <= less.profit + 1e-6
    assert outcomes[-1].spoiled < best.spoiled
    served = problem.outcome(demand, RETAIL, COST, sale_bonus=RETAIL)
    assert served.sold > best.sold
