"""One machine's ProfitCenter on a test chain and one supplier's desk and watcher for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import deploy_profit_center
from contracts.profit_center import ProfitCenter
from supplier.desk import Desk
from supplier.keys import Signer
from supplier.store import SupplierStore
from supplier.watcher import Watcher
from tests.supplier.conftest import POLICY, make_config


@dataclass(frozen=True, slots=True)
class ChainWorld:
    pc: ProfitCenter
    usdc: Any  # the MockUSDC contract
    governor: str
    agent: LocalAccount  # the machine's key: it places the orders
    desk: Desk
    store: SupplierStore  # the desk's and the watcher's connection
    watcher: Watcher


def fund(w3: Web3, funder: str, account: str) -> None:
    """Give ``account`` ether for gas."""
    tx_hash = w3.eth.send_transaction({"from": funder, "to": account, "value": 10**20})  # type: ignore[typeddict-item]
    w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.02)


def build_chain_world(
    w3: Web3, tmp_path: Path, supplier: LocalAccount, treasury: int
) -> ChainWorld:
    """A ProfitCenter under ``POLICY`` with ``treasury`` USDC deposited as revenue and
    ``supplier`` allowed; a new agent key; the supplier's desk (fixed prices, this
    chain's token) and watcher, sharing one store in ``tmp_path``.

    The chain's first account governs; the agent and the supplier get ether for gas.
    """
    governor = str(w3.eth.accounts[0])
    agent: LocalAccount = Account.create()
    for account in (agent, supplier):
        fund(w3, governor, account.address)
    deployment = deploy_profit_center(
        w3, deployer=governor, governor=governor, agent=agent.address, policy=POLICY
    )
    pc = ProfitCenter(w3, deployment.profit_center)
    usdc = w3.eth.contract(address=deployment.token, abi=load_artifact("MockUSDC").abi)  # type: ignore[call-overload]
    pc.set_supplier(supplier.address, True, sender=governor)
    send(w3, usdc.functions.mint(governor, treasury), governor)
    send(w3, usdc.functions.approve(pc.address, treasury), governor)
    pc.deposit_revenue(treasury, sender=governor)
    config = make_config(
        tmp_path,
        tokens=[{"chain_id": int(w3.eth.chain_id), "address": deployment.token}],
        strategy={"kind": "fixed"},
    )
    store = SupplierStore(config.database)
    desk = Desk(config, Signer(supplier), store)
    watcher = Watcher(w3, store, supplier, [pc.address])
    return ChainWorld(pc, usdc, governor, agent, desk, store, watcher)
