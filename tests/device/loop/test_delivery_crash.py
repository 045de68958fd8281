"""A power cut between the recount of a delivery and its payment must not cost the supplier.

Found by the crash test: ``Agent.restocked`` used to commit the recount, then
match the delivery and write the payment intent in a second step. Killed in
between, the restarted machine saw no increase any more (the recount already
held the goods), the order was never paid and was released at its deadline.
The recount and the payments it owes now commit in one transaction.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from contracts.profit_center import OrderSettled
from tests.device.loop.agent_proc import WorldState
from tests.device.loop.runner import Harness, Kill, fork_server
from tests.device.loop.world import START, chain_world


@pytest.mark.anvil
def test_kill_between_recount_and_payment_still_pays(anvil_url: str, tmp_path: Path) -> None:
    database, world_file, config_file = (
        tmp_path / "machine.db",
        tmp_path / "world.json",
        tmp_path / "loop.json",
    )
    log = tmp_path / "agent.log"
    context = fork_server()
    with chain_world(anvil_url, tmp_path, seed=11) as world:
        world.config.save(config_file)
        base = [str(config_file), str(database), str(world_file), anvil_url]
        far = (START + timedelta(days=10)).isoformat()
        run = Harness(context, [*base, "--until", far, "--hold", "restock_recorded:1"], log)
        assert run.wait_for(Kill("restock_recorded", 1, None))
        run.sigkill()
        delivered = WorldState.load(world_file).visit  # the van's order, unloaded and counted
        assert delivered is not None
        resumed = WorldState.load(world_file).clock
        final = Harness(context, [*base, "--until", (resumed + timedelta(days=2)).isoformat()], log)
        final.finish()
        settled = {
            "0x" + e.order_id.hex()
            for e in world.chain.pc.events(world.first_block)
            if isinstance(e, OrderSettled)
        }
    assert delivered in settled
