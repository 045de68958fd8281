"""Markdowns on the machine: recorded with their reason, charged by the vend flow,
back to list once their units are sold, and still in force after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from device.settings import Settings, load_settings
from device.store import repo
from device.store.db import Store, open_store
from device.store.models import PaymentMethod, RecountSource
from device.vending.pricing.markdown import ASSUMED_ELASTICITY
from device.vending.pricing.reprice import Repricer, demand_at_list
from device.vending.vend import InsufficientCreditError, VendFlow
from tests.device.vending.vend.machine import T0, MockPinMachine

SANDWICH = 6  # the defaults' fresh sandwich: 3 days' shelf life, 4.50 USDC


@pytest.fixture
def settings() -> Settings:
    base = load_settings(None)
    pricing = base.pricing.model_copy(update={"markdowns": True})
    return base.model_copy(update={"pricing": pricing})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path / "machine.db")
    yield store
    store.close()


@pytest.fixture
def flow(store: Store, settings: Settings) -> Iterator[VendFlow]:
    machine = MockPinMachine(MockFactory(), settings.slots)
    yield VendFlow(store, machine, settings.slots)
    machine.close()


def slow(hours: float) -> float:
    return hours / 24  # one sandwich a day


def test_a_markdown_is_recorded_charged_and_ended_when_its_units_are_sold(
    settings: Settings, store: Store, flow: VendFlow
) -> None:
    listed = settings.slot(SANDWICH).retail_price
    with store.write() as session:
        repo.record_recount(session, SANDWICH, 4, RecountSource.OPERATOR, T0)
        repo.record_recount(session, SANDWICH, 6, RecountSource.OPERATOR, T0 + timedelta(hours=36))
    repricer = Repricer(settings, store, flow)
    now = T0 + timedelta(days=2)  # the first 4 expire in 24 h; 1 would sell at list
    (change,) = repricer.reprice(now, {SANDWICH: slow})
    assert settings.pricing.floor(settings.slot(SANDWICH)) <= change.price < listed
    assert change.units == 4
    assert "4 unit(s) expire within 24 h" in change.reason
    assert repricer.reprice(now + timedelta(minutes=5), {SANDWICH: slow}) == []  # unchanged

    # Coins: the credit check is against the marked-down price, and so is the charge.
    flow.deposit(change.price, now)
    sale = flow.vend(SANDWICH, now, PaymentMethod.COIN)
    assert sale.price == change.price
    assert flow.balance() == 0
    with pytest.raises(InsufficientCreditError):
        flow.vend(SANDWICH, now, PaymentMethod.COIN)
    repricer.sold(now, SANDWICH)

    # A restart: the markdown is still in force for the 3 units left.
    again = VendFlow(store, flow.hardware, settings.slots)
    restored = Repricer(settings, store, again)
    restored.restore()
    assert again.prices == {SANDWICH: change.price}
    assert restored.left == {SANDWICH: 3}
    for _ in range(3):
        assert again.vend(SANDWICH, now, PaymentMethod.CASHLESS).price == change.price
        restored.sold(now, SANDWICH)
    assert again.prices == {}
    assert again.vend(SANDWICH, now, PaymentMethod.CASHLESS).price == listed
    with store.read() as session:
        latest = repo.current_prices(session)[SANDWICH]
        history = repo.price_changes(session)
    assert (latest.price, latest.reason) == (listed, "list price: the marked-down units are sold")
    assert [c.price for c in history] == [listed, change.price]


def test_markdowns_off_leave_every_price_at_list(
    settings: Settings, store: Store, flow: VendFlow
) -> None:
    off = settings.model_copy(
        update={"pricing": settings.pricing.model_copy(update={"markdowns": False})}
    )
    with store.write() as session:
        repo.record_recount(session, SANDWICH, 4, RecountSource.OPERATOR, T0)
    repricer = Repricer(off, store, flow)
    assert repricer.reprice(T0 + timedelta(days=2), {SANDWICH: slow}) == []
    assert flow.prices == {}


def test_marked_down_sales_count_as_the_share_that_would_have_sold_at_list() -> None:
    """A price of r × list draws r ** -e times the demand at list (the decision's model,
    e = 1.5), so each marked-down sale is r ** 1.5 of a sale at list."""
    assert ASSUMED_ELASTICITY == 1.5
    listed = {SANDWICH: 4_500_000, 1: 2_000_000}
    at = [T0 + timedelta(minutes=i) for i in range(4)]
    sales = [
        (at[0], 1, 2_000_000),  # at list: one unit of demand
        (at[1], SANDWICH, 2_880_000),  # 64% of list: 0.512 of a unit
        (at[2], SANDWICH, 2_880_000),  # ... 1.024: one unit, at this sale
        (at[3], SANDWICH, 3_645_000),  # 81%: 0.729, carried over with the 0.024 left
    ]
    demand, carry = demand_at_list(sales, listed, 0.0)
    assert demand == [(at[0], 1), (at[2], SANDWICH)]
    assert carry == pytest.approx(0.753)
    later = T0 + timedelta(hours=1)
    more, carry = demand_at_list([(later, SANDWICH, 2_205_000)], listed, carry)  # 49%: 0.343
    assert more == [(later, SANDWICH)]
    assert carry == pytest.approx(0.096)


def test_a_restart_drops_a_markdown_the_owners_turned_off_or_whose_list_price_changed(
    settings: Settings, store: Store, flow: VendFlow
) -> None:
    """Restored only under the policy it was made under: never a markdown the owners have
    since switched off, nor one made against a list price that is no longer the slot's."""
    with store.write() as session:
        repo.record_recount(session, SANDWICH, 4, RecountSource.OPERATOR, T0)
        repo.record_recount(session, SANDWICH, 6, RecountSource.OPERATOR, T0 + timedelta(hours=36))
    (change,) = Repricer(settings, store, flow).reprice(T0 + timedelta(days=2), {SANDWICH: slow})
    assert change.price < settings.slot(SANDWICH).retail_price

    off = settings.model_copy(
        update={"pricing": settings.pricing.model_copy(update={"markdowns": False})}
    )
    after_off = VendFlow(store, flow.hardware, off.slots)
    Repricer(off, store, after_off).restore()
    assert after_off.prices == {}

    cheaper = [
        s.model_copy(update={"retail_price": change.price - 10_000}) if s.id == SANDWICH else s
        for s in settings.slots
    ]
    relisted = settings.model_copy(update={"slots": cheaper})
    after_relist = VendFlow(store, flow.hardware, relisted.slots)
    Repricer(relisted, store, after_relist).restore()
    assert after_relist.prices == {}  # the old markdown would now sell above the new list

    same = VendFlow(store, flow.hardware, settings.slots)
    Repricer(settings, store, same).restore()
    assert same.prices == {SANDWICH: change.price}
