"""Acceptance: the taxi buys its charging from two reference-supplier stations over
real HTTP, places the won quote on eth-tester through the vending core's outbox, and
pays for what its CAN energy counter saw: in full once, pro rata, or disputed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from web3 import Web3

from contracts.anvil import run_anvil
from contracts.profit_center import OrderStatus
from device.negotiation import SupplierRef
from device.procurement.cycle import ChainContext
from device.procurement.models import ChainIntent, OrderState, PurchaseOrder
from device.taxi.charging import TimeOfUse, charge_need, counter, delivered, station_settings
from device.taxi.upkeep import (
    Provider,
    UpkeepKind,
    UpkeepNeed,
    Window,
    WrongUpkeepQuoteError,
)
from device.taxi.vehicle import ChargingState, VehiclePoller, open_bus
from tests.device.taxi.market import Market, Seller, car, market, placed_state, readings

SITE, OTHER_SITE = "depot-north", "mall-south"
PRODUCT, OTHER_PRODUCT = "20000000000011", "20000000000028"
CAPACITY_WH = 60_000
TARIFF = TimeOfUse(per_kwh=(400_000,) * 24)  # 0.40 USDC per kWh, flat for the test


def stations(folder: Path) -> Callable[[ChainContext, Window], Sequence[Seller]]:
    def sellers(chain: ChainContext, window: Window) -> Sequence[Seller]:
        return [
            Seller(
                UpkeepKind.CHARGING,
                SITE,
                PRODUCT,
                station_settings(
                    name,
                    site=SITE,
                    product=PRODUCT,
                    window=window,
                    price_per_kwh=prices,
                    capacity_wh=200_000,
                    chain_id=chain.chain_id,
                    token=chain.token,
                    folder=folder,
                    strategy=strategy,
                ),
            )
            for name, prices, strategy in (
                ("volta", (450_000, 300_000), {"kind": "boulware", "beta": 0.3}),
                ("ampere", (480_000, 320_000), {"kind": "conceder", "beta": 3.0}),
            )
        ]

    return sellers


def low_battery_need(tmp_path: Path, m: Market) -> UpkeepNeed:
    """The taxi reads a low battery off the virtual CAN bus and forms its need."""
    (snapshot,) = readings(f"charging-{tmp_path.name}", [car(soc=150)])
    need = charge_need(
        snapshot,
        below_permille=200,
        target_permille=800,
        capacity_wh=CAPACITY_WH,
        station=m.providers[0],
        window=m.window,
        tariff=TARIFF,
    )
    assert need is not None
    return need


def counted(tmp_path: Path, charged_wh: int) -> int:
    """Wh the energy counter rose by between plug-in and unplug, as the poller reads it."""
    plugged, unplugged = readings(
        f"counter-{tmp_path.name}",
        [
            car(charging=ChargingState.CHARGING, charged_wh=1_000),
            car(charging=ChargingState.CHARGING, charged_wh=1_000 + charged_wh),
        ],
    )
    start = counter(UpkeepKind.CHARGING, plugged)
    assert start is not None
    seen = delivered(UpkeepKind.CHARGING, start, unplugged)
    assert seen is not None
    return seen


def placed(m: Market, need: UpkeepNeed) -> PurchaseOrder:
    now = datetime.now(UTC)
    result = m.upkeep.negotiate(now, need, m.providers)
    assert result is not None
    assert result.offer is not None, result.transcript.decision.summary
    offered = {e.supplier for e in result.transcript.events}
    assert offered == {"volta", "ampere"}  # both stations were asked, in parallel
    order = m.upkeep.place(now, need, result)
    assert order is not None
    assert m.upkeep.buy(now, need, m.providers) == order  # the same need: the same order
    assert placed_state(m, now) is OrderState.OPEN
    return order


def seller_of(m: Market, order: PurchaseOrder) -> str:
    return next(p.ref.signing_address for p in m.providers if p.ref.name == order.supplier_name)


@pytest.mark.parametrize("share", [1.0, 0.5], ids=["full", "partial"])
def test_the_station_is_paid_once_for_what_the_counter_saw(tmp_path: Path, share: float) -> None:
    with market(tmp_path, stations(tmp_path)) as m:
        need = low_battery_need(tmp_path, m)
        assert need.quantity == CAPACITY_WH * 650 // 1000
        order = placed(m, need)
        before = m.balance(seller_of(m, order))
        now = datetime.now(UTC)
        seen = counted(tmp_path, int(need.quantity * share))
        match = m.upkeep.confirm(now, order, seen)
        assert match is not None
        m.upkeep.confirm(now, order, seen)  # a repeat pays nothing more
        m.procurement.settle(now)
        m.procurement.settle(now)

        row = m.procurement.orders()[0]
        paid = m.balance(seller_of(m, order)) - before
        assert row.state is OrderState.SETTLED
        assert len(m.confirm_intents()) == 1
        if share == 1.0:
            assert paid == order.amount
        else:
            assert 0 < paid < order.amount
            assert paid == match.amount_due <= order.amount * share + 1
        assert row.paid == paid
        assert m.pc.order(bytes.fromhex(order.order_id[2:])).status is OrderStatus.SETTLED
        reconciliation = m.ledger.reconcile()
        assert reconciliation.matches, reconciliation.differences
        assert reconciliation.payments_chain == paid


def test_a_claimed_charge_never_given_is_disputed_and_unpaid(tmp_path: Path) -> None:
    with market(tmp_path, stations(tmp_path)) as m:
        order = placed(m, low_battery_need(tmp_path, m))
        before = m.balance(seller_of(m, order))
        oid = bytes.fromhex(order.order_id[2:])
        m.pc.mark_delivered(oid, sender=m.keys[order.supplier_name])
        later = datetime.now(UTC) + timedelta(hours=13)
        assert m.upkeep.confirm(later, order, counted(tmp_path, 0)) is not None
        m.procurement.reconcile(later)
        m.procurement.reconcile(later)
        assert m.pc.order(oid).status is OrderStatus.DISPUTED
        assert m.procurement.orders()[0].state is OrderState.DISPUTED
        assert not m.confirm_intents()
        assert m.balance(seller_of(m, order)) == before


def test_a_quote_for_another_site_or_window_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    with market(tmp_path, stations(tmp_path)) as m:
        need = low_battery_need(tmp_path, m)
        now = datetime.now(UTC)
        result = m.upkeep.negotiate(now, need, m.providers)
        assert result is not None
        assert result.offer is not None
        other_site = replace(need, site=OTHER_SITE, product=OTHER_PRODUCT)
        other_window = replace(need, window=Window(need.window.start, need.window.end + 3600))
        with pytest.raises(WrongUpkeepQuoteError, match="not site mall-south's charging"):
            m.upkeep.place(now, other_site, result)
        with pytest.raises(WrongUpkeepQuoteError, match="not the window"):
            m.upkeep.place(now, other_window, result)
        assert m.procurement.orders() == []
        with m.procurement.store.read() as session:
            assert session.exec(select(ChainIntent)).all() == []
        assert m.pc.reserved() == 0


@pytest.mark.slow
@pytest.mark.anvil
def test_over_anvil_the_station_is_paid_once_and_the_ledger_matches(
    tmp_path: Path, anvil_binary: Path
) -> None:
    with (
        run_anvil(anvil_binary) as url,
        market(
            tmp_path,
            stations(tmp_path),
            w3=Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30})),
        ) as m,
    ):
        need = low_battery_need(tmp_path, m)
        order = placed(m, need)
        before = m.balance(seller_of(m, order))
        now = datetime.now(UTC)
        m.upkeep.confirm(now, order, counted(tmp_path, need.quantity))
        m.procurement.settle(now)
        m.procurement.settle(now)
        assert m.procurement.orders()[0].state is OrderState.SETTLED
        assert m.balance(seller_of(m, order)) - before == order.amount
        assert len(m.confirm_intents()) == 1
        reconciliation = m.ledger.reconcile()
        assert reconciliation.matches, reconciliation.differences
        assert reconciliation.payments_chain == order.amount


def test_a_silent_bus_forms_no_charging_need(tmp_path: Path) -> None:
    """Nothing heard on the bus (stale battery and counter): no purchase, however low."""
    station = Provider(
        UpkeepKind.CHARGING,
        SITE,
        PRODUCT,
        SupplierRef(name="s", base_url="http://127.0.0.1:1", signing_address="0x" + "11" * 20),
    )
    with VehiclePoller(open_bus(channel=f"silent-{tmp_path.name}"), None) as poller:
        snapshot = poller.poll(datetime.now(UTC))
    need = charge_need(
        snapshot,
        below_permille=200,
        target_permille=800,
        capacity_wh=CAPACITY_WH,
        station=station,
        window=Window(0, 3600),
        tariff=TARIFF,
    )
    assert need is None
