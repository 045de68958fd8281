"""A supplier that claims delivery but never comes is disputed before it can collect."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.profit_center import OrderStatus
from device.procurement.models import OrderState
from device.settings import load_settings
from device.vending.demo import DemoSupplier, DemoWorld
from device.vending.sim.scenarios import OFFICE_SNACKS
from tests.clock import midnight_ahead

CHEAT = DemoSupplier(
    "Phantom Foods", {"kind": "fixed"}, 6, list_share=0.40, floor_share=0.30, honest=False
)


@pytest.mark.slow
def test_claimed_but_missing_delivery_is_disputed_and_never_paid(tmp_path: Path) -> None:
    start = midnight_ahead()
    with DemoWorld(
        load_settings(), OFFICE_SNACKS, scratch=tmp_path, start=start, seed=2, suppliers=[CHEAT]
    ) as world:
        supplier = world.watchers["Phantom Foods"].supplier
        before = world.chain.balance(supplier)
        world.run(days=2)
        procurement = world.machine.agent.procurement
        assert procurement is not None
        orders = procurement.orders()
        assert orders
        disputed = [o for o in orders if o.state is OrderState.DISPUTED]
        assert disputed
        for order in disputed:
            on_chain = world.chain.pc.order(bytes.fromhex(order.order_id[2:]))
            assert on_chain.status is OrderStatus.DISPUTED
        assert not [o for o in orders if o.state is OrderState.SETTLED]
        assert world.chain.balance(supplier) == before  # the cheat collected nothing
