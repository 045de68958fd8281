"""An empty machine must still buy when its clock is not on a whole second (the wall clock never is).

The planner's deadline for an urgent need is "now + the fastest supplier's lead
time"; by the time the buyer asks suppliers, its clock has moved on, so every
supplier looked too slow, no order was ever placed, and an empty slot stayed
empty for good.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from device.procurement.models import OrderState
from tests.device.loop.agent_proc import LoopMachine, WorldState
from tests.device.loop.world import START, chain_world


@pytest.mark.anvil
def test_empty_machine_orders_at_a_fractional_time(anvil_url: str, tmp_path: Path) -> None:
    world_file = tmp_path / "world.json"
    now = START + timedelta(hours=5, seconds=7, microseconds=250_000)
    empty = WorldState.initial()
    empty.clock = now
    empty.stock = dict.fromkeys(empty.stock, 0)
    empty.save(world_file)
    with chain_world(anvil_url, tmp_path, seed=1) as world:
        machine = LoopMachine(world.config, tmp_path / "machine.db", world_file, anvil_url)
        try:
            machine.resume()
            machine.agent.plan(now)
            orders = machine.procurement.orders()
        finally:
            machine.close()
    assert [o.state for o in orders] == [OrderState.OPEN]
    assert {int(line["slot_id"]) for line in json.loads(orders[0].lines)} == {1, 2, 3, 4}
