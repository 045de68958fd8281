"""The books of a demo machine after a few days: P&L per day, margins, and the chain agrees."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from device.procurement.ledger import Ledger
from device.procurement.models import OrderState
from device.settings import load_settings
from device.store import repo
from device.vending.demo import DemoWorld
from device.vending.sim.scenarios import OFFICE_SNACKS
from tests.clock import midnight_ahead


@pytest.mark.slow
def test_books_match_the_chain_to_the_base_unit(tmp_path: Path) -> None:
    start = midnight_ahead()
    settings = load_settings()
    with DemoWorld(settings, OFFICE_SNACKS, scratch=tmp_path, start=start, seed=5) as world:
        world.run(days=3)
        procurement = world.machine.agent.procurement
        assert procurement is not None
        ledger = Ledger(
            world.machine.store, settings.slots, world.chain.pc, world.chain.agent.address
        )
        settled = [o for o in procurement.orders() if o.state is OrderState.SETTLED]
        assert settled, "three days should see at least one delivered, paid order"

        check = ledger.reconcile()
        assert check.differences == []
        assert check.payments_local == sum(o.paid or 0 for o in settled) > 0
        assert check.deposits_local == check.deposits_chain > 0

        # Every day the run touched, its last instant included (a payment can land there).
        days = ledger.daily(start.date(), (start + timedelta(days=3)).date())
        with world.machine.store.read() as session:
            revenue = repo.revenue(session, start, start + timedelta(days=3))
        assert sum(d.revenue for d in days) == revenue == world.machine.totals.revenue
        assert sum(d.cost_of_goods for d in days) == check.payments_local
        assert all(d.gas_wei > 0 for d in days if d.orders_paid)
        assert all(isinstance(d.profit, int) for d in days)

        priced = [m for m in ledger.margins(start) if m.unit_cost is not None and m.revenue]
        assert priced
        for m in priced:
            assert m.margin_ppm is not None
            assert 0 < m.margin_ppm < 1_000_000  # bought below retail, sold at retail
