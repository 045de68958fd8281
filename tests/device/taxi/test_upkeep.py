"""Cleaning and maintenance bought through the market like charging: reference-supplier
sellers over real HTTP, the order placed on-chain through the core's outbox, and paid
for what the vehicle's own CAN signals saw (the cabin check's cleaning counter with the
dirty flag clear; the workshop's task counter), pro rata or disputed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from web3 import Web3

from contracts.anvil import run_anvil
from contracts.profit_center import Autonomy, OrderStatus, Policy
from device.procurement.cycle import ChainContext
from device.procurement.models import OrderState, PurchaseOrder
from device.taxi.charging import cleaning_need, counter, delivered, maintenance_need
from device.taxi.upkeep import Provider, UpkeepKind, UpkeepNeed, Window, provider_settings
from device.taxi.vehicle import VehiclePoller, VehicleSnapshot, open_bus
from tests.device.taxi.market import (
    POLICY,
    USDC,
    Market,
    Seller,
    car,
    market,
    placed_state,
    readings,
)

SITE = "depot-north"
CLEANING, SERVICE = "20000000000035", "20000000000042"
EVERY_RIDES = 8


def sellers(folder: Path) -> Callable[[ChainContext, Window], Sequence[Seller]]:
    def of(chain: ChainContext, window: Window) -> Sequence[Seller]:
        offers = (
            ("sparkle", UpkeepKind.CLEANING, CLEANING, "Cabin cleaning", "cleaning", 12, 8),
            ("shine", UpkeepKind.CLEANING, CLEANING, "Cabin cleaning", "cleaning", 14, 9),
            ("wrench", UpkeepKind.MAINTENANCE, SERVICE, "Service task", "task", 30, 20),
        )
        return [
            Seller(
                kind,
                SITE,
                product,
                provider_settings(
                    name,
                    item=item,
                    product=product,
                    unit=unit,
                    price=(list_usdc * USDC, floor_usdc * USDC),
                    stock=100,
                    chain_id=chain.chain_id,
                    token=chain.token,
                    folder=folder,
                    strategy={"kind": "boulware", "beta": 0.5},
                ),
            )
            for name, kind, product, item, unit, list_usdc, floor_usdc in offers
        ]

    return of


@contextmanager
def upkeep_market(
    tmp_path: Path, w3: Web3 | None = None, policy: Policy = POLICY
) -> Iterator[Market]:
    with market(tmp_path, sellers(tmp_path), w3=w3, policy=policy) as m:
        yield m


def seller(m: Market, kind: UpkeepKind) -> Provider:
    return next(p for p in m.providers if p.kind is kind)


def cleaning(m: Market, *, rides: int, dirty: bool, channel: str) -> UpkeepNeed | None:
    (snapshot,) = readings(channel, [car(cabin_dirty=dirty)])
    return cleaning_need(
        snapshot,
        rides_since_cleaning=rides,
        every_rides=EVERY_RIDES,
        cleaner=seller(m, UpkeepKind.CLEANING),
        window=m.window,
        reservation=15 * USDC,
    )


def bought(m: Market, need: UpkeepNeed) -> PurchaseOrder:
    now = datetime.now(UTC)
    order = m.upkeep.buy(now, need, m.providers)
    assert order is not None
    assert placed_state(m, now) is OrderState.OPEN
    again = m.upkeep.buy(now, need, m.providers)  # one need, one order
    assert again is not None
    assert again.order_id == order.order_id
    return order


def seen_between(kind: UpkeepKind, start: VehicleSnapshot, end: VehicleSnapshot) -> int | None:
    baseline = counter(kind, start)
    assert baseline is not None
    return delivered(kind, baseline, end)


def paid_to(m: Market, order: PurchaseOrder) -> str:
    return next(p.ref.signing_address for p in m.providers if p.ref.name == order.supplier_name)


def test_cleaning_is_bought_after_n_rides_or_a_dirty_cabin_never_otherwise(
    tmp_path: Path,
) -> None:
    with upkeep_market(tmp_path) as m:
        name = tmp_path.name
        assert cleaning(m, rides=EVERY_RIDES - 1, dirty=False, channel=f"a-{name}") is None
        by_rides = cleaning(m, rides=EVERY_RIDES, dirty=False, channel=f"b-{name}")
        by_flag = cleaning(m, rides=0, dirty=True, channel=f"c-{name}")
        assert by_rides == by_flag
        assert by_rides is not None
        assert by_rides.kind is UpkeepKind.CLEANING
        assert by_rides.quantity == 1
        order = bought(m, by_rides)
        assert order.supplier_name in {"sparkle", "shine"}  # not the workshop
        before_cleaning, cleaned = readings(
            f"d-{name}",
            [car(cabin_dirty=True, cabin_cleanings=4), car(cabin_dirty=False, cabin_cleanings=5)],
        )
        seen = seen_between(UpkeepKind.CLEANING, before_cleaning, cleaned)
        assert seen == 1
        before = m.balance(paid_to(m, order))
        now = datetime.now(UTC)
        m.upkeep.confirm(now, order, seen)
        m.upkeep.confirm(now, order, seen)
        m.procurement.settle(now)
        m.procurement.settle(now)
        assert m.balance(paid_to(m, order)) - before == order.amount
        assert len(m.confirm_intents()) == 1
        assert m.ledger.reconcile().matches


def test_a_cleaning_claimed_but_the_cabin_still_dirty_is_disputed(tmp_path: Path) -> None:
    with upkeep_market(tmp_path) as m:
        need = cleaning(m, rides=0, dirty=True, channel=f"a-{tmp_path.name}")
        assert need is not None
        order = bought(m, need)
        oid = bytes.fromhex(order.order_id[2:])
        m.pc.mark_delivered(oid, sender=m.keys[order.supplier_name])
        # The counter moved (someone ran the check) but the cabin still says dirty.
        before_cleaning, after = readings(
            f"b-{tmp_path.name}",
            [car(cabin_dirty=True, cabin_cleanings=4), car(cabin_dirty=True, cabin_cleanings=5)],
        )
        assert seen_between(UpkeepKind.CLEANING, before_cleaning, after) == 0
        later = datetime.now(UTC) + timedelta(hours=13)
        m.upkeep.confirm(later, order, 0)
        m.procurement.reconcile(later)
        m.procurement.reconcile(later)
        assert m.pc.order(oid).status is OrderStatus.DISPUTED
        assert m.procurement.orders()[0].state is OrderState.DISPUTED
        assert not m.confirm_intents()


def test_maintenance_by_km_is_paid_pro_rata_for_the_tasks_signed_off(tmp_path: Path) -> None:
    with upkeep_market(tmp_path) as m:
        workshop = seller(m, UpkeepKind.MAINTENANCE)
        (early,) = readings(f"a-{tmp_path.name}", [car(odometer_m=14_000_000)])
        (due,) = readings(f"c-{tmp_path.name}", [car(odometer_m=15_000_000)])
        ask = partial(
            maintenance_need,
            last_service_m=0,
            every_km=15_000,
            tasks=4,
            workshop=workshop,
            window=m.window,
            reservation=120 * USDC,
        )
        assert ask(early) is None
        need = ask(due)
        assert need is not None
        order = bought(m, need)
        assert order.supplier_name == "wrench"
        start, end = readings(
            f"b-{tmp_path.name}", [car(service_tasks_done=10), car(service_tasks_done=12)]
        )
        seen = seen_between(UpkeepKind.MAINTENANCE, start, end)
        assert seen == 2
        before = m.balance(paid_to(m, order))
        now = datetime.now(UTC)
        match = m.upkeep.confirm(now, order, seen)
        assert match is not None
        m.procurement.settle(now)
        paid = m.balance(paid_to(m, order)) - before
        assert paid == match.amount_due == order.amount * 2 // 4
        assert m.procurement.orders()[0].state is OrderState.SETTLED
        assert m.ledger.reconcile().matches


def test_a_stale_cabin_or_odometer_buys_nothing(tmp_path: Path) -> None:
    with upkeep_market(tmp_path) as m:
        (fresh,) = readings(f"a-{tmp_path.name}", [car(cabin_dirty=True)])
        # The bus falls silent: a minute later the same poller says every source is stale.
        with VehiclePoller(open_bus(channel=f"b-{tmp_path.name}"), None) as poller:
            silent = poller.poll(fresh.taken_at + timedelta(minutes=1))
        assert not silent.healthy("BCM_Cabin")
        for snapshot, buys in ((fresh, True), (silent, False)):
            clean = cleaning_need(
                snapshot,
                rides_since_cleaning=EVERY_RIDES * 3,
                every_rides=EVERY_RIDES,
                cleaner=seller(m, UpkeepKind.CLEANING),
                window=m.window,
                reservation=15 * USDC,
            )
            service = maintenance_need(
                snapshot,
                last_service_m=0,
                every_km=1,
                tasks=4,
                workshop=seller(m, UpkeepKind.MAINTENANCE),
                window=m.window,
                reservation=120 * USDC,
            )
            assert (clean is not None, service is not None) == (buys, buys)
        assert m.procurement.orders() == []


def test_a_bound_taxi_waits_for_the_owners_approval_before_the_cleaner_may_come(
    tmp_path: Path,
) -> None:
    """Autonomy as for vending: under a BOUND policy the order waits for the governor."""
    bound = dataclasses.replace(POLICY, autonomy=Autonomy.BOUND)
    with upkeep_market(tmp_path, policy=bound) as m:
        need = cleaning(m, rides=0, dirty=True, channel=f"a-{tmp_path.name}")
        assert need is not None
        now = datetime.now(UTC)
        order = m.upkeep.buy(now, need, m.providers)
        assert order is not None
        assert placed_state(m, now) is OrderState.AWAITING_APPROVAL
        m.pc.approve_order(bytes.fromhex(order.order_id[2:]), sender=m.governor)
        m.procurement.reconcile(now)
        assert m.procurement.orders()[0].state is OrderState.OPEN


@pytest.mark.slow
@pytest.mark.anvil
def test_over_anvil_a_cleaning_is_paid_once_and_the_ledger_matches(
    tmp_path: Path, anvil_binary: Path
) -> None:
    with (
        run_anvil(anvil_binary) as url,
        upkeep_market(tmp_path, Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))) as m,
    ):
        need = cleaning(m, rides=EVERY_RIDES, dirty=False, channel=f"a-{tmp_path.name}")
        assert need is not None
        order = bought(m, need)
        before = m.balance(paid_to(m, order))
        now = datetime.now(UTC)
        m.upkeep.confirm(now, order, 1)
        m.procurement.settle(now)
        m.procurement.settle(now)
        assert m.balance(paid_to(m, order)) - before == order.amount
        assert len(m.confirm_intents()) == 1
        reconciliation = m.ledger.reconcile()
        assert reconciliation.matches, reconciliation.differences
        assert reconciliation.payments_chain == order.amount
