"""ProfitCenter behaviour, the same tests on eth-tester and on anvil."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from contracts.chain import reverts_normalised, send
from contracts.profit_center import (
    Autonomy,
    Claimed,
    Distributed,
    MembersChanged,
    NonceCancelled,
    OrderApproved,
    OrderDelivered,
    OrderDisputed,
    OrderPlaced,
    OrderRejected,
    OrderReleased,
    OrderSettled,
    OrderStatus,
    Paused,
    PolicyChanged,
    RevenueDeposited,
    SupplierAllowed,
    SurplusRecognized,
    Unpaused,
    order_id,
)
from contracts.quote import (
    DOMAIN_NAME,
    DOMAIN_VERSION,
    QUOTE_TYPE_STRING,
    SECP256K1_HALF_N,
    typed_data,
)
from tests.contracts.conftest import DAY, TEST_POLICY, USDC, DeployFn, World, reverts

SECP256K1_N = 2 * SECP256K1_HALF_N + 1


def place(world: World, amount: int = 10 * USDC, **changes: Any) -> bytes:
    quote = world.quote(amount, **changes)
    return world.pc.place_order(quote, world.sign(quote), sender=world.agent).order_id


# ---------------------------------------------------------------- deployment


def test_deployment_sets_roles_policy_token_and_domain(world: World) -> None:
    pc = world.pc
    assert pc.governor() == world.governor
    assert pc.agent() == world.agent.address
    assert pc.token() == world.usdc.address
    assert pc.policy() == TEST_POLICY
    assert not pc.paused()
    assert pc.is_supplier_allowed(world.supplier.address)
    assert not pc.is_supplier_allowed(world.other_supplier.address)
    assert pc.books().treasury == 1_000 * USDC
    assert pc.token_balance() == 1_000 * USDC
    # The contract's EIP-712 domain and type hash are exactly contracts/quote.py's.
    assert bytes(pc.contract.functions.QUOTE_TYPEHASH().call()) == keccak(text=QUOTE_TYPE_STRING)
    quote = world.quote()
    domain_only = typed_data(quote, world.chain_id)
    encoded = encode_typed_data(full_message=domain_only)
    assert pc.domain_separator() == bytes(encoded.header)
    name, version = pc.contract.functions.eip712Domain().call()[1:3]
    assert (name, version) == (DOMAIN_NAME, DOMAIN_VERSION)


def test_constructor_refuses_bad_roles_and_tokens(world: World, deploy: DeployFn) -> None:
    zero = "0x" + "00" * 20
    until = world.backend.now() + 30 * DAY
    policy = TEST_POLICY.as_tuple()
    agent, usdc = world.agent.address, world.usdc.address
    with reverts("OwnableInvalidOwner", zero):
        deploy("ProfitCenter", zero, agent, until, usdc, policy)
    with reverts("ZeroAddress"):
        deploy("ProfitCenter", world.governor, zero, until, usdc, policy)
    with reverts("AgentIsGovernor", world.governor):
        deploy("ProfitCenter", world.governor, world.governor, until, usdc, policy)
    # A settlement token whose amounts would not fit the books, or that is no token at all.
    wide = deploy("Decimals18Token")
    with reverts("UnsupportedToken", wide):
        deploy("ProfitCenter", world.governor, agent, until, wide, policy)
    with reverts("UnsupportedToken", world.pc.address):
        deploy("ProfitCenter", world.governor, agent, until, world.pc.address, policy)


# -------------------------------------------------------------------- orders


def test_autonomous_order_is_open_reserved_and_counted(world: World) -> None:
    quote = world.quote(40 * USDC)
    placed = world.pc.place_order(quote, world.sign(quote), sender=world.agent)
    assert placed.order_id == order_id(world.supplier.address, quote.nonce)
    on_chain_id = world.pc.contract.functions.orderIdOf(world.supplier.address, quote.nonce).call()
    assert bytes(on_chain_id) == placed.order_id
    assert not placed.awaiting_approval
    event = placed.tx.events[0]
    assert isinstance(event, OrderPlaced)
    assert (event.supplier, event.nonce, event.amount) == (
        world.supplier.address,
        quote.nonce,
        40 * USDC,
    )
    order = world.pc.order(placed.order_id)
    assert order.status is OrderStatus.OPEN
    assert (order.supplier, order.amount, order.time) == (
        world.supplier.address,
        40 * USDC,
        quote.deliver_by,
    )
    books = world.pc.books()
    assert (books.reserved, books.budget_available) == (40 * USDC, 260 * USDC)
    assert world.pc.budget_left() == 260 * USDC


def test_bound_order_counts_against_budget_and_waits_for_approval(world: World) -> None:
    world.pc.set_policy(replace(TEST_POLICY, autonomy=Autonomy.BOUND), sender=world.governor)
    quote = world.quote(15 * USDC)
    placed = world.pc.place_order(quote, world.sign(quote), sender=world.agent)
    assert placed.awaiting_approval
    assert world.pc.order(placed.order_id).status is OrderStatus.AWAITING_APPROVAL
    assert world.pc.books().reserved == 15 * USDC
    # Counted when placed, not when approved (plus what refilled in the seconds since).
    assert 285 * USDC <= world.pc.budget_left() < 286 * USDC
    with reverts("NotGovernor", world.agent.address):
        world.pc.approve_order(placed.order_id, sender=world.agent)
    with reverts("WrongStatus"):
        world.pc.confirm_delivery(placed.order_id, 15 * USDC, sender=world.agent)
    tx = world.pc.approve_order(placed.order_id, sender=world.governor)
    assert isinstance(tx.events[0], OrderApproved)
    assert world.pc.order(placed.order_id).status is OrderStatus.OPEN
    assert 285 * USDC <= world.pc.budget_left() < 286 * USDC
    with reverts("WrongStatus", placed.order_id, int(OrderStatus.OPEN)):
        world.pc.approve_order(placed.order_id, sender=world.governor)


def test_approval_before_the_deadline_and_budget_is_spent_at_placement(world: World) -> None:
    world.pc.set_policy(
        replace(TEST_POLICY, autonomy=Autonomy.BOUND, budget_per_period=30 * USDC),
        sender=world.governor,
    )
    first = place(world, 20 * USDC)
    with reverts("BudgetExceeded"):
        place(world, 20 * USDC)
    assert 10 * USDC <= world.pc.budget_left() < 11 * USDC
    world.backend.advance(2 * DAY + 1)  # past the delivery deadline
    with reverts("DeadlinePassed"):
        world.pc.approve_order(first, sender=world.governor)


def test_governor_rejects_an_order_and_the_reservation_is_released(world: World) -> None:
    world.pc.set_policy(replace(TEST_POLICY, autonomy=Autonomy.BOUND), sender=world.governor)
    oid = place(world, 15 * USDC)
    with reverts("NotGovernor"):
        world.pc.reject_order(oid, sender=world.agent)
    tx = world.pc.reject_order(oid, sender=world.governor)
    assert tx.events[0] == OrderRejected(tx.events[0].meta, oid, 15 * USDC)
    assert world.pc.order(oid).status is OrderStatus.REJECTED
    assert world.pc.books().reserved == 0
    with reverts("WrongStatus"):
        world.pc.reject_order(oid, sender=world.governor)


def test_adaptable_approves_small_orders_alone(world: World) -> None:
    world.pc.set_policy(replace(TEST_POLICY, autonomy=Autonomy.ADAPTABLE), sender=world.governor)
    small = world.quote(20 * USDC)
    large = world.quote(20 * USDC + 1)
    assert not world.pc.place_order(small, world.sign(small), sender=world.agent).awaiting_approval
    assert world.pc.place_order(large, world.sign(large), sender=world.agent).awaiting_approval


def test_place_order_policy_errors(world: World) -> None:
    pc, agent = world.pc, world.agent

    def attempt(quote_amount: int = 10 * USDC, **changes: Any) -> None:
        quote = world.quote(quote_amount, **changes)
        pc.place_order(quote, world.sign(quote), sender=agent)

    with reverts("NotAgent", world.outsider):
        quote = world.quote()
        pc.place_order(quote, world.sign(quote), sender=world.outsider)
    with reverts("WrongBuyer", world.usdc.address):
        attempt(buyer=world.usdc.address)
    with reverts("WrongToken", world.pc.address):
        attempt(token=world.pc.address)
    with reverts("ZeroAmount"):
        attempt(0)
    with reverts("ExceedsOrderCap", 100 * USDC + 1, 100 * USDC):
        attempt(100 * USDC + 1)
    with reverts("DeadlineTooFar", 2**32):
        attempt(deliver_by=2**32)
    now = world.backend.now()
    with reverts("DeadlinePassed"):
        attempt(deliver_by=now - 1)
    with reverts("SupplierNotAllowed", world.other_supplier.address):
        quote = world.quote(supplier=world.other_supplier)
        pc.place_order(quote, world.sign(quote, world.other_supplier), sender=agent)
    for _ in range(3):
        attempt(100 * USDC)
    with reverts("BudgetExceeded"):
        attempt(10 * USDC)


def test_reservations_never_exceed_the_treasury(world: World, deploy: DeployFn) -> None:
    world.pc.set_policy(replace(TEST_POLICY, budget_per_period=10**12), sender=world.governor)
    for _ in range(10):
        place(world, 100 * USDC)
    with reverts("InsufficientTreasury", 1, 0):
        place(world, 1)


def test_budget_refills_continuously_up_to_one_period(world: World) -> None:
    for _ in range(3):
        place(world, 100 * USDC)
    assert world.pc.budget_left() < USDC
    world.backend.advance(7 * DAY // 2)
    assert 150 * USDC <= world.pc.budget_left() <= 151 * USDC
    world.backend.advance(30 * DAY)
    assert world.pc.budget_left() == 300 * USDC  # never more than one period's budget
    place(world, 100 * USDC)
    books = world.pc.books()
    assert books.budget_available == 200 * USDC
    assert books.refilled_at == world.backend.now()


# ------------------------------------------------------------ signature attacks


def test_signature_attacks_are_rejected(world: World) -> None:
    pc, agent = world.pc, world.agent
    quote = world.quote()
    impostor = Account.from_key(b"\x09" * 32)
    with reverts("InvalidSignature", world.supplier.address):
        pc.place_order(quote, world.sign(quote, impostor), sender=agent)
    with reverts("InvalidSignature"):
        pc.place_order(quote, world.sign(quote, chain_id=world.chain_id + 1), sender=agent)
    # Signed for another ProfitCenter (the domain's verifying contract), replayed here.
    other = replace(quote, buyer=world.usdc.address)
    forged = world.sign(other)
    with reverts("InvalidSignature"):
        pc.place_order(quote, forged, sender=agent)
    with reverts("WrongBuyer"):
        pc.place_order(other, forged, sender=agent)
    # The malleable twin of a valid signature (s -> n - s, v flipped) is refused.
    good = world.sign(quote)
    s = int.from_bytes(good[32:64], "big")
    twin = good[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - good[64]])
    with reverts("InvalidSignature"):
        pc.place_order(quote, twin, sender=agent)
    # A tampered amount does not match the signature.
    with reverts("InvalidSignature"):
        pc.place_order(replace(quote, amount=quote.amount + 1), good, sender=agent)
    with reverts("QuoteExpired"):
        expired = world.quote(expiry=world.backend.now() - 1)
        pc.place_order(expired, world.sign(expired), sender=agent)
    # The genuine signature fills exactly once.
    pc.place_order(quote, good, sender=agent)
    with reverts("NonceUsed", world.supplier.address, quote.nonce):
        pc.place_order(quote, good, sender=agent)


def test_supplier_cancels_its_nonce(world: World) -> None:
    quote = world.quote()
    tx = world.pc.cancel_nonce(quote.nonce, sender=world.supplier)
    assert tx.events[0] == NonceCancelled(tx.events[0].meta, world.supplier.address, quote.nonce)
    assert (
        world.pc.order(order_id(world.supplier.address, quote.nonce)).status
        is OrderStatus.NONCE_CANCELLED
    )
    with reverts("NonceWasCancelled", world.supplier.address, quote.nonce):
        world.pc.place_order(quote, world.sign(quote), sender=world.agent)
    with reverts("NonceWasCancelled"):
        world.pc.cancel_nonce(quote.nonce, sender=world.supplier)
    used = world.quote()
    world.pc.place_order(used, world.sign(used), sender=world.agent)
    with reverts("NonceUsed"):
        world.pc.cancel_nonce(used.nonce, sender=world.supplier)


def test_contract_wallet_can_be_a_supplier(world: World, deploy: DeployFn) -> None:
    owner = world.other_supplier
    wallet = deploy("ERC1271Wallet", owner.address)
    world.pc.set_supplier(wallet, True, sender=world.governor)
    quote = world.quote(25 * USDC, supplier=owner, nonce=77)
    quote = replace(quote, supplier=wallet)
    with reverts("InvalidSignature", wallet):
        world.pc.place_order(quote, world.sign(quote, world.supplier), sender=world.agent)
    placed = world.pc.place_order(quote, world.sign(quote, owner), sender=world.agent)
    world.pc.confirm_delivery(placed.order_id, 25 * USDC, sender=world.agent)
    assert world.balance(wallet) == 25 * USDC


# ------------------------------------------------------------------ delivery


def test_confirm_full_delivery_pays_the_supplier(world: World) -> None:
    oid = place(world, 40 * USDC)
    before = world.balance(world.supplier.address)
    with reverts("NotAgent"):
        world.pc.confirm_delivery(oid, 40 * USDC, sender=world.supplier)
    with reverts("DeliveredTooMuch", 40 * USDC + 1, 40 * USDC):
        world.pc.confirm_delivery(oid, 40 * USDC + 1, sender=world.agent)
    tx = world.pc.confirm_delivery(oid, 40 * USDC, sender=world.agent)
    assert tx.events[0] == OrderSettled(
        tx.events[0].meta, oid, world.supplier.address, 40 * USDC, 0
    )
    assert world.balance(world.supplier.address) == before + 40 * USDC
    books = world.pc.books()
    assert (books.treasury, books.reserved) == (960 * USDC, 0)
    assert world.pc.order(oid).status is OrderStatus.SETTLED
    with reverts("WrongStatus"):
        world.pc.confirm_delivery(oid, 40 * USDC, sender=world.agent)


def test_partial_delivery_pays_part_and_releases_the_rest(world: World) -> None:
    oid = place(world, 40 * USDC)
    tx = world.pc.confirm_delivery(oid, 25 * USDC, sender=world.agent)
    assert tx.events[0] == OrderSettled(
        tx.events[0].meta, oid, world.supplier.address, 25 * USDC, 15 * USDC
    )
    books = world.pc.books()
    assert (books.treasury, books.reserved) == (975 * USDC, 0)
    assert world.pc.order(oid).amount == 25 * USDC


def test_supplier_claims_after_an_undisputed_window(world: World) -> None:
    oid = place(world, 30 * USDC)
    with reverts("NotSupplier", oid, world.other_supplier.address):
        world.pc.mark_delivered(oid, sender=world.other_supplier)
    with reverts("WrongStatus"):
        world.pc.claim_payment(oid, sender=world.supplier)
    tx = world.pc.mark_delivered(oid, sender=world.supplier)
    event = tx.events[0]
    assert isinstance(event, OrderDelivered)
    assert event.dispute_until == world.backend.now() + DAY
    with reverts("WrongStatus"):
        world.pc.mark_delivered(oid, sender=world.supplier)
    with reverts("DisputeWindowOpen", event.dispute_until):
        world.pc.claim_payment(oid, sender=world.supplier)
    with reverts("NotSupplier"):
        world.pc.claim_payment(oid, sender=world.agent)
    world.backend.advance(DAY)
    before = world.balance(world.supplier.address)
    world.pc.claim_payment(oid, sender=world.supplier)
    assert world.balance(world.supplier.address) == before + 30 * USDC
    assert world.pc.order(oid).status is OrderStatus.SETTLED


def test_supplier_cannot_mark_after_the_deadline(world: World) -> None:
    oid = place(world)
    world.backend.advance(3 * DAY)
    with reverts("DeadlinePassed"):
        world.pc.mark_delivered(oid, sender=world.supplier)


def test_agent_disputes_and_governor_resolves(world: World) -> None:
    oid = place(world, 30 * USDC)
    with reverts("WrongStatus"):
        world.pc.dispute(oid, sender=world.agent)
    world.pc.mark_delivered(oid, sender=world.supplier)
    with reverts("NotAgent"):
        world.pc.dispute(oid, sender=world.supplier)
    tx = world.pc.dispute(oid, sender=world.agent)
    assert tx.events[0] == OrderDisputed(tx.events[0].meta, oid, world.backend.now() + 14 * DAY)
    world.backend.advance(2 * DAY)
    with reverts("DisputeWindowOpen"):
        world.pc.claim_payment(oid, sender=world.supplier)
    with reverts("NotGovernor"):
        world.pc.resolve_dispute(oid, 30 * USDC, sender=world.agent)
    with reverts("DeliveredTooMuch"):
        world.pc.resolve_dispute(oid, 31 * USDC, sender=world.governor)
    before = world.balance(world.supplier.address)
    tx = world.pc.resolve_dispute(oid, 12 * USDC, sender=world.governor)
    assert tx.events[0] == OrderSettled(
        tx.events[0].meta, oid, world.supplier.address, 12 * USDC, 18 * USDC
    )
    assert world.balance(world.supplier.address) == before + 12 * USDC
    with reverts("WrongStatus"):
        world.pc.resolve_dispute(oid, 0, sender=world.governor)


def test_dispute_window_closes(world: World) -> None:
    oid = place(world)
    world.pc.mark_delivered(oid, sender=world.supplier)
    world.backend.advance(DAY)
    with reverts("DisputeWindowClosed"):
        world.pc.dispute(oid, sender=world.agent)


def test_undelivered_orders_are_released_after_the_deadline(world: World) -> None:
    oid = place(world, 30 * USDC)
    world.pc.set_policy(replace(TEST_POLICY, autonomy=Autonomy.BOUND), sender=world.governor)
    waiting = place(world, 20 * USDC)
    with reverts("DeadlineNotReached"):
        world.pc.release_expired(oid, sender=world.outsider)
    world.backend.advance(2 * DAY + 1)
    tx = world.pc.release_expired(oid, sender=world.outsider)
    assert tx.events[0] == OrderReleased(tx.events[0].meta, oid, 30 * USDC)
    world.pc.release_expired(waiting, sender=world.outsider)
    assert world.pc.books().reserved == 0
    assert world.pc.order(oid).status is OrderStatus.RELEASED
    with reverts("WrongStatus"):
        world.pc.release_expired(oid, sender=world.outsider)
    with reverts("WrongStatus"):
        world.pc.confirm_delivery(oid, 1, sender=world.agent)


# ------------------------------------------------------------- money in/out


def test_deposit_revenue(world: World) -> None:
    with reverts("ZeroAmount"):
        world.pc.deposit_revenue(0, sender=world.governor)
    with reverts("ERC20InsufficientAllowance"):
        world.pc.deposit_revenue(5, sender=world.outsider)
    world.mint(world.outsider, 7 * USDC)
    send(world.w3, world.usdc.functions.approve(world.pc.address, 7 * USDC), world.outsider)
    tx = world.pc.deposit_revenue(7 * USDC, sender=world.outsider)
    assert tx.events[0] == RevenueDeposited(tx.events[0].meta, world.outsider, 7 * USDC)
    assert world.pc.treasury() == 1_007 * USDC
    assert world.pc.token_balance() == 1_007 * USDC
    with reverts("SafeCastOverflowedUintDowncast"):
        world.pc.deposit_revenue(2**64, sender=world.outsider)


def test_distribute_and_claim_by_share(world: World) -> None:
    a, b, c = world.members
    with reverts("NoMembers"):
        world.pc.distribute(sender=world.governor)
    world.pc.set_members({a: 1, b: 1, c: 1}, sender=world.governor)
    place(world, 100 * USDC)
    # A direct transfer is surplus; distribute recognises it.
    world.mint(world.pc.address, 1)
    with reverts("NotGovernorOrAgent", world.outsider):
        world.pc.distribute(sender=world.outsider)
    tx = world.pc.distribute(sender=world.agent)
    surplus, distributed = tx.events
    assert surplus == SurplusRecognized(surplus.meta, 1)
    # 1000 USDC + 1 - 100 reserved - 50 operating reserve, split three ways; the
    # rounding remainder stays in the treasury for the next distribution.
    assert distributed == Distributed(distributed.meta, 849_999_999)
    assert [world.pc.claimable(m) for m in (a, b, c)] == [283_333_333] * 3
    assert world.pc.books().treasury == 150 * USDC + 2
    with reverts("NothingToDistribute"):
        world.pc.distribute(sender=world.governor)
    tx = world.pc.claim(sender=a)
    assert tx.events[0] == Claimed(tx.events[0].meta, a, 283_333_333)
    assert world.balance(a) == 283_333_333
    assert world.pc.total_claimable() == 2 * 283_333_333
    with reverts("NothingToClaim", a):
        world.pc.claim(sender=a)


def test_set_members_validates(world: World) -> None:
    a, b, c = world.members
    zero = "0x" + "00" * 20
    with reverts("NotGovernor"):
        world.pc.set_members({a: 1}, sender=world.agent)
    with reverts("LengthMismatch", 2, 1):
        reverts_normalised(
            lambda: world.pc.contract.functions.setMembers([a, b], [1]).call(
                {"from": world.governor}
            )
        )
    with reverts("InvalidMember", a):
        reverts_normalised(
            lambda: world.pc.contract.functions.setMembers([a, a], [1, 1]).call(
                {"from": world.governor}
            )
        )
    with reverts("InvalidMember", b):
        world.pc.set_members({a: 1, b: 0}, sender=world.governor)
    with reverts("InvalidMember", zero):
        world.pc.set_members({zero: 1}, sender=world.governor)
    assert world.pc.contract.functions.MAX_MEMBERS().call() == 50
    many = {f"0x{i:040x}": 1 for i in range(1, 52)}
    with reverts("TooManyMembers", 51, 50):
        world.pc.set_members(many, sender=world.governor)
    tx = world.pc.set_members({a: 2, b: 1}, sender=world.governor)
    assert tx.events[0] == MembersChanged(tx.events[0].meta, (a, b), (2, 1))
    world.pc.set_members({c: 5}, sender=world.governor)
    assert world.pc.members() == {c: 5}


# ---------------------------------------------------------------- governance


def test_policy_is_validated_and_only_the_governor_sets_it(world: World) -> None:
    new = replace(TEST_POLICY, per_order_cap=7 * USDC, auto_approval_threshold=7 * USDC)
    with reverts("NotGovernor"):
        world.pc.set_policy(new, sender=world.agent)
    with reverts("InvalidPolicy", "periodLength"):
        world.pc.set_policy(replace(new, period_length=0), sender=world.governor)
    with reverts("InvalidPolicy", "periodLength"):
        world.pc.set_policy(replace(new, period_length=DAY + 1), sender=world.governor)
    with reverts("InvalidPolicy", "budgetPerPeriod"):
        world.pc.set_policy(replace(new, budget_per_period=2**40), sender=world.governor)
    with reverts("InvalidPolicy", "autoApprovalThreshold"):
        world.pc.set_policy(replace(new, auto_approval_threshold=8 * USDC), sender=world.governor)
    tx = world.pc.set_policy(new, sender=world.governor)
    assert tx.events[0] == PolicyChanged(tx.events[0].meta, new)
    assert world.pc.policy() == new
    with reverts("ExceedsOrderCap"):
        place(world, 8 * USDC)


def test_supplier_allow_list(world: World) -> None:
    zero = "0x" + "00" * 20
    with reverts("NotGovernor"):
        world.pc.set_supplier(world.other_supplier.address, True, sender=world.agent)
    with reverts("ZeroAddress"):
        world.pc.set_supplier(zero, True, sender=world.governor)
    tx = world.pc.set_supplier(world.supplier.address, False, sender=world.governor)
    assert tx.events[0] == SupplierAllowed(tx.events[0].meta, world.supplier.address, False)
    with reverts("SupplierNotAllowed"):
        place(world)


def test_settlement_token_is_fixed_for_the_contracts_life(world: World, deploy: DeployFn) -> None:
    other_token = deploy("MockUSDC")
    assert "setSettlementToken" not in {dict(item).get("name") for item in world.pc.contract.abi}
    with reverts("WrongToken", other_token):
        place(world, token=other_token)
    assert world.pc.token() == world.usdc.address


def test_agent_rotation_and_two_step_governor_hand_over(world: World) -> None:
    new_agent = Account.from_key(b"\x07" * 32)
    zero = "0x" + "00" * 20
    until = world.backend.now() + 30 * DAY
    with reverts("NotGovernor"):
        world.pc.set_agent(new_agent.address, until, sender=world.agent)
    with reverts("ZeroAddress"):
        world.pc.set_agent(zero, until, sender=world.governor)
    with reverts("AgentIsGovernor", world.governor):
        world.pc.set_agent(world.governor, until, sender=world.governor)
    world.pc.set_agent(new_agent.address, until, sender=world.governor)
    assert world.pc.agent() == new_agent.address
    assert world.pc.agent_valid_until() == until // DAY * DAY
    with reverts("NotAgent", world.agent.address):
        place(world)
    new_governor = world.members[0]
    with reverts("AgentIsGovernor", new_agent.address):
        world.pc.transfer_governance(new_agent.address, sender=world.governor)
    world.pc.transfer_governance(new_governor, sender=world.governor)
    # Nothing changes until the new governor proves it can act.
    assert world.pc.governor() == world.governor
    assert world.pc.pending_governor() == new_governor
    with reverts("OwnableUnauthorizedAccount", world.outsider):
        world.pc.accept_governance(sender=world.outsider)
    world.pc.accept_governance(sender=new_governor)
    assert world.pc.governor() == new_governor
    with reverts("NotGovernor", world.governor):
        world.pc.set_agent(world.agent.address, until, sender=world.governor)


def test_pause_is_an_emergency_stop_the_agent_cannot_undo(world: World) -> None:
    oid = place(world)
    with reverts("NotGovernorOrAgent"):
        world.pc.pause(sender=world.outsider)
    with reverts("ExpectedPause"):
        world.pc.unpause(sender=world.governor)
    tx = world.pc.pause(sender=world.agent)
    assert tx.events[0] == Paused(tx.events[0].meta, world.agent.address)
    with reverts("EnforcedPause"):
        world.pc.pause(sender=world.governor)
    with reverts("EnforcedPause"):
        place(world)
    with reverts("EnforcedPause"):
        world.pc.confirm_delivery(oid, 1, sender=world.agent)
    with reverts("NotGovernor", world.agent.address):
        world.pc.unpause(sender=world.agent)
    # With the gas given there is no estimate: the revert is mined, then explained.
    with reverts("NotGovernor", world.agent.address):
        send(world.w3, world.pc.contract.functions.unpause(), world.agent, gas=100_000)
    tx = world.pc.unpause(sender=world.governor)
    assert tx.events[0] == Unpaused(tx.events[0].meta, world.governor)
    world.pc.confirm_delivery(oid, 1, sender=world.agent)


def test_event_history_is_decoded_in_order(world: World) -> None:
    start = world.w3.eth.block_number + 1
    oid = place(world, 30 * USDC)
    confirmed = world.pc.confirm_delivery(oid, 30 * USDC, sender=world.agent)
    kinds = [type(event).__name__ for event in world.pc.events(start)]
    assert kinds == ["OrderPlaced", "OrderSettled"]
    # A transaction sent before a restart is reconciled from its hash alone.
    assert world.pc.tx_result(confirmed.tx_hash) == confirmed
    assert world.pc.tx_result(b"\x01" * 32) is None


def test_gas_targets(world: World) -> None:
    """placeOrder within 70,000 gas and confirmDelivery within 60,000 (supplier holds tokens)."""
    quote = world.quote(40 * USDC, nonce=2**255 + 12345)
    placed = world.pc.place_order(quote, world.sign(quote), sender=world.agent)
    confirmed = world.pc.confirm_delivery(placed.order_id, 40 * USDC, sender=world.agent)
    assert placed.tx.gas_used <= 70_000
    assert confirmed.gas_used <= 60_000
