"""The thief test: an attacker holding only the agent key, 10,000 random actions on anvil.

The owners set an autonomous policy (the thief's best case), keep depositing the
machine's revenue and lift the thief's pauses, never noticing the theft; the allowed
supplier signs any quote the thief asks for (a naive supplier, the thief's best case
again). The thief places self-signed quotes, quotes naming address(0) or another
token, replays, pays deliveries that never came, disputes, distributes, pauses at will
and lets time run over many budget periods. Whatever it does, money leaves the
treasury only to the allowed supplier (or to members, by share) and never more than
the documented bound, budget * (1 + elapsed / period) (contracts/README.md).
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts.anvil import run_anvil
from contracts.artifacts import load_artifact
from contracts.deploy import deploy_contract, deploy_profit_center
from contracts.profit_center import Autonomy, OrderPlaced, ProfitCenter
from contracts.quote import Quote, sign_quote
from tests.contracts.test_invariants import POLICY, USDC, ZERO, assert_within_refill_bound

ACTIONS = 10_000
DAY = 24 * 3600
GAS = 1_000_000
BUDGET = POLICY.budget_per_period
PERIOD = POLICY.period_length
REVENUE_PER_DAY = 100 * USDC  # more than the budget refills: the budget, not the till, binds


class Node:
    """Raw, fast access to one anvil node: unlocked accounts, automine."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def send(self, call: Any, sender: str) -> Any:
        """Mine ``call``; the receipt (status 0 when it reverted)."""
        tx = {"from": sender, "to": call.address, "data": call._encode_transaction_data()}
        tx_hash = self.w3.eth.send_transaction({**tx, "gas": GAS})  # type: ignore[typeddict-item]
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.002)

    def ok(self, call: Any, sender: str) -> bool:
        return int(self.send(call, sender)["status"]) == 1

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@pytest.mark.timeout(1800)  # long by design: bounded by its action count
def test_a_thief_with_the_agent_key_takes_at_most_the_documented_bound(
    anvil_binary: Path,
) -> None:
    with run_anvil(anvil_binary) as url:  # its own node: the test moves time by months
        run_thief(Node(Web3(Web3.HTTPProvider(url))))


def run_thief(node: Node) -> None:
    w3 = node.w3
    accounts = [str(a) for a in w3.eth.accounts]
    governor, agent, members = accounts[0], accounts[1], accounts[3:6]
    supplier: LocalAccount = Account.from_key(b"\x02" * 32)
    stranger: LocalAccount = Account.from_key(b"\x05" * 32)
    thief: LocalAccount = Account.from_key(b"\x66" * 32)
    policy = replace(POLICY, autonomy=Autonomy.AUTONOMOUS)
    deployment = deploy_profit_center(
        w3, deployer=governor, governor=governor, agent=agent, policy=policy,
        agent_valid_until=node.now() + 10 * 365 * DAY,
    )  # fmt: skip
    pc = ProfitCenter(w3, deployment.profit_center)
    fn = pc.contract.functions
    usdc = w3.eth.contract(address=deployment.token, abi=load_artifact("MockUSDC").abi)  # type: ignore[call-overload]
    other_token = deploy_contract(w3, "MockUSDC", sender=governor)
    assert node.ok(usdc.functions.mint(governor, 10**15), governor)
    assert node.ok(usdc.functions.approve(pc.address, 2**256 - 1), governor)
    assert node.ok(fn.setSupplier(supplier.address, True), governor)
    assert node.ok(fn.setMembers(members, [5, 3, 2]), governor)
    assert node.ok(fn.depositRevenue(1_000 * USDC), governor)
    chain_id = int(w3.eth.chain_id)
    start = node.now()
    deposited = 1_000 * USDC
    rng = random.Random(16)
    placed: list[bytes] = []
    commitments: list[tuple[int, int]] = []
    nonce = 0

    now = node.now()
    for step in range(ACTIONS):
        roll = rng.random()
        if step % 50 == 0:  # a block a transaction: the clock is read now and then
            now = node.now()
        if roll < 0.45:  # place an order: own key, naive supplier, wrong tokens, replays
            nonce += 1
            signer = rng.choice([thief, supplier, supplier, stranger])
            token = rng.choice([usdc.address, usdc.address, ZERO, other_token])
            use = rng.randrange(nonce) + 1 if rng.random() < 0.1 else nonce
            amount = rng.choice([1, 10 * USDC, 30 * USDC, 80 * USDC, rng.randrange(1, 90 * USDC)])
            quote = Quote(
                supplier=signer.address,
                buyer=pc.address,
                token=token,
                amount=amount,
                items_hash=b"\x00" * 32,
                deliver_by=now + rng.choice([600, DAY, 30 * DAY]),
                expiry=now + 3600,
                nonce=use,
            )
            signature = sign_quote(quote, chain_id, signer.key)
            receipt = node.send(fn.placeOrder(quote.as_tuple(), signature), agent)
            if receipt["status"] == 1:
                assert signer is supplier
                assert token == usdc.address
                event = pc.decode_logs(receipt["logs"])[0]
                assert isinstance(event, OrderPlaced)
                placed.append(event.order_id)
                when = int(w3.eth.get_block(receipt["blockNumber"])["timestamp"])
                commitments.append((when, amount))
        elif roll < 0.75 and placed:  # pay a delivery that never came, any amount
            amount = rng.choice([0, 1, 10 * USDC, 80 * USDC, 2**56])
            node.send(fn.confirmDelivery(rng.choice(placed), amount), agent)
        elif roll < 0.80 and placed:
            node.send(fn.dispute(rng.choice(placed)), agent)
        elif roll < 0.85:  # governance it does not have
            call = rng.choice(
                [
                    fn.setSupplier(thief.address, True),
                    fn.setAgent(thief.address, now + DAY),
                    fn.transferOwnership(agent),
                    fn.setPolicy(POLICY.as_tuple()),
                    fn.unpause(),
                    fn.resolveDispute(rng.choice(placed) if placed else b"\x00" * 32, 0),
                ]
            )
            assert not node.ok(call, agent)
        elif roll < 0.88:
            node.send(fn.pause(), agent)
        elif roll < 0.90:
            node.send(fn.distribute(), agent)
        else:  # a day (or less) of selling passes; owners lift a pause they see
            seconds = rng.choice([600, 3600, DAY])
            node.advance(seconds)
            now = node.now()
            revenue = REVENUE_PER_DAY * seconds // DAY
            assert node.ok(fn.depositRevenue(revenue), governor)
            deposited += revenue
            node.send(fn.unpause(), governor)

    elapsed = node.now() - start
    balance = {who: int(usdc.functions.balanceOf(who).call()) for who in (*accounts, pc.address)}
    paid = int(usdc.functions.balanceOf(supplier.address).call())
    to_members = sum(balance[m] for m in members) + pc.total_claimable()
    bound = BUDGET + elapsed * BUDGET // PERIOD + 1
    assert elapsed > 8 * PERIOD  # many budget periods went by
    for outsider in (thief.address, stranger.address, agent):
        assert int(usdc.functions.balanceOf(outsider).call()) == 0
    # Everything that left the treasury went to the allowed supplier or to the members.
    assert deposited - pc.treasury() == paid + to_members
    assert paid <= bound
    # The thief did try: it committed most of the bound (and paid part of it: a partial
    # "delivery" releases the rest of an order, never its budget).
    assert sum(amount for _, amount in commitments) > bound * 3 // 4
    assert_within_refill_bound(commitments, BUDGET, PERIOD)
