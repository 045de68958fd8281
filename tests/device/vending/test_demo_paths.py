"""``custobot demo``'s world shows every path an owner meets: a waiting order, members and
a payout, a short delivery paid for what arrived, a claimed delivery that is disputed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts.profit_center import OrderStatus
from device.devchain import DevChain
from device.procurement.models import OrderState
from device.settings import load_settings
from device.vending.demo import (
    SHOWCASE_OWNERS,
    SHOWCASE_POLICY,
    SHOWCASE_SUPPLIERS,
    DemoWorld,
    showcase_start,
)
from device.vending.sim.scenarios import OFFICE_SNACKS


@pytest.mark.slow
def test_the_showcase_demo_meets_every_owner_path(tmp_path: Path) -> None:
    with DemoWorld(
        load_settings(),
        OFFICE_SNACKS,
        scratch=tmp_path,
        start=showcase_start(datetime.now(UTC)),
        seed=1,
        chain=DevChain.in_process(SHOWCASE_POLICY),
        suppliers=SHOWCASE_SUPPLIERS,
        owners=SHOWCASE_OWNERS,
    ) as world:
        procurement = world.machine.agent.procurement
        assert procurement is not None
        waited: set[str] = set()

        def watch(_now: datetime) -> None:
            waited.update(
                o.order_id for o in procurement.orders() if o.state is OrderState.AWAITING_APPROVAL
            )

        world.run(days=2.5, on_advance=watch)
        orders = {o.order_id: o for o in procurement.orders()}
        pc = world.chain.pc

        # Orders above the threshold waited for the owners, and were approved later.
        assert waited
        assert all(orders[o].amount > SHOWCASE_POLICY.auto_approval_threshold for o in waited)
        approved = [o for o in waited if orders[o].state is not OrderState.AWAITING_APPROVAL]
        assert approved

        # Three members with their shares, and a payout split by them.
        members = pc.members()
        assert sorted(members.values()) == [20, 30, 50]
        claimable = {m: pc.claimable(m) for m in members}
        assert all(amount > 0 for amount in claimable.values())

        # Corner Cash & Carry claimed its first order delivered and never came: disputed.
        corner = [o for o in orders.values() if o.supplier_name == "Corner Cash & Carry"]
        assert corner
        assert corner[0].state is OrderState.DISPUTED
        assert pc.order(bytes.fromhex(corner[0].order_id[2:])).status is OrderStatus.DISPUTED

        # A delivery that brought less than ordered: paid for what arrived, and said so.
        short = [o for o in orders.values() if o.note == "short delivery: paid for what arrived"]
        assert short
        assert all(o.paid is not None and o.paid < o.amount for o in short)


@pytest.mark.parametrize("hours", range(0, 7 * 24 + 1, 7))
def test_the_showcase_starts_on_the_coming_monday_with_an_hour_to_deploy(hours: int) -> None:
    now = datetime(2026, 12, 6, 23, 30, tzinfo=UTC) + timedelta(hours=hours, minutes=hours)
    start = showcase_start(now)
    assert (start.weekday(), start.hour, start.minute) == (0, 0, 0)
    assert now + timedelta(hours=1) <= start < now + timedelta(days=7, hours=1)
