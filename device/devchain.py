"""A complete chain world for the demo, the simulation and the tests.

One node (eth-tester in-process, or any JSON-RPC node such as anvil) with a
MockUSDC, a deployed ProfitCenter and funded keys for the governor and the agent.
Block time can be moved forward so the chain follows simulated time.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import DEFAULT_POLICY, deploy_profit_center
from contracts.profit_center import Policy, ProfitCenter

GAS_FUNDING = 10**20  # 100 ether of test gas money per key


class DevChain:
    """Token + ProfitCenter + governor and agent keys on one node."""

    def __init__(self, w3: Web3, policy: Policy = DEFAULT_POLICY) -> None:
        self.w3 = w3
        self._banker = str(w3.eth.accounts[0])  # a node-unlocked, prefunded account
        self.governor: LocalAccount = Account.create()
        self.agent: LocalAccount = Account.create()
        for account in (self.governor, self.agent):
            self.fund(account.address)
        deployment = deploy_profit_center(
            w3,
            deployer=self.governor,
            governor=self.governor.address,
            agent=self.agent.address,
            policy=policy,
        )
        self.pc = ProfitCenter(w3, deployment.profit_center)
        self.token: Any = w3.eth.contract(
            address=to_checksum_address(deployment.token), abi=load_artifact("MockUSDC").abi
        )
        self.chain_id = int(w3.eth.chain_id)

    @classmethod
    def in_process(cls, policy: Policy = DEFAULT_POLICY) -> DevChain:
        return cls(Web3(EthereumTesterProvider()), policy)

    @property
    def token_address(self) -> str:
        return str(self.token.address)

    def fund(self, address: str) -> None:
        """Give ``address`` ether for gas."""
        tx_hash = self.w3.eth.send_transaction(
            {"from": self._banker, "to": address, "value": GAS_FUNDING}  # type: ignore[typeddict-item]
        )
        self.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.02)

    def mint(self, to: str, amount: int) -> None:
        """MockUSDC only: create ``amount`` base units for ``to``."""
        send(self.w3, self.token.functions.mint(to, amount), self.governor)

    def balance(self, who: str) -> int:
        return int(self.token.functions.balanceOf(who).call())

    def allow_supplier(self, address: str) -> None:
        self.pc.set_supplier(address, True, sender=self.governor)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def set_time(self, timestamp: int) -> None:
        """Mine a block at ``timestamp`` if that is later than the chain's time."""
        if timestamp <= self.now():
            return
        provider = self.w3.provider
        if isinstance(provider, EthereumTesterProvider):
            tester: Any = provider.ethereum_tester
            tester.time_travel(timestamp)
            tester.mine_blocks(1)
        else:
            provider.make_request("evm_setNextBlockTimestamp", [timestamp])  # type: ignore[arg-type]
            provider.make_request("evm_mine", [])  # type: ignore[arg-type]
