"""The RPC node is unreachable for a while mid-order: vending goes on, the outbox drains after.

The machine reaches anvil through a real TCP relay that the test cuts and
restores; the world (chain time, the suppliers' vans) keeps its own direct link.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from web3 import Web3

from contracts.chain import send
from contracts.profit_center import ProfitCenter, RevenueDeposited
from device.demo_shell import DEMO_POLICY
from device.devchain import DevChain
from device.procurement.models import IntentState, OrderState
from device.procurement.outbox import Outbox
from device.store.db import open_store
from device.vending.demo import USDC
from tests.device.loop.agent_proc import LoopMachine
from tests.device.loop.checks import check_orders, check_sales, check_transactions, read_ledger
from tests.device.loop.relay import Relay
from tests.device.loop.world import START, chain_world

OUTAGE = timedelta(hours=20)  # longer than any supplier's lead time: a van comes meanwhile
STEPS_PER_HOUR = 2
MAX_SETUP_STEPS = 200


@pytest.mark.anvil
def test_selling_through_an_rpc_outage_then_draining(anvil_url: str, tmp_path: Path) -> None:
    acks: list[int] = []

    def report(line: str) -> None:
        if line.startswith("SALE "):
            acks.append(int(line.split()[1]))

    with chain_world(anvil_url, tmp_path, seed=7) as world, Relay(anvil_url) as relay:
        agent = world.chain.agent.address
        w3 = world.chain.w3
        nonce_before = int(w3.eth.get_transaction_count(agent))
        machine = LoopMachine(
            world.config,
            tmp_path / "machine.db",
            tmp_path / "world.json",
            relay.url,
            world_rpc_url=anvil_url,
            report=report,
        )
        try:
            machine.resume()
            for _ in range(MAX_SETUP_STEPS):  # until an order is open on-chain
                machine.step()
                if any(o.state is OrderState.OPEN for o in machine.procurement.orders()):
                    break
            [open_order] = [o for o in machine.procurement.orders() if o.state is OrderState.OPEN]

            relay.cut()
            sent_before = int(w3.eth.get_transaction_count(agent))
            sold_before = len(acks)
            for _ in range(int(OUTAGE.total_seconds() // 1800)):
                machine.step()  # never raises: the chain is not in the way of selling
            ledger = read_ledger(tmp_path / "machine.db")
            waiting = [
                i for i in ledger.intents if i.state in (IntentState.PENDING, IntentState.SIGNED)
            ]
            assert int(w3.eth.get_transaction_count(agent)) == sent_before  # nothing got out
            assert len(acks) - sold_before >= 3  # customers were served all along
            check_sales(ledger, acks)
            assert open_order.order_id in machine.world.delivered  # the van came meanwhile
            # The delivered order's payment waits in the outbox, with backoff.
            assert f"confirm:{open_order.order_id}" in {i.key for i in waiting}
            assert all(
                i.attempts >= 1 and i.last_error for i in waiting if i.state is IntentState.PENDING
            )

            relay.restore()
            for _ in range(24 * STEPS_PER_HOUR):
                machine.step()
        finally:
            machine.close()
        ledger = read_ledger(tmp_path / "machine.db")
        by_key = {i.key: i for i in ledger.intents}
        for intent in waiting:  # every intent that waited went out exactly once
            assert by_key[intent.key].state in (IntentState.MINED, IntentState.DONE_ELSEWHERE)
        check_sales(ledger, acks)
        check_orders(world, ledger, machine.world.delivered)
        check_transactions(world, ledger, nonce_before)


@pytest.mark.anvil
def test_a_lost_answer_to_a_send_is_not_a_second_deposit(anvil_url: str, tmp_path: Path) -> None:
    """web3 retries ``eth_sendRawTransaction`` when the answer is lost; the node then says
    "nonce too low" about our own mined transaction, which must not be sent again."""
    w3 = Web3(Web3.HTTPProvider(anvil_url))
    chain = DevChain(w3, DEMO_POLICY)
    chain.mint(chain.agent.address, 100 * USDC)
    send(w3, chain.token.functions.approve(chain.pc.address, 2**255), chain.agent)
    first_block = int(w3.eth.block_number) + 1
    with Relay(anvil_url) as relay:
        machine_w3 = Web3(Web3.HTTPProvider(relay.url, request_kwargs={"timeout": 1.0}))
        store = open_store(tmp_path / "machine.db")
        outbox = Outbox(store, machine_w3, ProfitCenter(machine_w3, chain.pc.address), chain.agent)
        intent = outbox.enqueue(
            "deposit:2026-03-02", "deposit_revenue", {"amount": 7 * USDC}, START
        )
        nonce_before = int(w3.eth.get_transaction_count(chain.agent.address))
        relay.lose_next_answer(b"eth_sendRawTransaction")
        for _ in range(3):
            outbox.drain(START)
        stored = outbox.get(intent.key)
        store.close()
    deposits = [
        e.amount
        for e in chain.pc.events(first_block)
        if isinstance(e, RevenueDeposited) and e.sender == chain.agent.address
    ]
    assert deposits == [7 * USDC]
    assert int(w3.eth.get_transaction_count(chain.agent.address)) == nonce_before + 1
    assert stored is not None
    assert stored.state is IntentState.MINED
    assert stored.nonce == nonce_before
