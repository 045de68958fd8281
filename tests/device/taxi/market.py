"""A taxi's upkeep market for tests: a ProfitCenter on eth-tester (or anvil), the taxi's
Procurement on a real SQLite file, and reference-supplier sellers over real HTTP on
127.0.0.1 (charging stations, cleaners, workshops), each registered on-chain."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlmodel import select
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import deploy_profit_center
from contracts.profit_center import Autonomy, Policy, ProfitCenter
from device.negotiation import Buyer, HttpLimits, SupplierRef
from device.procurement.cycle import ChainContext, Procurement
from device.procurement.ledger import Ledger
from device.procurement.models import ChainIntent, OrderState
from device.procurement.outbox import Outbox
from device.settings import load_settings
from device.store.db import open_store
from device.taxi.upkeep import Provider, Upkeep, UpkeepKind, Window
from device.taxi.vehicle import (
    ChargingState,
    VehicleEcu,
    VehiclePoller,
    VehicleSnapshot,
    VehicleState,
    open_bus,
)
from supplier.app import create_app
from supplier.keys import Signer
from supplier.settings import SupplierSettings
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread

USDC = 1_000_000
DAY = 86400
POLICY = Policy(
    autonomy=Autonomy.AUTONOMOUS,
    auto_approval_threshold=100 * USDC,
    per_order_cap=100 * USDC,
    budget_per_period=300 * USDC,
    period_length=7 * DAY,
    operating_reserve=10 * USDC,
    dispute_window=DAY,
)


@dataclass(frozen=True)
class Seller:
    """One seller to serve: what it sells and how it is configured."""

    kind: UpkeepKind
    site: str
    product: str
    settings: SupplierSettings


@dataclass
class Market:
    w3: Web3
    pc: ProfitCenter
    usdc: object
    governor: str
    agent: LocalAccount
    chain: ChainContext
    procurement: Procurement
    upkeep: Upkeep
    ledger: Ledger
    providers: list[Provider]
    keys: dict[str, LocalAccount]
    window: Window

    def balance(self, who: str) -> int:
        return int(self.usdc.functions.balanceOf(who).call())  # type: ignore[attr-defined]

    def confirm_intents(self) -> list[ChainIntent]:
        with self.procurement.store.read() as session:
            return list(
                session.exec(
                    select(ChainIntent).where(ChainIntent.kind == "confirm_delivery")
                ).all()
            )


def placed_state(m: Market, now: datetime, within_s: float = 60) -> OrderState:
    """The first order's state once its placeOrder has been mined: on anvil under load the
    receipt can come a moment after the send, so follow the outbox (bounded) until then."""
    deadline = time.monotonic() + within_s
    m.procurement.reconcile(now)
    while (state := m.procurement.orders()[0].state) is OrderState.PLACING:
        assert time.monotonic() < deadline, f"placeOrder not mined within {within_s:.0f} s"
        time.sleep(0.2)
        m.procurement.outbox.drain(now)
        m.procurement.reconcile(now)
    return state


def deployed(w3: Web3, policy: Policy = POLICY) -> tuple[ProfitCenter, object, str, LocalAccount]:
    """A funded ProfitCenter with 200 USDC of revenue and a fresh agent key."""
    governor = str(w3.eth.accounts[0])
    agent: LocalAccount = Account.create()
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": governor, "to": agent.address, "value": 10**18})  # type: ignore[typeddict-item]
    )
    deployment = deploy_profit_center(
        w3, deployer=governor, governor=governor, agent=agent.address, policy=policy
    )
    pc = ProfitCenter(w3, deployment.profit_center)
    usdc = w3.eth.contract(address=deployment.token, abi=load_artifact("MockUSDC").abi)  # type: ignore[call-overload]
    send(w3, usdc.functions.mint(governor, 200 * USDC), governor)
    send(w3, usdc.functions.approve(pc.address, 200 * USDC), governor)
    pc.deposit_revenue(200 * USDC, sender=governor)
    return pc, usdc, governor, agent


def default_window() -> Window:
    now = int(time.time())
    return Window(now + 600, now + 3 * 3600)


@contextmanager
def market(
    tmp_path: Path,
    sellers_of: Callable[[ChainContext, Window], Sequence[Seller]],
    *,
    w3: Web3 | None = None,
    policy: Policy = POLICY,
) -> Iterator[Market]:
    """eth-tester unless ``w3`` is given (anvil); ``sellers_of(chain, window)`` gives the
    sellers to serve over HTTP and register on-chain."""
    w3 = w3 or Web3(EthereumTesterProvider())
    pc, usdc, governor, agent = deployed(w3, policy)
    chain = ChainContext(int(w3.eth.chain_id), pc.address, str(usdc.address))  # type: ignore[attr-defined]
    window = default_window()
    store = open_store(tmp_path / "taxi.db")
    buyer = Buyer(limits=HttpLimits(connect_timeout_s=2, read_timeout_s=4, request_timeout_s=5))
    procurement = Procurement(
        load_settings(), store, Outbox(store, w3, pc, agent), pc, chain, buyer
    )
    keys: dict[str, LocalAccount] = {}
    providers: list[Provider] = []
    sellers = sellers_of(chain, window)
    with ExitStack() as stack:
        for seller in sellers:
            key: LocalAccount = Account.create()
            w3.eth.wait_for_transaction_receipt(
                w3.eth.send_transaction({"from": governor, "to": key.address, "value": 10**17})  # type: ignore[typeddict-item]
            )
            name = seller.settings.name
            keys[name] = key
            sstore = SupplierStore(seller.settings.database)
            stack.callback(sstore.close)
            url = stack.enter_context(
                serve_in_thread(create_app(seller.settings, Signer.from_key(key.key), sstore))
            )
            pc.set_supplier(key.address, True, sender=governor)
            ref = SupplierRef(name=name, base_url=url, signing_address=key.address)
            providers.append(Provider(seller.kind, seller.site, seller.product, ref))
        yield Market(
            w3,
            pc,
            usdc,
            governor,
            agent,
            chain,
            procurement,
            Upkeep(procurement, buyer, chain),
            Ledger(store, [], pc, agent.address),
            providers,
            keys,
            window,
        )
    store.engine.dispose()


def readings(channel: str, states: Sequence[VehicleState]) -> list[VehicleSnapshot]:
    """What the taxi's poller reads off a virtual CAN bus for each state the car sends,
    an hour apart."""
    start = datetime.now(UTC)
    out = []
    car_bus = open_bus(channel=channel)
    with VehiclePoller(open_bus(channel=channel), None) as poller:
        ecu = VehicleEcu(car_bus)
        for i, state in enumerate(states):
            ecu.send(state)
            out.append(poller.poll(start + timedelta(seconds=3600 * i)))
    car_bus.shutdown()
    return out


def car(soc: int = 150, charged_wh: int = 1_000, **kwargs: object) -> VehicleState:
    """A parked car's CAN state: ``soc`` in permille, counters as given."""
    base: dict[str, object] = {
        "soc_permille": soc,
        "charging": ChargingState.IDLE,
        "energy_charged_wh": charged_wh,
        "energy_used_wh": 50_000,
        "odometer_m": 1_000_000,
    }
    base.update(kwargs)
    return VehicleState(**base)  # type: ignore[arg-type]
