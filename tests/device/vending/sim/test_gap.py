"""The decomposition of a policy's shortfall against the ceiling adds up to the base unit."""

from __future__ import annotations

import pytest

from device.settings import Settings, load_settings
from device.vending.sim.ceiling import ceiling
from device.vending.sim.compare import run_policy
from device.vending.sim.gap import GAP_POLICIES, decompose, summed
from device.vending.sim.scenarios import SCENARIOS

DAYS = 14  # two weeks of the gym: fresh items spoil, the agent returns goods


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(None)


@pytest.mark.parametrize("policy", GAP_POLICIES)
def test_the_parts_sum_to_the_gap_and_the_residual_is_the_rounding(
    settings: Settings, policy: str
) -> None:
    bound = ceiling(settings, SCENARIOS["gym"], days=DAYS, seed=1)
    result = run_policy(settings, "gym", policy, days=DAYS, seed=1)
    assert sum(bound.customers.values()) == result.customers  # the same people came
    gap = decompose(result, bound)
    assert gap.gap == bound.profit - result.profit
    assert sum(gap.parts().values()) == gap.gap
    # Nothing is left unexplained but order totals rounded above their unit prices.
    assert gap.residual == result.rounding
    assert gap.lost_sales_retail > 0
    assert gap.lost_goods_floor < 0
    assert gap.above_floor > 0  # nobody buys everything at the lowest floor
    assert gap.ceiling_allowance == bound.profit - bound.every_customer < 0
    assert gap.inventory_value > 0
    assert 0 < gap.capital_cost < gap.inventory_value
    twice = summed([gap, gap])
    assert twice.gap == 2 * gap.gap
    assert twice.inventory_value == gap.inventory_value
