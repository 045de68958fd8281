"""A real ProfitCenter on an in-process eth-tester chain, with the calls the tests need."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import Wei

from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import DEFAULT_POLICY, deploy_profit_center
from contracts.profit_center import OrderStatus, Policy, ProfitCenter
from contracts.quote import ItemLine, Quote, items_hash, sign_quote

USDC = 10**6
# Every order waits for the owners; room for the test orders below.
POLICY = Policy(
    autonomy=DEFAULT_POLICY.autonomy,
    auto_approval_threshold=0,
    per_order_cap=1_000 * USDC,
    budget_per_period=5_000 * USDC,
    period_length=7 * 86_400,
    operating_reserve=50 * USDC,
    dispute_window=2 * 86_400,
)


@dataclass
class Chain:
    """MockUSDC + ProfitCenter deployed; the governor, agent and supplier are local keys."""

    w3: Any
    usdc: Any
    pc: ProfitCenter
    governor: LocalAccount
    agent: LocalAccount
    supplier: LocalAccount
    nonce: int = 0
    placed: list[str] = field(default_factory=list)

    def deposit_revenue(self, amount: int) -> None:
        """The machine's revenue enters the treasury (minted to the agent, then deposited)."""
        send(self.w3, self.usdc.functions.mint(self.agent.address, amount), self.agent)
        send(self.w3, self.usdc.functions.approve(self.pc.address, amount), self.agent)
        self.pc.deposit_revenue(amount, sender=self.agent)

    def place_order(self, amount: int) -> str:
        """The agent places a quote the supplier signed; under ``bound`` it awaits approval."""
        self.nonce += 1
        quote = Quote(
            supplier=self.supplier.address,
            buyer=self.pc.address,
            token=self.usdc.address,
            amount=amount,
            items_hash=items_hash([ItemLine("05449000000996", 12, amount // 12)]),
            deliver_by=int(time.time()) + 7 * 86_400,
            expiry=int(time.time()) + 86_400,
            nonce=self.nonce,
        )
        signature = sign_quote(quote, self.w3.eth.chain_id, self.supplier.key)
        placed = self.pc.place_order(quote, signature, sender=self.agent)
        order_id = "0x" + placed.order_id.hex()
        self.placed.append(order_id)
        return order_id

    def state(self, order_id: str) -> OrderStatus:
        return self.pc.order(bytes.fromhex(order_id[2:])).status

    def treasury(self) -> int:
        return self.pc.books().treasury


def deploy_chain() -> Chain:
    w3 = Web3(EthereumTesterProvider())
    funder = w3.eth.accounts[0]
    governor, agent, supplier = (Account.create() for _ in range(3))
    for account in (governor, agent, supplier):
        w3.eth.send_transaction({"from": funder, "to": account.address, "value": Wei(10**20)})
    deployment = deploy_profit_center(
        w3, deployer=funder, governor=governor.address, agent=agent.address, policy=POLICY
    )
    usdc = w3.eth.contract(
        address=to_checksum_address(deployment.token), abi=load_artifact("MockUSDC").abi
    )
    pc = ProfitCenter(w3, deployment.profit_center)
    pc.set_supplier(supplier.address, True, sender=governor)
    return Chain(w3, usdc, pc, governor, agent, supplier)
