"""The simulator's books balance: no unit appears or vanishes, no unit comes free.

Each policy runs a simulated stretch of the gym scenario (perishables, where
free goods hid) and every unit and every base unit of money is traced: what
entered the slots was sold, spoiled or is still there; what was delivered was
paid at its agreed price, or recorded as the supplier's loss.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from device.procurement.delivery import OrderLine
from device.settings import Settings, load_settings
from device.vending.sim.market import DeliveryOutcome
from device.vending.sim.policies import POLICIES, Buyer, Policy, TelemetryPolicy, World, make_policy
from device.vending.sim.scenarios import SCENARIOS

# A simulated year per policy is 5-20 s of CPU; two months of the gym keep each test
# well under the CI budget and still see dozens of salad lots expire.
DAYS = int(os.environ.get("CONSERVATION_DAYS", "60"))


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(None)


@contextmanager
def played(
    settings: Settings, tmp_path: Path, policy: str, days: float, scenario: str = "gym"
) -> Iterator[tuple[World, Policy]]:
    with World(
        settings, SCENARIOS[scenario], database=tmp_path / "sim.db", days=days, seed=1
    ) as world:
        chosen = make_policy(policy, world)
        chosen.install()
        world.run(days)
        for slot in world.settings.slots:  # the books' shelf is the physical one
            assert world.physics.stock(slot.id) == sum(lot.quantity for lot in world.lots[slot.id])
        world.finish()
        yield world, chosen


def assert_books_balance(world: World, policy: Policy) -> None:
    led = world.ledger
    made = world.made
    # Goods: every unit that entered a slot was sold, spoiled, or is on the shelf at the end.
    on_shelf = sum(lot.quantity for lots in world.lots.values() for lot in lots)
    assert led.stocked_units == sum(lot.received for lot in made)
    assert led.stocked_units == led.sold_units + led.spoiled_units + on_shelf
    assert led.sold_units == world.totals.sales
    for lot in made:
        assert lot.received == lot.sold + lot.spoiled + lot.quantity
        # No lot is free unless it is a gift the ledger records as one.
        assert lot.unit_cost > 0 or lot.gift, lot
    assert led.gift_units == sum(lot.received for lot in made if lot.gift)
    # Money: what sold and spoiled is charged at the cost of the very units that left.
    assert led.cost_of_sold == sum(lot.sold * lot.unit_cost for lot in made)
    assert led.spoiled_cost == sum(lot.spoiled * lot.unit_cost for lot in made)
    assert led.spoiled_units == sum(lot.spoiled for lot in made)
    assert led.stocked_value == sum(lot.received * lot.unit_cost for lot in made)
    # What was paid is exactly what entered the slots, plus what was delivered and did not
    # fit, at the same prices (the opening fill was bought before the run).
    assert led.purchases + led.opening_value == (
        led.stocked_value + led.returned_cost + led.rounding
    )
    assert world.profit() == (
        world.totals.revenue
        - led.cost_of_sold
        - led.spoiled_cost
        - led.returned_cost
        - led.rounding
        - led.delivery_fees
        - led.gas
    )
    if isinstance(policy, Buyer):
        # Every unit a driver brought was paid at its order's agreed unit price, or is the
        # supplier's loss (a unit the machine's count missed).
        brought = sum(
            placed.delivered.get(line.slot_id, 0) * line.unit_price
            for placed in policy.history
            for line in placed.order.lines
        )
        assert sum(placed.paid for placed in policy.history) == led.purchases
        assert led.purchases == brought - led.gift_value + led.rounding
        units = sum(sum(placed.delivered.values()) for placed in policy.history)
        opening = sum(s.capacity for s in world.settings.slots)
        assert units == led.stocked_units - opening + led.returned_units
        assert 0 <= led.rounding < sum(len(p.order.lines) for p in policy.history) * 10_000


@pytest.mark.parametrize("policy", POLICIES)
def test_every_unit_and_every_base_unit_is_accounted_for(
    settings: Settings, tmp_path: Path, policy: str
) -> None:
    with played(settings, tmp_path, policy, DAYS) as (world, chosen):
        assert world.ledger.spoiled_units > 0  # the salads did expire: the case that hid gifts
        assert world.ledger.gift_units == 0  # the simulated sensors count every delivery
        assert_books_balance(world, chosen)


def test_a_delivery_that_replaces_expired_units_is_paid_in_full(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expired salads out, as many fresh ones in: the count is flat, yet every unit is paid."""
    with World(settings, SCENARIOS["gym"], database=tmp_path / "sim.db", days=10, seed=1) as world:
        buyer = TelemetryPolicy(world)  # never installed: this test places the one order
        salad = next(s for s in world.settings.slots if s.shelf_life_days == 2)
        world.run(2.5)  # the opening salads expired at day 2; some are still in the slot
        expired = world.physics.stock(salad.id)
        assert expired > 0
        price = world.market.list_prices["cashcarry"][salad.gtin]
        monkeypatch.setattr(world.market, "outcome", lambda _name: DeliveryOutcome(1.0, 1.0))
        now = world.driver.now()
        line = OrderLine(salad.gtin, salad.id, expired, price)
        buyer.place(now, "cashcarry", (line,), expired * price, now + timedelta(hours=2))
        world.run(3.0)
        assert world.physics.stock(salad.id) <= expired  # the count did not go up
        assert buyer.open == {}
        assert world.ledger.purchases == expired * price
        fresh = [lot for lot in world.lots[salad.id] if lot.expires and lot.expires > now]
        assert fresh
        assert all(lot.unit_cost == price for lot in fresh)
        world.finish()
        assert_books_balance(world, buyer)


def test_units_that_do_not_fit_are_paid_and_written_off(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contract: the buyer pays for all it ordered and was delivered; no room is its loss."""
    with World(
        settings, SCENARIOS["office"], database=tmp_path / "sim.db", days=3, seed=1
    ) as world:
        buyer = TelemetryPolicy(world)
        world.run(0.5)
        slot = world.settings.slots[1]
        room = slot.capacity - world.physics.stock(slot.id)
        price = world.market.list_prices["cashcarry"][slot.gtin]
        monkeypatch.setattr(world.market, "outcome", lambda _name: DeliveryOutcome(1.0, 1.0))
        now = world.driver.now()
        quantity = room + 5
        line = OrderLine(slot.gtin, slot.id, quantity, price)
        buyer.place(now, "cashcarry", (line,), quantity * price, now + timedelta(hours=2))
        world.run(0.6)
        delivered = world.lots[slot.id][-1].received
        assert world.ledger.returned_units == quantity - delivered >= 5  # customers made room
        assert world.ledger.purchases == quantity * price
        assert world.ledger.returned_cost == world.ledger.returned_units * price
        world.finish()
        assert_books_balance(world, buyer)
