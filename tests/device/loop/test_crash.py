"""SIGKILL the agent process at 50 moments of its orders' lives; restart it from what is durable.

Anvil and the suppliers (real HTTP servers) live in this test process and survive
every kill; the agent harness (``agent_proc``) runs the real agent core,
procurement and outbox on simulated time against its SQLite file and the chain.
Afterwards the chain and the database must show: no need ordered twice, no order
paid twice, every delivered order paid, no acknowledged sale lost.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from tests.device.loop.agent_proc import WorldState
from tests.device.loop.checks import check_orders, check_sales, check_transactions, read_ledger
from tests.device.loop.runner import (
    Harness,
    Kill,
    acknowledged_sales,
    fork_server,
)
from tests.device.loop.world import START, chain_world

KILLS = 50
SEED = 20260302
# Where a kill lands exactly: the harness hangs inside the log call of that event.
HOLD_AT = (
    "negotiation_finished",  # quote won, no order row yet
    "order_negotiated",  # order row + place intent committed, nothing signed
    "intent_written",  # an intent (place, confirm, deposit) committed
    "intent_signed",  # raw tx committed, not broadcast
    "intent_mined",  # receipt recorded, order state not yet reconciled
    "order_state",  # order moved to open / settled
    "loop_visit",  # goods in the machine, door not yet closed
    "restock_recorded",  # recount committed, delivery not matched to orders yet
    "delivery_matched",  # confirm intent committed, not signed
    "loop_item_dropped",  # sale PENDING, item fell, not yet COMPLETED
)
# Where a kill lands somewhere after a marker, after a random delay.
KILL_AFTER = (
    ("loop_plan", 1.5),  # inside the HTTP negotiation with the suppliers
    ("intent_signed", 0.02),  # around the broadcast and the receipt
    ("loop_item_dropped", 0.02),  # around the sale's completion
    ("loop_visit", 0.05),  # around the recount and the confirm intent
)


def kill_plan(rng: random.Random) -> list[Kill]:
    kills: list[Kill] = []
    while len(kills) < KILLS:
        for event in rng.sample(HOLD_AT, len(HOLD_AT)):
            kills.append(Kill(event, 1, None))
        event, longest = rng.choice(KILL_AFTER)
        kills.append(Kill(event, 1, rng.uniform(0, longest)))
    return kills[:KILLS]


@pytest.mark.slow
@pytest.mark.anvil
def test_fifty_sigkills_across_order_lifecycles(anvil_url: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    database, world_file, config_file = (
        tmp_path / "machine.db",
        tmp_path / "world.json",
        tmp_path / "loop.json",
    )
    log = tmp_path / "agent.log"
    context = fork_server()
    with chain_world(anvil_url, tmp_path, seed=SEED) as world:
        world.config.save(config_file)
        nonce_before = int(world.chain.w3.eth.get_transaction_count(world.chain.agent.address))
        base = [str(config_file), str(database), str(world_file), anvil_url]
        far = (START + timedelta(days=60)).isoformat()
        lines: list[str] = []
        killed_at: list[Kill] = []
        for kill in kill_plan(rng):
            hold = [] if kill.delay_s is not None else ["--hold", f"{kill.event}:{kill.occurrence}"]
            run = Harness(context, [*base, "--until", far, *hold], log)
            assert run.wait_for(kill), f"the world ran out before {kill}"
            run.sigkill()
            lines += run.seen
            killed_at.append(kill)
        # The last restart runs two more simulated days undisturbed.
        resumed = WorldState.load(world_file).clock
        final = Harness(context, [*base, "--until", (resumed + timedelta(days=2)).isoformat()], log)
        final.finish()
        lines += final.seen

        assert len(killed_at) == KILLS
        assert {k.event for k in killed_at if k.delay_s is None} == set(HOLD_AT)
        ledger = read_ledger(database)
        world_state = WorldState.load(world_file)
        check_sales(ledger, acknowledged_sales(lines))
        check_orders(world, ledger, world_state.delivered)
        check_transactions(world, ledger, nonce_before)
        # The kills did hit live orders: several were placed, delivered and paid.
        assert sum(1 for line in lines if line.startswith("MARK order_negotiated")) >= 5
        assert len(world_state.delivered) >= 5
