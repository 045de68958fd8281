"""A demo machine under a chosen autonomy policy: real Restocking, outbox, HTTP suppliers.

``DemoWorld`` with two reference suppliers served on 127.0.0.1, one selling the
drinks, the other the snacks. With seed 3 from a Monday midnight the first daily plan buys
from both: a small drinks order (about 17 USDC, Corner Cash & Carry) and a larger
snacks order (about 58 USDC, Acme Wholesale), so a threshold of 20 USDC or a
budget of 30 USDC splits them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from contracts.profit_center import Autonomy, Policy
from device.demo_shell import DEMO_POLICY
from device.devchain import DevChain
from device.settings import Settings, load_settings
from device.vending.demo import DEMO_SUPPLIERS, DemoWorld
from device.vending.restock import Restocking
from device.vending.sim.scenarios import OFFICE_SNACKS
from tests.clock import midnight_ahead

FIRST_PLAN = 1.05  # days: the first daily plan has run and its orders are on-chain
SEED = 3


def demo_policy(autonomy: Autonomy, **changes: int) -> Policy:
    return replace(DEMO_POLICY, autonomy=autonomy, **changes)


def demo_world(
    scratch: Path,
    chain: DevChain,
    settings: Settings | None = None,
    start: datetime | None = None,
) -> DemoWorld:
    """Two specialised suppliers, hourly polls (fewer blocks than the demo's 15 minutes),
    one plan a day (the orders these tests follow come from the first)."""
    base = settings or load_settings()
    settings = base.model_copy(
        update={"agent": base.agent.model_copy(update={"plan_interval_h": 24.0})}
    )
    drinks = frozenset(s.gtin for s in settings.slots if s.id in (1, 2))
    snacks = frozenset(s.gtin for s in settings.slots) - drinks
    return DemoWorld(
        settings,
        OFFICE_SNACKS,
        scratch=scratch,
        start=start or midnight_ahead(weekday=0),
        seed=SEED,
        chain=chain,
        suppliers=[
            replace(DEMO_SUPPLIERS[0], gtins=snacks),
            replace(DEMO_SUPPLIERS[1], gtins=drinks),
        ],
        poll_every=timedelta(hours=1),
    )


def procurement_of(world: DemoWorld) -> Restocking:
    procurement = world.machine.agent.procurement
    assert procurement is not None
    return procurement
