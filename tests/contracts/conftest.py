"""Chain fixtures: the same tests run on eth-tester (in-process) and on anvil (JSON-RPC).

Each backend is started once per session with the contracts deployed; every test
starts from a snapshot of that state and the chain is reverted afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts.anvil import run_anvil
from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import deploy_contract, deploy_profit_center
from contracts.errors import ContractRevertError
from contracts.profit_center import Autonomy, Policy, ProfitCenter
from contracts.quote import Quote, sign_quote

USDC = 1_000_000
DAY = 24 * 3600
TEST_POLICY = Policy(
    autonomy=Autonomy.AUTONOMOUS,
    auto_approval_threshold=20 * USDC,
    per_order_cap=100 * USDC,
    budget_per_period=300 * USDC,
    period_length=7 * DAY,
    operating_reserve=50 * USDC,
    dispute_window=DAY,
)


@contextmanager
def reverts(name: str, *args: Any) -> Iterator[None]:
    """Expect a revert with the custom error ``name`` (and, if given, exactly ``args``)."""
    with pytest.raises(ContractRevertError) as caught:
        yield
    assert caught.value.name == name, str(caught.value)
    if args:
        assert caught.value.error_args == args


class Backend:
    """What differs between chains for tests: snapshots and moving time."""

    def __init__(self, name: str, w3: Web3) -> None:
        self.name = name
        self.w3 = w3

    def snapshot(self) -> Any:
        if self.name == "eth-tester":
            return self._tester().take_snapshot()
        return self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]

    def revert(self, snapshot: Any) -> None:
        if self.name == "eth-tester":
            self._tester().revert_to_snapshot(snapshot)
        else:
            self.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Mine a block ``seconds`` after the latest one."""
        if self.name == "eth-tester":
            tester = self._tester()
            tester.time_travel(self.now() + seconds)
            tester.mine_blocks(1)
        else:
            self.w3.provider.make_request("evm_setNextBlockTimestamp", [self.now() + seconds])  # type: ignore[arg-type]
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def _tester(self) -> Any:
        provider = self.w3.provider
        assert isinstance(provider, EthereumTesterProvider)
        return provider.ethereum_tester


@dataclass
class World:
    """A deployed machine: ProfitCenter + MockUSDC, roles and a funded treasury."""

    backend: Backend
    w3: Web3
    pc: ProfitCenter
    usdc: Any
    governor: str
    agent: LocalAccount
    supplier: LocalAccount
    other_supplier: LocalAccount
    members: tuple[str, ...]
    outsider: str
    chain_id: int
    _nonce: int = 0

    def quote(
        self, amount: int = 10 * USDC, *, supplier: LocalAccount | None = None, **changes: Any
    ) -> Quote:
        """A fresh quote from ``supplier`` (default: the allowed one), deliverable in 2 days."""
        self._nonce += 1
        who = supplier or self.supplier
        now = self.backend.now()
        base = Quote(
            supplier=who.address,
            buyer=self.pc.address,
            token=self.usdc.address,
            amount=amount,
            items_hash=b"\x42" * 32,
            deliver_by=now + 2 * DAY,
            expiry=now + 3600,
            nonce=self._nonce,
        )
        return replace(base, **changes)

    def sign(
        self, quote: Quote, key: LocalAccount | None = None, chain_id: int | None = None
    ) -> bytes:
        signer = key or self.supplier
        return sign_quote(quote, chain_id or self.chain_id, signer.key)

    def balance(self, who: str) -> int:
        return int(self.usdc.functions.balanceOf(who).call())

    def mint(self, to: str, amount: int) -> None:
        send(self.w3, self.usdc.functions.mint(to, amount), self.governor)

    def deposit(self, amount: int) -> None:
        self.mint(self.governor, amount)
        send(self.w3, self.usdc.functions.approve(self.pc.address, amount), self.governor)
        self.pc.deposit_revenue(amount, sender=self.governor)


def fund(w3: Web3, funder: str, account: str) -> None:
    """Give ``account`` ether for gas."""
    tx_hash = w3.eth.send_transaction({"from": funder, "to": account, "value": 10**20})  # type: ignore[typeddict-item]
    w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.02)


def build_world(backend: Backend) -> World:
    w3 = backend.w3
    accounts = [str(a) for a in w3.eth.accounts]
    governor = accounts[0]
    agent: LocalAccount = Account.from_key(b"\x01" * 32)
    supplier: LocalAccount = Account.from_key(b"\x02" * 32)
    other_supplier: LocalAccount = Account.from_key(b"\x03" * 32)
    for account in (agent, supplier, other_supplier):
        fund(w3, governor, account.address)
    deployment = deploy_profit_center(
        w3, deployer=governor, governor=governor, agent=agent.address, policy=TEST_POLICY
    )
    pc = ProfitCenter(w3, deployment.profit_center)
    usdc = w3.eth.contract(address=deployment.token, abi=load_artifact("MockUSDC").abi)  # type: ignore[call-overload]
    pc.set_supplier(supplier.address, True, sender=governor)
    world = World(
        backend=backend,
        w3=w3,
        pc=pc,
        usdc=usdc,
        governor=governor,
        agent=agent,
        supplier=supplier,
        other_supplier=other_supplier,
        members=tuple(accounts[3:6]),
        outsider=accounts[6],
        chain_id=int(w3.eth.chain_id),
    )
    # The supplier already holds some tokens, as a real one would (it matters for gas).
    world.mint(supplier.address, 1)
    world.deposit(1_000 * USDC)
    return world


@pytest.fixture(scope="session")
def anvil_url(anvil_binary: Path) -> Iterator[str]:
    with run_anvil(anvil_binary) as url:
        yield url


def _make_backend(name: str, request: pytest.FixtureRequest) -> Backend:
    if name == "eth-tester":
        return Backend(name, Web3(EthereumTesterProvider()))
    url = request.getfixturevalue("anvil_url")
    w3 = Web3(Web3.HTTPProvider(url))
    # Every block one second after the previous one, also after a snapshot is reverted
    # (anvil's own clock otherwise stamps blocks from wall time, which a reverted
    # time-travel test leaves behind the chain).
    w3.provider.make_request("anvil_setBlockTimestampInterval", [1])  # type: ignore[arg-type]
    return Backend(name, w3)


@pytest.fixture(scope="session", params=["eth-tester", "anvil"])
def session_world(request: pytest.FixtureRequest) -> World:
    return build_world(_make_backend(request.param, request))


@pytest.fixture
def world(session_world: World) -> Iterator[World]:
    """A fresh copy of the deployed world for one test (snapshot, revert afterwards)."""
    snapshot = session_world.backend.snapshot()
    try:
        yield session_world
    finally:
        session_world.backend.revert(snapshot)


@pytest.fixture
def tester_world() -> World:
    """A world on eth-tester only (for tests that need its speed, not a second backend)."""
    return build_world(Backend("eth-tester", Web3(EthereumTesterProvider())))


DeployFn = Callable[..., str]


@pytest.fixture
def deploy(world: World) -> DeployFn:
    def _deploy(name: str, *args: Any) -> str:
        return deploy_contract(world.w3, name, *args, sender=world.governor)

    return _deploy
