"""One seed's figures, pinned to the base unit.

Speed work on the simulator (or on the agent's planning) must leave these exactly
as they are; a change that is meant to move them updates them here, in the same
commit, with the reason. Four weeks of the gym (fresh items, returns, spoilage).
"""

from __future__ import annotations

import pytest

from device.settings import Settings, load_settings
from device.vending.sim.classic import ClassicParams
from device.vending.sim.compare import run_policy
from device.vending.sim.policies import POLICIES

# policy: (profit, fill rate, spoiled units, spoiled cost, purchases, returned units)
PINNED: dict[str, tuple[int, float, int, int, int, int]] = {
    "route": (174_730_000, 0.495591, 30, 51_920_000, 249_700_000, 0),
    "telemetry": (329_778_000, 0.91358, 20, 39_930_000, 524_040_000, 0),
    "classic-list": (250_615_000, 0.948854, 49, 95_755_000, 618_420_000, 0),
    "classic-neg": (359_617_000, 0.938272, 45, 72_815_000, 496_755_000, 0),
    # Re-pinned with the planner's tuned overflow_risk (0.02 for both passes, issue 20
    # step 4): it orders only what fits on arrival, 2 units returned instead of 55.
    # Re-pinned with the planner's marginal credit (``PlannerConfig.credit_hours = 24``,
    # issue 20 step 4): a fast slot counts on more of its sales before the delivery.
    # Re-pinned with the credit bounded by its chance to fit (``credit_fit = 0.9``):
    # 6 units returned instead of 14; these four weeks lose 9.31 USDC by it (the year
    # on seeds 4-10 loses 36 on the gym, gains 1,079 on the volatile site: README).
    # Re-pinned with a perishable bought only for its sales before a later delivery could
    # bring a fresher one (``reorder_hours = 48``): 0.81 USDC less bought, the rest equal.
    # Re-pinned with the owners' default price on food waste (``agent.waste_penalty = 8``:
    # each perishable thrown away counts 8 times its cost against a restock): 9 units
    # thrown away instead of 18, 24.58 USDC less profit over these four weeks (README).
    "agent": (407_392_000, 0.910053, 9, 18_185_000, 385_110_000, 9),
    "oracle": (568_418_000, 0.998236, 7, 14_135_000, 394_320_000, 0),
}


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(None)


def test_every_policy_is_pinned() -> None:
    assert set(PINNED) == set(POLICIES)


@pytest.mark.parametrize("policy", POLICIES)
def test_four_weeks_of_the_gym_give_the_pinned_figures(settings: Settings, policy: str) -> None:
    # The classic policies at their default knobs: retuning them must not move the pins.
    tuning = ClassicParams() if policy.startswith("classic") else None
    r = run_policy(settings, "gym", policy, days=28, seed=1, tuning=tuning)
    got = (r.profit, r.fill_rate, r.spoilage_units, r.spoilage_cost, r.purchases, r.returned_units)
    assert got == PINNED[policy]
