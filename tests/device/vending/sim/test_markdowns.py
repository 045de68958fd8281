"""Markdowns over simulated sales: no unit is ever sold above its list price or below
the owners' floor (nor deeper than their maximum markdown), every marked-down price
was recorded with its reason before it was charged, and customers at the same moment
pay the same price (nothing is personalised)."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from device.settings import Settings, load_settings
from device.store.db import open_store
from device.store.models import PriceChange, Sale, SaleState
from device.vending.sim.compare import run_policy
from device.vending.sim.scenarios import SCENARIOS

DAYS = 8


def with_pricing(markdowns: bool, max_pct: int = 40, floor_pct: int = 50) -> Settings:
    base = load_settings(None)
    pricing = base.pricing.model_copy(
        update={"markdowns": markdowns, "max_markdown_pct": max_pct, "floor_pct": floor_pct}
    )
    return base.model_copy(update={"pricing": pricing})


def sales_and_changes(
    machine: Settings, scenario: str, seed: int
) -> tuple[Settings, list[Sale], list[PriceChange]]:
    """Run the agent for ``DAYS``; its store's completed sales and price changes."""
    with tempfile.TemporaryDirectory(prefix="custobot-md-") as scratch:
        db = Path(scratch) / "agent.db"
        run_policy(machine, scenario, "agent", days=DAYS, seed=seed, database=db)
        store = open_store(db)
        try:
            with store.read() as session:
                sales = list(session.exec(select(Sale).where(Sale.state == SaleState.COMPLETED)))
                changes = list(session.exec(select(PriceChange)))
        finally:
            store.close()
    return SCENARIOS[scenario].machine(machine), sales, changes


def check_fair(machine: Settings, sales: list[Sale], changes: list[PriceChange]) -> int:
    """Assert the bounds and fairness; return the units sold below list."""
    pricing = machine.pricing
    at_moment: dict[tuple[int, object], set[int]] = defaultdict(set)
    for sale in sales:
        slot = machine.slot(sale.slot_id)
        lowest = max(
            pricing.floor(slot), slot.retail_price * (100 - pricing.max_markdown_pct) // 100
        )
        assert lowest <= sale.price <= slot.retail_price, (sale, lowest)
        if sale.price < slot.retail_price:
            assert any(
                c.slot_id == sale.slot_id and c.price == sale.price and c.at <= sale.created_at
                for c in changes
            ), sale
        at_moment[(sale.slot_id, sale.created_at)].add(sale.price)
    assert all(len(prices) == 1 for prices in at_moment.values())
    return sum(1 for s in sales if s.price < machine.slot(s.slot_id).retail_price)


@settings(max_examples=3, deadline=None, derandomize=True)
@given(
    scenario=st.sampled_from(["gym", "office"]),
    seed=st.integers(min_value=1, max_value=1_000),
    max_pct=st.integers(min_value=0, max_value=90),
    floor_pct=st.integers(min_value=0, max_value=100),
)
def test_no_unit_is_sold_outside_the_owners_bounds_or_unfairly(
    scenario: str, seed: int, max_pct: int, floor_pct: int
) -> None:
    machine, sales, changes = sales_and_changes(
        with_pricing(True, max_pct, floor_pct), scenario, seed
    )
    assert sales
    check_fair(machine, sales, changes)


def test_the_gym_marks_fresh_items_down_and_sells_them() -> None:
    machine, sales, changes = sales_and_changes(with_pricing(True), "gym", 1)
    assert check_fair(machine, sales, changes) > 0
    assert all(c.reason for c in changes)
    off, sales_off, changes_off = sales_and_changes(with_pricing(False), "gym", 1)
    assert changes_off == []
    assert check_fair(off, sales_off, changes_off) == 0
