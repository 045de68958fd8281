"""Each autonomy level, end to end: what the machine may buy alone, and what waits for owners.

The real loop (planner, negotiation over HTTP with two reference suppliers,
outbox, ProfitCenter on eth-tester) runs on simulated days; owners decide with
``device.orders_cli.decide``, the very call ``custobot orders approve|reject`` sends.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from contracts.profit_center import (
    Autonomy,
    OrderApproved,
    OrderPlaced,
    OrderRejected,
    OrderStatus,
)
from device.devchain import DevChain
from device.orders_cli import DecisionError, decide
from device.procurement.models import ChainIntent, IntentState, OrderState, PurchaseOrder
from device.store import repo
from device.vending.demo import USDC, DemoWorld
from supplier.store import OrderState as SupplierOrderState
from tests.device.autonomy.world import FIRST_PLAN, demo_policy, demo_world, procurement_of

THRESHOLD = 20 * USDC  # adaptable: orders above it wait for the governor
BUDGET = 30 * USDC  # autonomous: the small first order fits, the large one does not


def _oid(order: PurchaseOrder) -> bytes:
    return bytes.fromhex(order.order_id[2:])


def _status(chain: DevChain, order: PurchaseOrder) -> OrderStatus:
    return chain.pc.order(_oid(order)).status


def _alert_kinds(world: DemoWorld) -> list[str]:
    with world.machine.store.read() as session:
        return [a.kind for a in repo.open_alerts(session)]


def _supplier_view(world: DemoWorld, order: PurchaseOrder) -> str:
    """The order's state as its supplier's chain watcher recorded it."""
    watcher = world.watchers[order.supplier_name]
    watcher.poll_once(int(world.driver.now().timestamp()))
    seen = watcher.store.order_by_chain_id(
        world.chain.chain_id, world.chain.pc.address, order.order_id
    )
    assert seen is not None, f"{order.supplier_name} never saw order {order.order_id}"
    return seen.state


def _run_until_new_order(
    world: DemoWorld, known: set[str], days: float, above: int
) -> PurchaseOrder:
    """Run whole days until the machine places an order above ``above`` it had not placed yet."""
    procurement = procurement_of(world)
    for _ in range(4):
        days += 1
        world.run(days)
        fresh = [o for o in procurement.orders() if o.order_id not in known and o.amount > above]
        if fresh:
            return fresh[0]
    raise AssertionError(f"no new order above {above} within {days} days")


def _assert_placements_used_the_budget(chain: DevChain, first_block: int) -> None:
    """Every order counted against the budget when it was placed (waiting or not): what
    is left is at most the budget less the orders, plus what refilled since the first."""
    placed = [e for e in chain.pc.events(first_block) if isinstance(e, OrderPlaced)]
    assert placed
    policy = chain.pc.policy()
    since = chain.now() - int(chain.w3.eth.get_block(placed[0].meta.block_number)["timestamp"])
    refilled = policy.budget_per_period * since // policy.period_length + 1
    left = max(0, policy.budget_per_period - sum(e.amount for e in placed))
    assert chain.pc.budget_left() <= left + refilled


def test_bound_every_order_waits_for_the_governor(tmp_path: Path) -> None:
    chain = DevChain.in_process(demo_policy(Autonomy.BOUND))
    with demo_world(tmp_path, chain) as world:
        procurement = procurement_of(world)
        first_block = int(chain.w3.eth.block_number)
        world.run(FIRST_PLAN)
        orders = procurement.orders()
        assert len(orders) >= 2, orders
        # Nothing is bought alone: every order waits, locally, on-chain and at its supplier.
        for order in orders:
            assert order.state is OrderState.AWAITING_APPROVAL
            assert _status(chain, order) is OrderStatus.AWAITING_APPROVAL
            assert _supplier_view(world, order) == SupplierOrderState.AWAITING_APPROVAL.value
        assert chain.pc.reserved() == sum(o.amount for o in orders)
        _assert_placements_used_the_budget(chain, first_block)
        suppliers_before = {o.supplier_address: chain.balance(o.supplier_address) for o in orders}

        # Only the governor decides: the machine's own key cannot approve.
        approved, rejected = sorted(orders, key=lambda o: o.amount, reverse=True)[:2]
        with pytest.raises(DecisionError, match="not the governor"):
            decide(chain.pc, approved.order_id, chain.agent, approve=True)

        assert decide(chain.pc, approved.order_id, chain.governor, approve=True).status is (
            OrderStatus.OPEN
        )
        assert decide(chain.pc, rejected.order_id, chain.governor, approve=False).status is (
            OrderStatus.REJECTED
        )
        with pytest.raises(DecisionError, match="is rejected, not awaiting approval"):
            decide(chain.pc, rejected.order_id, chain.governor, approve=True)
        procurement.reconcile(world.driver.now())
        states = {o.order_id: o.state for o in procurement.orders()}
        assert states[approved.order_id] is OrderState.OPEN
        assert states[rejected.order_id] is OrderState.REJECTED
        assert "order_rejected" in _alert_kinds(world)
        assert chain.pc.reserved() == sum(o.amount for o in orders) - rejected.amount

        assert _supplier_view(world, approved) == SupplierOrderState.OPEN.value
        assert _supplier_view(world, rejected) == SupplierOrderState.REJECTED.value
        assert (
            chain.balance(rejected.supplier_address) == suppliers_before[rejected.supplier_address]
        )
        _assert_placements_used_the_budget(chain, first_block)  # approval changes nothing

        # Waiting for the owners does not eat the supplier's lead time: the approved
        # order is delivered after approval, counted and paid (regression: it used to
        # expire while waiting, and the van's goods went unpaid).
        assert approved.deliver_by >= approved.created_at + procurement.approval_allowance
        world.run(FIRST_PLAN + 1)
        final = {o.order_id: o for o in procurement.orders()}
        assert final[approved.order_id].state is OrderState.SETTLED
        paid = final[approved.order_id].paid
        assert paid == approved.amount
        assert (
            chain.balance(approved.supplier_address)
            == suppliers_before[approved.supplier_address] + paid
        )


def test_bound_order_nobody_answers_expires_and_stops_counting_as_on_order(
    tmp_path: Path,
) -> None:
    chain = DevChain.in_process(demo_policy(Autonomy.BOUND))
    with demo_world(tmp_path, chain) as world:
        procurement = procurement_of(world)
        world.run(FIRST_PLAN)
        orders = procurement.orders()
        assert orders
        assert procurement.on_order()  # waiting orders hold their slots' needs
        assert chain.pc.reserved() == sum(o.amount for o in orders)
        # The owners never answer. Past the deadline the machine releases the orders
        # (the contract allows it) instead of waiting for their units forever.
        later = max(o.deliver_by for o in orders) + timedelta(hours=2)
        chain.set_time(int(later.timestamp()))
        procurement.reconcile(later)  # writes the release intents
        procurement.reconcile(later)  # sends them and follows the chain
        for order in procurement.orders():
            assert order.state is OrderState.RELEASED
            assert _status(chain, order) is OrderStatus.RELEASED
        assert chain.pc.reserved() == 0
        assert procurement.on_order() == {}  # the next plan may buy for those slots again


def test_adaptable_orders_alone_below_threshold_and_waits_above(tmp_path: Path) -> None:
    chain = DevChain.in_process(demo_policy(Autonomy.ADAPTABLE, auto_approval_threshold=THRESHOLD))
    with demo_world(tmp_path, chain) as world:
        procurement = procurement_of(world)
        first_block = int(chain.w3.eth.block_number)
        world.run(FIRST_PLAN)
        orders = procurement.orders()
        small = [o for o in orders if o.amount <= THRESHOLD]
        large = [o for o in orders if o.amount > THRESHOLD]
        assert small, orders
        assert large, orders
        for order in small:  # placed and open at once, no governor involved
            assert order.state is OrderState.OPEN
            assert _status(chain, order) is OrderStatus.OPEN
        for order in large:
            assert order.state is OrderState.AWAITING_APPROVAL
            assert _status(chain, order) is OrderStatus.AWAITING_APPROVAL
            assert _supplier_view(world, order) == SupplierOrderState.AWAITING_APPROVAL.value
        placed = [e for e in chain.pc.events(first_block) if isinstance(e, OrderPlaced)]
        waiting = {"0x" + e.order_id.hex() for e in placed if e.awaiting_approval}
        assert waiting == {o.order_id for o in large}

        # The owner rejects one: REJECTED here, reservation released, nothing paid.
        other = large[0]
        reserved, treasury = chain.pc.reserved(), chain.pc.treasury()
        decide(chain.pc, other.order_id, chain.governor, approve=False)
        procurement.reconcile(world.driver.now())
        assert {o.order_id: o.state for o in procurement.orders()}[other.order_id] is (
            OrderState.REJECTED
        )
        assert chain.pc.reserved() == reserved - other.amount
        assert chain.pc.treasury() == treasury  # nothing was paid, nothing lost
        assert _supplier_view(world, other) == SupplierOrderState.REJECTED.value

        # The machine asks again above the threshold; the owner approves: the machine
        # sees it at its next reconcile, the supplier too.
        known = {o.order_id for o in orders}
        target = next(iter(large[1:]), None) or _run_until_new_order(
            world, known, FIRST_PLAN, THRESHOLD
        )
        procurement.reconcile(world.driver.now())
        assert _status(chain, target) is OrderStatus.AWAITING_APPROVAL
        decide(chain.pc, target.order_id, chain.governor, approve=True)
        procurement.reconcile(world.driver.now())
        assert {o.order_id: o.state for o in procurement.orders()}[target.order_id] is (
            OrderState.OPEN
        )
        assert _supplier_view(world, target) == SupplierOrderState.OPEN.value
        events = chain.pc.events(first_block)
        assert {"0x" + e.order_id.hex() for e in events if isinstance(e, OrderApproved)} == {
            target.order_id
        }
        assert {"0x" + e.order_id.hex() for e in events if isinstance(e, OrderRejected)} == {
            other.order_id
        }


def test_autonomous_buys_alone_within_budget_and_never_beyond_it(tmp_path: Path) -> None:
    chain = DevChain.in_process(demo_policy(Autonomy.AUTONOMOUS, budget_per_period=BUDGET))
    with demo_world(tmp_path, chain) as world:
        procurement = procurement_of(world)
        first_block = int(chain.w3.eth.block_number)
        world.run(FIRST_PLAN)
        orders = procurement.orders()
        opened = [o for o in orders if o.state is OrderState.OPEN]
        assert opened, orders
        # The budget caps what it negotiates: nothing is refused by the contract,
        # nothing beyond the budget is ever committed, and the owners are told.
        assert not [o for o in orders if o.state is OrderState.FAILED]
        assert sum(o.amount for o in orders) <= BUDGET
        for order in opened:
            assert _status(chain, order) is OrderStatus.OPEN
        with world.machine.store.read() as session:
            intents = list(session.exec(select(ChainIntent)).all())
            alerts = [a.message for a in repo.open_alerts(session) if a.kind == "budget_short"]
        assert not [i for i in intents if i.state is IntentState.FAILED]
        assert alerts
        assert "buying within it" in alerts[0]
        assert chain.pc.reserved() == sum(o.amount for o in opened)
        assert sum(o.amount for o in opened) <= BUDGET
        _assert_placements_used_the_budget(chain, first_block)

        # Within budget it goes all the way alone: delivered, counted, paid, no governor.
        world.run(FIRST_PLAN + 1)
        final = {o.order_id: o for o in procurement.orders()}
        for order in opened:
            assert final[order.order_id].state is OrderState.SETTLED
            lines = json.loads(order.lines)
            delivered = json.loads(final[order.order_id].delivered or "{}")
            assert delivered == {line["gtin"]: line["quantity"] for line in lines}
        events = chain.pc.events(first_block)
        assert not [e for e in events if isinstance(e, OrderApproved | OrderRejected)]
