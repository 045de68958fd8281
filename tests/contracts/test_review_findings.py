"""One test per finding of the ProfitCenter review (issue #16), on eth-tester and anvil.

Each test takes the attacker's or the wronged party's side and fails on the v1
contract: the thief holds only the agent key; suppliers and members are honest.
"""

from __future__ import annotations

from dataclasses import replace

from eth_account import Account
from eth_account.signers.local import LocalAccount

from contracts.chain import send
from contracts.deploy import deploy_profit_center
from contracts.profit_center import (
    Autonomy,
    OrderPlaced,
    OrderStatus,
    ProfitCenter,
)
from contracts.quote import Quote
from tests.contracts.conftest import DAY, TEST_POLICY, USDC, DeployFn, World, fund, reverts

ZERO = "0x" + "00" * 20
THIEF: LocalAccount = Account.from_key(b"\x66" * 32)


def place(world: World, amount: int = 10 * USDC, **changes: object) -> bytes:
    quote = world.quote(amount, **changes)  # type: ignore[arg-type]
    return world.pc.place_order(quote, world.sign(quote), sender=world.agent).order_id


def thief_quote(world: World, amount: int, token: str) -> Quote:
    """A quote the thief signs for itself: supplier = the thief's own key."""
    return world.quote(amount, supplier=THIEF, token=token)


# 1 ----------------------------------------------------------------------------------


def test_1_thief_cannot_pay_itself_with_its_own_quotes(world: World, deploy: DeployFn) -> None:
    """v1 paid a self-signed quote naming token = address(0) from the real treasury."""
    pc = world.pc
    pc.set_policy(replace(TEST_POLICY, autonomy=Autonomy.ADAPTABLE), sender=world.governor)
    before = world.balance(THIEF.address)
    for token in (ZERO, world.usdc.address, deploy("MockUSDC")):
        quote = thief_quote(world, 10 * USDC, token)  # under the auto-approval threshold
        with reverts("WrongToken" if token != world.usdc.address else "SupplierNotAllowed"):
            pc.place_order(quote, world.sign(quote, THIEF), sender=world.agent)
    # An allowed supplier's quote naming another token is refused too (no stale entries).
    with reverts("WrongToken", ZERO):
        place(world, token=ZERO)
    assert world.balance(THIEF.address) == before
    assert pc.books().reserved == 0


# 2 ----------------------------------------------------------------------------------


def test_2_orders_awaiting_approval_count_against_the_budget_and_lapse(world: World) -> None:
    """v1: ten pending orders reserved the whole treasury against a 300 USDC budget."""
    pc = world.pc
    pc.set_policy(replace(TEST_POLICY, autonomy=Autonomy.BOUND), sender=world.governor)
    waiting = [place(world, 100 * USDC) for _ in range(3)]
    with reverts("BudgetExceeded"):
        place(world, 100 * USDC)
    assert pc.books().reserved == 300 * USDC  # the budget, not the 1,000 USDC treasury
    # Unapproved, they lapse at their delivery deadline: anyone releases them.
    world.backend.advance(2 * DAY + 1)
    for oid in waiting:
        pc.release_expired(oid, sender=world.outsider)
    assert pc.books().reserved == 0


# 3 ----------------------------------------------------------------------------------


def test_3_agent_cannot_underpay_after_the_window_or_settle_its_own_dispute(world: World) -> None:
    pc = world.pc
    late = place(world, 30 * USDC)
    pc.mark_delivered(late, sender=world.supplier)
    world.backend.advance(DAY)
    with reverts("PartialPaymentNotAllowed", late, 0, 30 * USDC):
        pc.confirm_delivery(late, 0, sender=world.agent)
    before = world.balance(world.supplier.address)
    pc.claim_payment(late, sender=world.supplier)
    assert world.balance(world.supplier.address) == before + 30 * USDC

    disputed = place(world, 30 * USDC)
    pc.mark_delivered(disputed, sender=world.supplier)
    pc.dispute(disputed, sender=world.agent)
    with reverts("PartialPaymentNotAllowed"):
        pc.confirm_delivery(disputed, 1, sender=world.agent)
    pc.resolve_dispute(disputed, 20 * USDC, sender=world.governor)
    assert pc.order(disputed).amount == 20 * USDC
    # Inside the window the agent's count decides (a partial delivery).
    counted = place(world, 30 * USDC)
    pc.mark_delivered(counted, sender=world.supplier)
    pc.confirm_delivery(counted, 12 * USDC, sender=world.agent)
    assert pc.order(counted).amount == 12 * USDC


# 4 ----------------------------------------------------------------------------------


def test_4_a_pause_stops_the_dispute_clock(world: World) -> None:
    """v1: a pause longer than the window took the agent's right to dispute away."""
    pc = world.pc
    oid = place(world, 30 * USDC)
    pc.mark_delivered(oid, sender=world.supplier)
    pc.pause(sender=world.governor)
    world.backend.advance(3 * DAY)
    pc.unpause(sender=world.governor)
    with reverts("DisputeWindowOpen"):
        pc.claim_payment(oid, sender=world.supplier)
    pc.dispute(oid, sender=world.agent)
    assert pc.order(oid).status is OrderStatus.DISPUTED


