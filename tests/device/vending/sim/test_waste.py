"""The owners' price on food waste, through the simulated machine.

``agent.waste_penalty`` counts each perishable thrown away against a restock on top
of its cost: the agent buys fewer fresh items and throws fewer away, and gives up
some profit for it (the trade is measured in the README, issue 20).
"""

from __future__ import annotations

from device.settings import Settings, load_settings
from device.vending.sim.compare import run_policy
from device.vending.sim.policies import machine_tuning


def with_waste_penalty(settings: Settings, penalty: float) -> Settings:
    agent = settings.agent.model_copy(update={"waste_penalty": penalty})
    return settings.model_copy(update={"agent": agent})


def test_the_config_sets_the_penalty_of_both_planner_passes() -> None:
    tuning = machine_tuning(with_waste_penalty(load_settings(None), 3.5))
    assert tuning.planner.waste_penalty == 3.5
    assert tuning.fill is not None
    assert tuning.fill.waste_penalty == 3.5


def test_a_price_on_waste_throws_fewer_fresh_items_away() -> None:
    """Four weeks of the gym (shakes, juice and salads): the agent at the profit-maximising
    setting against one that counts each unit thrown away at 16 times its cost."""
    settings = load_settings(None)
    profit_first = run_policy(with_waste_penalty(settings, 0.0), "gym", "agent", days=28, seed=1)
    frugal = run_policy(with_waste_penalty(settings, 16.0), "gym", "agent", days=28, seed=1)
    assert frugal.spoilage_units < profit_first.spoilage_units
    assert frugal.spoilage_cost < profit_first.spoilage_cost
    assert frugal.purchases < profit_first.purchases
