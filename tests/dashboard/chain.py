"""A real ProfitCenter on an in-process eth-tester chain, with the calls the tests need."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import Wei

from contracts.artifacts import load_artifact
from contracts.quote import ItemLine, Quote, items_hash, sign_quote

USDC = 10**6
BOUND = 0


@dataclass
class Chain:
    """MockUSDC + ProfitCenter deployed; the governor, agent and supplier are local keys."""

    w3: Any
    usdc: Any
    profit_center: Any
    governor: LocalAccount
    agent: LocalAccount
    supplier: LocalAccount
    nonce: int = 0
    placed: list[str] = field(default_factory=list)

    def send(self, account: LocalAccount, call: Any) -> Any:
        tx = call.build_transaction(
            {"from": account.address, "nonce": self.w3.eth.get_transaction_count(account.address)}
        )
        signed = account.sign_transaction(tx)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            self.w3.eth.send_raw_transaction(signed.raw_transaction)
        )
        assert receipt["status"] == 1
        return receipt

    def deposit_revenue(self, amount: int) -> None:
        """The machine's revenue enters the treasury (minted to the agent, then deposited)."""
        self.send(self.agent, self.usdc.functions.mint(self.agent.address, amount))
        self.send(self.agent, self.usdc.functions.approve(self.profit_center.address, amount))
        self.send(self.agent, self.profit_center.functions.depositRevenue(amount))

    def place_order(self, amount: int) -> str:
        """The agent places a quote the supplier signed; under ``bound`` it awaits approval."""
        self.nonce += 1
        quote = Quote(
            supplier=self.supplier.address,
            buyer=self.profit_center.address,
            token=self.usdc.address,
            amount=amount,
            items_hash=items_hash([ItemLine("05449000000996", 12, amount // 12)]),
            deliver_by=int(time.time()) + 7 * 86_400,
            expiry=int(time.time()) + 86_400,
            nonce=self.nonce,
        )
        signature = sign_quote(quote, self.w3.eth.chain_id, self.supplier.key)
        self.send(self.agent, self.profit_center.functions.placeOrder(quote.as_tuple(), signature))
        order_id = (
            "0x"
            + bytes(
                self.profit_center.functions.orderIdOf(self.supplier.address, self.nonce).call()
            ).hex()
        )
        self.placed.append(order_id)
        return order_id

    def state(self, order_id: str) -> int:
        return int(self.profit_center.functions.orderInfo(bytes.fromhex(order_id[2:])).call()[3])

    def treasury(self) -> int:
        return int(self.profit_center.functions.currentBooks().call()[0])


def deploy_chain(*, autonomy: int = BOUND) -> Chain:
    w3 = Web3(EthereumTesterProvider())
    funder = w3.eth.accounts[0]
    accounts = [Account.create() for _ in range(3)]
    for account in accounts:
        w3.eth.send_transaction({"from": funder, "to": account.address, "value": Wei(10**20)})
    governor, agent, supplier = accounts

    def deploy(name: str, *args: Any) -> Any:
        artifact = load_artifact(name)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx_hash = factory.constructor(*args).transact({"from": funder})
        address = w3.eth.wait_for_transaction_receipt(tx_hash)["contractAddress"]
        return w3.eth.contract(address=address, abi=artifact.abi)

    usdc = deploy("MockUSDC")
    policy = (autonomy, 0, 1_000 * USDC, 5_000 * USDC, 7 * 86_400, 50 * USDC, 2 * 86_400)
    pc = deploy("ProfitCenter", governor.address, agent.address, usdc.address, policy)
    chain = Chain(w3, usdc, pc, governor, agent, supplier)
    chain.send(governor, pc.functions.setSupplier(supplier.address, True))
    return chain