def test_4_a_pause_across_the_deadline_keeps_the_supplier_paid(world: World) -> None:
    """v1: releaseExpired voided an order whose supplier could not mark it while paused."""
    pc = world.pc
    oid = place(world, 30 * USDC)  # deliver by now + 2 days
    pc.pause(sender=world.agent)
    world.backend.advance(5 * DAY)
    with reverts("DeadlineNotReached"):
        pc.release_expired(oid, sender=world.outsider)
    pc.unpause(sender=world.governor)
    with reverts("DeadlineNotReached"):
        pc.release_expired(oid, sender=world.outsider)
    pc.mark_delivered(oid, sender=world.supplier)
    world.backend.advance(DAY)
    pc.claim_payment(oid, sender=world.supplier)
    assert pc.order(oid).status is OrderStatus.SETTLED
    # The grace is bounded: an order nobody delivers is released a day after the resume.
    other = place(world, 10 * USDC)
    world.backend.advance(3 * DAY)
    pc.release_expired(other, sender=world.outsider)


# 5 ----------------------------------------------------------------------------------


def test_5_the_dispute_window_is_fixed_at_delivery_and_never_zero(world: World) -> None:
    pc = world.pc
    with reverts("InvalidPolicy", "disputeWindow"):
        pc.set_policy(replace(TEST_POLICY, dispute_window=0), sender=world.governor)
    oid = place(world, 30 * USDC)
    delivered = pc.mark_delivered(oid, sender=world.supplier).events[0]
    pc.set_policy(replace(TEST_POLICY, dispute_window=3600), sender=world.governor)
    world.backend.advance(2 * 3600)
    with reverts("DisputeWindowOpen", delivered.dispute_until):  # type: ignore[union-attr]
        pc.claim_payment(oid, sender=world.supplier)
    pc.dispute(oid, sender=world.agent)


# 6 ----------------------------------------------------------------------------------


def test_6_a_huge_direct_transfer_never_bricks_distribute(world: World) -> None:
    pc = world.pc
    pc.set_members({world.members[0]: 1}, sender=world.governor)
    world.mint(pc.address, 2**60)  # more than the books can hold
    pc.distribute(sender=world.governor)
    assert pc.claimable(world.members[0]) > 0
    world.mint(pc.address, 5 * USDC)
    pc.distribute(sender=world.governor)  # and again: it keeps working


# 7 ----------------------------------------------------------------------------------


def test_7_no_double_budget_around_a_period_boundary(world: World) -> None:
    """v1: spend the budget just before the period ends and again just after."""
    pc = world.pc
    world.backend.advance(7 * DAY - 120)  # v1's first period ends in two minutes
    for _ in range(3):
        place(world, 100 * USDC)
    world.backend.advance(240)
    with reverts("BudgetExceeded"):
        place(world, 100 * USDC)
    assert pc.budget_left() < USDC  # four minutes refill 0.12 USDC of 300


# 8 ----------------------------------------------------------------------------------


def test_8_governance_moves_in_two_steps_and_never_to_the_agent(world: World) -> None:
    pc = world.pc
    with reverts("AgentIsGovernor", world.agent.address):
        pc.transfer_governance(world.agent.address, sender=world.governor)
    with reverts("RenounceDisabled"):
        send(world.w3, pc.contract.functions.renounceOwnership(), world.governor)
    # A typo'd address that can never call: governance stays where it was.
    pc.transfer_governance("0x" + "de" * 20, sender=world.governor)
    assert pc.governor() == world.governor
    pc.pause(sender=world.agent)
    pc.unpause(sender=world.governor)
    # The proposed governor cannot be made agent either.
    with reverts("AgentIsGovernor"):
        pc.set_agent("0x" + "de" * 20, world.backend.now() + DAY, sender=world.governor)


# 9 ----------------------------------------------------------------------------------


def test_9_governor_cancels_open_orders_and_a_removed_supplier_is_not_paid(world: World) -> None:
    pc = world.pc
    cancelled = place(world, 30 * USDC)
    with reverts("NotGovernor"):
        pc.cancel_order(cancelled, sender=world.agent)
    pc.cancel_order(cancelled, sender=world.governor)
    assert pc.order(cancelled).status is OrderStatus.CANCELLED
    open_, delivered = place(world, 30 * USDC), place(world, 30 * USDC)
    pc.mark_delivered(delivered, sender=world.supplier)
    pc.set_supplier(world.supplier.address, False, sender=world.governor)
    with reverts("SupplierNotAllowed"):
        pc.confirm_delivery(open_, 30 * USDC, sender=world.agent)
    world.backend.advance(DAY)
    with reverts("SupplierNotAllowed"):
        pc.claim_payment(delivered, sender=world.supplier)
    pc.resolve_dispute(delivered, 30 * USDC, sender=world.governor)  # the owners decide
    assert pc.books().reserved == 30 * USDC


# 10 ---------------------------------------------------------------------------------


