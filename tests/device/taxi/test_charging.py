"""Acceptance: the taxi buys its charging from two reference-supplier stations over
real HTTP, places the won quote on eth-tester through the vending core's outbox, and
pays for what its CAN energy counter saw: in full once, pro rata, or disputed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlmodel import select
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts.anvil import run_anvil
from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import deploy_profit_center
from contracts.profit_center import Autonomy, OrderStatus, Policy, ProfitCenter
from device.negotiation import Buyer, HttpLimits, SupplierRef
from device.procurement.cycle import ChainContext, Procurement
from device.procurement.ledger import Ledger
from device.procurement.models import ChainIntent, OrderState, PurchaseOrder
from device.procurement.outbox import Outbox
from device.settings import load_settings
from device.store.db import open_store
from device.taxi.charging import (
    ChargeNeed,
    Charging,
    Station,
    TimeOfUse,
    Window,
    WrongChargeQuoteError,
    charge_need,
    station_settings,
)
from device.taxi.vehicle import ChargingState, VehicleEcu, VehiclePoller, VehicleState, open_bus
from supplier.app import create_app
from supplier.keys import Signer
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread

USDC = 1_000_000
DAY = 86400
SITE, OTHER_SITE = "depot-north", "mall-south"
PRODUCT, OTHER_PRODUCT = "20000000000011", "20000000000028"
CAPACITY_WH = 60_000
TARIFF = TimeOfUse(per_kwh=(400_000,) * 24)  # 0.40 USDC per kWh, flat for the test
POLICY = Policy(
    autonomy=Autonomy.AUTONOMOUS,
    auto_approval_threshold=100 * USDC,
    per_order_cap=100 * USDC,
    budget_per_period=300 * USDC,
    period_length=7 * DAY,
    operating_reserve=10 * USDC,
    dispute_window=DAY,
)


@dataclass
class World:
    w3: Web3
    pc: ProfitCenter
    usdc: object
    agent: LocalAccount
    procurement: Procurement
    charging: Charging
    ledger: Ledger
    stations: list[Station]
    keys: dict[str, LocalAccount]
    window: Window

    def balance(self, who: str) -> int:
        return int(self.usdc.functions.balanceOf(who).call())  # type: ignore[attr-defined]


@contextmanager
def world(tmp_path: Path, w3: Web3 | None = None) -> Iterator[World]:
    """eth-tester unless ``w3`` is given (anvil): deployed, funded, two stations serving."""
    w3 = w3 or Web3(EthereumTesterProvider())
    governor = str(w3.eth.accounts[0])
    agent: LocalAccount = Account.create()
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": governor, "to": agent.address, "value": 10**18})  # type: ignore[typeddict-item]
    )
    deployment = deploy_profit_center(
        w3, deployer=governor, governor=governor, agent=agent.address, policy=POLICY
    )
    pc = ProfitCenter(w3, deployment.profit_center)
    usdc = w3.eth.contract(address=deployment.token, abi=load_artifact("MockUSDC").abi)  # type: ignore[call-overload]
    send(w3, usdc.functions.mint(governor, 200 * USDC), governor)
    send(w3, usdc.functions.approve(pc.address, 200 * USDC), governor)
    pc.deposit_revenue(200 * USDC, sender=governor)
    chain = ChainContext(int(w3.eth.chain_id), pc.address, deployment.token)
    now = int(time.time())
    window = Window(now + 600, now + 3 * 3600)
    store = open_store(tmp_path / "taxi.db")
    buyer = Buyer(limits=HttpLimits(connect_timeout_s=2, read_timeout_s=4, request_timeout_s=5))
    procurement = Procurement(
        load_settings(), store, Outbox(store, w3, pc, agent), pc, chain, buyer, []
    )
    keys: dict[str, LocalAccount] = {}
    stations: list[Station] = []
    with ExitStack() as stack:
        for name, prices, strategy in (
            ("volta", (450_000, 300_000), {"kind": "boulware", "beta": 0.3}),
            ("ampere", (480_000, 320_000), {"kind": "conceder", "beta": 3.0}),
        ):
            config = station_settings(
                name,
                site=SITE,
                product=PRODUCT,
                window=window,
                price_per_kwh=prices,
                capacity_wh=200_000,
                chain_id=chain.chain_id,
                token=chain.token,
                folder=tmp_path,
                strategy=strategy,
            )
            key: LocalAccount = Account.create()
            w3.eth.wait_for_transaction_receipt(
                w3.eth.send_transaction({"from": governor, "to": key.address, "value": 10**17})  # type: ignore[typeddict-item]
            )
            keys[name] = key
            sstore = SupplierStore(config.database)
            stack.callback(sstore.close)
            url = stack.enter_context(
                serve_in_thread(create_app(config, Signer.from_key(key.key), sstore))
            )
            pc.set_supplier(key.address, True, sender=governor)
            stations.append(
                Station(
                    SITE, PRODUCT, SupplierRef(name=name, base_url=url, signing_address=key.address)
                )
            )
        yield World(
            w3,
            pc,
            usdc,
            agent,
            procurement,
            Charging(procurement, buyer, chain),
            Ledger(store, [], pc, agent.address),
            stations,
            keys,
            window,
        )
    store.engine.dispose()


def low_battery_need(tmp_path: Path, w: World) -> ChargeNeed:
    """The taxi reads a low battery off the virtual CAN bus and forms its need."""
    channel = f"charging-{tmp_path.name}"
    with VehiclePoller(open_bus(channel=channel), None) as poller:
        ecu = VehicleEcu(open_bus(channel=channel))
        ecu.send(VehicleState(150, ChargingState.IDLE, 1_000, 50_000, 1_000_000))
        snapshot = poller.poll(datetime.now(UTC))
    need = charge_need(
        snapshot,
        below_permille=200,
        target_permille=800,
        capacity_wh=CAPACITY_WH,
        station=w.stations[0],
        window=w.window,
        tariff=TARIFF,
    )
    assert need is not None
    return need


def counted(tmp_path: Path, charged_wh: int) -> tuple[int, int]:
    """The energy counter before and after the charge, as the poller reads it off the bus."""
    channel = f"counter-{tmp_path.name}"
    start = datetime.now(UTC)
    seen = []
    with VehiclePoller(open_bus(channel=channel), None) as poller:
        ecu = VehicleEcu(open_bus(channel=channel))
        for i, wh in enumerate((1_000, 1_000 + charged_wh)):
            ecu.send(VehicleState(150, ChargingState.CHARGING, wh, 50_000, 1_000_000))
            snap = poller.poll(start + timedelta(seconds=3600 * i))
            assert snap.healthy("energy")
            assert snap.energy_charged_wh is not None
            seen.append(snap.energy_charged_wh)
    return seen[0], seen[1]


def placed(w: World, need: ChargeNeed) -> PurchaseOrder:
    now = datetime.now(UTC)
    result = w.charging.negotiate(need, w.stations)
    assert result.offer is not None, result.transcript.decision.summary
    offered = {e.supplier for e in result.transcript.events}
    assert offered == {"volta", "ampere"}  # both stations were asked, in parallel
    order = w.charging.place(now, need, result)
    assert order is not None
    w.procurement.reconcile(now)
    assert w.procurement.orders()[0].state is OrderState.OPEN
    return order


def confirm_intents(w: World) -> list[ChainIntent]:
    with w.procurement.store.read() as session:
        return list(
            session.exec(select(ChainIntent).where(ChainIntent.kind == "confirm_delivery")).all()
        )


@pytest.mark.parametrize("share", [1.0, 0.5], ids=["full", "partial"])
def test_the_station_is_paid_once_for_what_the_counter_saw(tmp_path: Path, share: float) -> None:
    with world(tmp_path) as w:
        need = low_battery_need(tmp_path, w)
        assert need.wh == CAPACITY_WH * 650 // 1000
        order = placed(w, need)
        station = next(s for s in w.stations if s.ref.name == order.supplier_name)
        before = w.balance(station.ref.signing_address)
        now = datetime.now(UTC)
        start, end = counted(tmp_path, int(need.wh * share))
        match = w.charging.confirm(now, order, start, end)
        assert match is not None
        w.charging.confirm(now, order, start, end)  # a repeat pays nothing more
        w.procurement.settle(now)
        w.procurement.settle(now)

        row = w.procurement.orders()[0]
        paid = w.balance(station.ref.signing_address) - before
        assert row.state is OrderState.SETTLED
        assert len(confirm_intents(w)) == 1
        if share == 1.0:
            assert paid == order.amount
        else:
            assert 0 < paid < order.amount
            assert paid == match.amount_due <= order.amount * share + 1
        assert row.paid == paid
        assert w.pc.order(bytes.fromhex(order.order_id[2:])).status is OrderStatus.SETTLED
        reconciliation = w.ledger.reconcile()
        assert reconciliation.matches, reconciliation.differences
        assert reconciliation.payments_chain == paid


def test_a_claimed_charge_never_given_is_disputed_and_unpaid(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        need = low_battery_need(tmp_path, w)
        order = placed(w, need)
        station = next(s for s in w.stations if s.ref.name == order.supplier_name)
        before = w.balance(station.ref.signing_address)
        oid = bytes.fromhex(order.order_id[2:])
        w.pc.mark_delivered(oid, sender=w.keys[order.supplier_name])
        start, end = counted(tmp_path, 0)
        later = datetime.now(UTC) + timedelta(hours=13)
        assert w.charging.confirm(later, order, start, end) is not None
        w.procurement.reconcile(later)
        w.procurement.reconcile(later)
        assert w.pc.order(oid).status is OrderStatus.DISPUTED
        assert w.procurement.orders()[0].state is OrderState.DISPUTED
        assert not confirm_intents(w)
        assert w.balance(station.ref.signing_address) == before


def test_a_quote_for_another_site_or_window_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as w:
        need = low_battery_need(tmp_path, w)
        result = w.charging.negotiate(need, w.stations)
        assert result.offer is not None
        other_site = ChargeNeed(OTHER_SITE, OTHER_PRODUCT, need.wh, need.window, need.reservation)
        other_window = ChargeNeed(
            SITE,
            PRODUCT,
            need.wh,
            Window(need.window.start, need.window.end + 3600),
            need.reservation,
        )
        with pytest.raises(WrongChargeQuoteError, match="not site mall-south's energy"):
            w.charging.place(datetime.now(UTC), other_site, result)
        with pytest.raises(WrongChargeQuoteError, match="not the window"):
            w.charging.place(datetime.now(UTC), other_window, result)
        assert w.procurement.orders() == []
        with w.procurement.store.read() as session:
            assert session.exec(select(ChainIntent)).all() == []
        assert w.pc.reserved() == 0


@pytest.mark.slow
@pytest.mark.anvil
def test_over_anvil_the_station_is_paid_once_and_the_ledger_matches(
    tmp_path: Path, anvil_binary: Path
) -> None:
    with (
        run_anvil(anvil_binary) as url,
        world(tmp_path, Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))) as w,
    ):
        need = low_battery_need(tmp_path, w)
        order = placed(w, need)
        station = next(s for s in w.stations if s.ref.name == order.supplier_name)
        before = w.balance(station.ref.signing_address)
        start, end = counted(tmp_path, need.wh)
        now = datetime.now(UTC)
        w.charging.confirm(now, order, start, end)
        w.procurement.settle(now)
        w.procurement.settle(now)
        assert w.procurement.orders()[0].state is OrderState.SETTLED
        assert w.balance(station.ref.signing_address) - before == order.amount
        assert len(confirm_intents(w)) == 1
        reconciliation = w.ledger.reconcile()
        assert reconciliation.matches, reconciliation.differences
        assert reconciliation.payments_chain == order.amount


def test_a_silent_bus_forms_no_charging_need(tmp_path: Path) -> None:
    """Nothing heard on the bus (stale battery and counter): no purchase, however low."""
    station = Station(
        SITE,
        PRODUCT,
        SupplierRef(name="s", base_url="http://127.0.0.1:1", signing_address="0x" + "11" * 20),
    )
    with VehiclePoller(open_bus(channel=f"silent-{tmp_path.name}"), None) as poller:
        snapshot = poller.poll(datetime.now(UTC))
    window = Window(0, 3600)
    assert (
        charge_need(
            snapshot,
            below_permille=200,
            target_permille=800,
            capacity_wh=CAPACITY_WH,
            station=station,
            window=window,
            tariff=TARIFF,
        )
        is None
    )