def test_10_an_unresolved_dispute_lets_the_supplier_claim(world: World) -> None:
    pc = world.pc
    oid = place(world, 30 * USDC)
    pc.mark_delivered(oid, sender=world.supplier)
    resolve_by = pc.dispute(oid, sender=world.agent).events[0].resolve_by  # type: ignore[union-attr]
    with reverts("DisputeWindowOpen", resolve_by):
        pc.claim_payment(oid, sender=world.supplier)
    world.backend.advance(14 * DAY)
    pc.claim_payment(oid, sender=world.supplier)
    assert pc.books().reserved == 0


# 11 ---------------------------------------------------------------------------------


def test_11_a_fee_on_transfer_token_is_refused(world: World, deploy: DeployFn) -> None:
    fee_token = deploy("FeeOnTransferToken")
    agent: LocalAccount = Account.from_key(b"\x21" * 32)
    fund(world.w3, world.governor, agent.address)
    deployment = deploy_profit_center(
        world.w3, deployer=world.governor, governor=world.governor, agent=agent.address,
        policy=TEST_POLICY, token=fee_token,
    )  # fmt: skip
    pc = ProfitCenter(world.w3, deployment.profit_center)
    token = world.w3.eth.contract(address=fee_token, abi=world.usdc.abi)  # type: ignore[call-overload]
    send(world.w3, token.functions.mint(world.governor, 100 * USDC), world.governor)
    send(world.w3, token.functions.approve(pc.address, 100 * USDC), world.governor)
    with reverts("DepositShortfall", 100 * USDC, 99 * USDC):
        pc.deposit_revenue(100 * USDC, sender=world.governor)
    assert pc.treasury() == 0


# 12 ---------------------------------------------------------------------------------


def test_12_rounding_never_hands_a_small_distribution_to_the_last_member(world: World) -> None:
    pc = world.pc
    a, b, c = world.members
    pc.set_members({a: 1, b: 1, c: 1}, sender=world.governor)
    reserve = 1_000 * USDC  # the whole treasury: only what is minted below is above it
    world.mint(pc.address, 2)
    pc.set_policy(replace(TEST_POLICY, operating_reserve=reserve), sender=world.governor)
    with reverts("NothingToDistribute"):
        pc.distribute(sender=world.governor)
    world.mint(pc.address, 3)
    pc.distribute(sender=world.governor)
    assert [pc.claimable(m) for m in (a, b, c)] == [1, 1, 1]
    assert pc.treasury() == reserve + 2


# 13 ---------------------------------------------------------------------------------


def test_13_the_agent_cannot_freeze_what_members_are_owed(world: World) -> None:
    pc = world.pc
    member = world.members[0]
    pc.set_members({member: 1}, sender=world.governor)
    pc.distribute(sender=world.governor)
    owed = pc.claimable(member)
    pc.pause(sender=world.agent)
    pc.claim(sender=member)
    assert world.balance(member) == owed
    # A paused machine still takes revenue and shares it.
    world.deposit(100 * USDC)
    pc.distribute(sender=world.governor)
    assert pc.claimable(member) == 100 * USDC


# 14 ---------------------------------------------------------------------------------


def test_14_suppliers_withdraw_waiting_orders_and_late_ones_cannot_be_approved(
    world: World,
) -> None:
    """A quote's expiry bounds its placement; once placed, the supplier sees the order
    on-chain and may withdraw it until the owners approve (v1: it could not)."""
    pc = world.pc
    pc.set_policy(replace(TEST_POLICY, autonomy=Autonomy.BOUND), sender=world.governor)
    stale = place(world, 20 * USDC)
    withdrawn = place(world, 20 * USDC)
    with reverts("NotSupplier"):
        pc.withdraw_order(withdrawn, sender=world.agent)
    pc.withdraw_order(withdrawn, sender=world.supplier)
    assert pc.order(withdrawn).status is OrderStatus.WITHDRAWN
    with reverts("WrongStatus"):
        pc.approve_order(withdrawn, sender=world.governor)
    world.backend.advance(2 * DAY + 1)
    with reverts("DeadlinePassed"):
        pc.approve_order(stale, sender=world.governor)
    assert pc.books().reserved == 20 * USDC  # until anyone releases it
    pc.release_expired(stale, sender=world.outsider)
    assert pc.books().reserved == 0


# 15 ---------------------------------------------------------------------------------


def test_15_order_placed_tells_a_monitor_what_was_ordered(world: World) -> None:
    quote = world.quote(40 * USDC)
    placed = world.pc.place_order(quote, world.sign(quote), sender=world.agent)
    event = placed.tx.events[0]
    assert isinstance(event, OrderPlaced)
    assert (event.token, event.items_hash, event.deliver_by) == (
        world.usdc.address,
        quote.items_hash,
        quote.deliver_by,
    )


# the key's expiry ------------------------------------------------------------------


def test_an_expired_agent_key_places_nothing_until_renewed(world: World) -> None:
    pc = world.pc
    until = pc.agent_valid_until()
    world.backend.advance(until - world.backend.now())
    with reverts("AgentKeyExpired", until):
        place(world)
    pc.set_agent(world.agent.address, until + 30 * DAY, sender=world.governor)
    place(world)
