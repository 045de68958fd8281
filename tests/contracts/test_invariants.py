"""Stateful property test: random sequences of everything anyone can do to a ProfitCenter.

A plain-Python model predicts whether each call succeeds; after every step the
chain is checked against the safety properties of the issue:
reserved <= treasury <= tokens held; commitments in a period <= budget; a quote
fills at most once; only the quoted supplier is paid for an order; the agent moves
no money except by paying allowed suppliers for valid orders; members never
receive more than was distributed.

Runs on eth-tester (in-process, fast). The chain is moved far into the future so
every block is exactly one second after the previous one, which makes every
timestamp predictable; each example starts from a snapshot and is reverted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts.artifacts import load_artifact
from contracts.deploy import deploy_profit_center
from contracts.profit_center import Autonomy, OrderStatus, Policy, ProfitCenter, order_id
from contracts.quote import Quote, sign_quote

USDC = 1_000_000
DAY = 24 * 3600
GAS = 1_000_000
START = 2_000_000_000
POLICY = Policy(
    autonomy=Autonomy.ADAPTABLE,
    auto_approval_threshold=30 * USDC,
    per_order_cap=80 * USDC,
    budget_per_period=200 * USDC,
    period_length=7 * DAY,
    operating_reserve=40 * USDC,
    dispute_window=DAY,
)
OPEN_LIKE = (OrderStatus.OPEN, OrderStatus.DELIVERED, OrderStatus.DISPUTED)


@dataclass
class Chain:
    """One deployed machine on eth-tester, shared by every example (reverted in between)."""

    w3: Web3
    tester: Any
    pc: ProfitCenter
    usdc: Any
    governor: str
    agent: str
    hostile: str
    members: tuple[str, ...]
    supplier: LocalAccount  # allowed
    stranger: LocalAccount  # a supplier that is not allowed
    deploy_block_time: int
    chain_id: int


def _build_chain() -> Chain:
    w3 = Web3(EthereumTesterProvider())
    tester = w3.provider.ethereum_tester  # type: ignore[attr-defined]
    tester.time_travel(START)
    tester.mine_blocks(1)
    accounts = [str(a) for a in w3.eth.accounts]
    governor, agent, hostile = accounts[0], accounts[1], accounts[6]
    supplier: LocalAccount = Account.from_key(b"\x02" * 32)
    stranger: LocalAccount = Account.from_key(b"\x05" * 32)
    for key in (supplier, stranger):
        tester.add_account(key.key.hex())
        w3.eth.send_transaction({"from": governor, "to": key.address, "value": 10**20})  # type: ignore[typeddict-item]
    deployment = deploy_profit_center(
        w3, deployer=governor, governor=governor, agent=agent, policy=POLICY
    )
    deploy_time = int(w3.eth.get_block("latest")["timestamp"])
    pc = ProfitCenter(w3, deployment.profit_center)
    usdc = w3.eth.contract(address=deployment.token, abi=load_artifact("MockUSDC").abi)  # type: ignore[call-overload]
    usdc.functions.mint(governor, 10**15).transact({"from": governor})
    usdc.functions.approve(pc.address, 2**256 - 1).transact({"from": governor})
    pc.set_supplier(supplier.address, True, sender=governor)
    members = tuple(accounts[3:6])
    pc.set_members({members[0]: 5, members[1]: 3, members[2]: 2}, sender=governor)
    return Chain(
        w3=w3,
        tester=tester,
        pc=pc,
        usdc=usdc,
        governor=governor,
        agent=agent,
        hostile=hostile,
        members=members,
        supplier=supplier,
        stranger=stranger,
        deploy_block_time=deploy_time,
        chain_id=int(w3.eth.chain_id),
    )


@dataclass
class ModelOrder:
    supplier: str
    nonce: int
    amount: int
    status: OrderStatus
    deliver_by: int
    marked_at: int = 0


@dataclass
class Model:
    """What the contract should hold, computed independently of it."""

    policy: Policy
    treasury: int = 0
    reserved: int = 0
    period_spent: int = 0
    period_end: int = 0
    period_budget_max: int = 0
    paused: bool = False
    surplus: int = 0
    distributed: int = 0
    claimable: dict[str, int] = field(default_factory=dict)
    orders: dict[bytes, ModelOrder] = field(default_factory=dict)
    cancelled: set[tuple[str, int]] = field(default_factory=set)
    paid: dict[str, int] = field(default_factory=dict)
    fills: dict[tuple[str, int], int] = field(default_factory=dict)


class ProfitCenterMachine(RuleBasedStateMachine):
    chain: Chain

    def __init__(self) -> None:
        super().__init__()
        c = self.chain
        self.snapshot = c.tester.take_snapshot()
        self.model = Model(
            policy=POLICY,
            period_end=c.deploy_block_time + POLICY.period_length,
            period_budget_max=POLICY.budget_per_period,
            claimable=dict.fromkeys(c.members, 0),
        )
        self.nonce = 0
        self.order_ids: list[bytes] = []

    # ---------------------------------------------------------------- helpers

    def latest_time(self) -> int:
        return int(self.chain.tester.get_block_by_number("latest")["timestamp"])

    def next_time(self) -> int:
        """Every transaction is mined in its own block, one second after the previous one."""
        return self.latest_time() + 1

    def read_uints(self, contract: Any, name: str, *args: Any) -> tuple[int, ...]:
        """A view call straight to eth-tester (web3's request pipeline costs more than the EVM)."""
        function = contract.get_function_by_name(name)
        data = contract.encode_abi(name, args)
        raw = self.chain.tester.call(
            {"from": self.chain.governor, "to": contract.address, "data": data}, "latest"
        )
        types = [output["type"] for output in function.abi["outputs"]]
        if types == ["tuple"]:
            types = [component["type"] for component in function.abi["outputs"][0]["components"]]
        return tuple(int(value) for value in abi_decode(types, bytes.fromhex(raw[2:])))

    def balance(self, who: str) -> int:
        return self.read_uints(self.chain.usdc, "balanceOf", who)[0]

    def send(self, call: Any, sender: str) -> bool:
        tx_hash = call.transact({"from": sender, "gas": GAS})
        return int(self.chain.w3.eth.get_transaction_receipt(tx_hash)["status"]) == 1

    def roll_period(self, now: int) -> None:
        m = self.model
        if now >= m.period_end:
            length = m.policy.period_length
            m.period_end += ((now - m.period_end) // length + 1) * length
            m.period_spent = 0
            m.period_budget_max = m.policy.budget_per_period

    def pick(self, index: int) -> tuple[bytes, ModelOrder]:
        oid = self.order_ids[index % len(self.order_ids)]
        return oid, self.model.orders[oid]

    def pay(self, oid: bytes, order: ModelOrder, paid: int, now: int) -> None:
        m = self.model
        m.reserved -= order.amount
        m.treasury -= paid
        m.paid[order.supplier] = m.paid.get(order.supplier, 0) + paid
        order.status = OrderStatus.SETTLED
        order.amount = paid
        order.marked_at = now

    # ------------------------------------------------------------------ rules

    @rule(amount=st.integers(1, 400 * USDC))
    def deposit(self, amount: int) -> None:
        assert self.send(
            self.chain.pc.contract.functions.depositRevenue(amount), self.chain.governor
        )
        self.model.treasury += amount

    @rule(amount=st.integers(1, 50 * USDC))
    def transfer_directly(self, amount: int) -> None:
        """Tokens sent without depositRevenue are surplus, not treasury (until distribute)."""
        assert self.send(
            self.chain.usdc.functions.transfer(self.chain.pc.address, amount), self.chain.governor
        )
        self.model.surplus += amount

    @rule(
        amount=st.integers(0, 100 * USDC),
        who=st.sampled_from(["agent", "hostile", "supplier"]),
        signer=st.sampled_from(["supplier", "stranger", "stranger-as-supplier", "impostor"]),
        reuse=st.booleans(),
        expired=st.booleans(),
        reuse_index=st.integers(0, 1000),
    )
    def place_order(
        self, amount: int, who: str, signer: str, reuse: bool, expired: bool, reuse_index: int
    ) -> None:
        c, m = self.chain, self.model
        now = self.next_time()
        if reuse and self.order_ids:
            _, old = self.pick(reuse_index)
            nonce = old.nonce
        else:
            self.nonce += 1
            nonce = self.nonce
        supplier = c.stranger if signer.startswith("stranger") else c.supplier
        key = c.stranger if signer == "stranger-as-supplier" else supplier
        if signer == "impostor":
            key = Account.from_key(b"\x0b" * 32)
        if signer == "stranger-as-supplier":
            supplier = c.supplier
        quote = Quote(
            supplier=supplier.address,
            buyer=c.pc.address,
            token=c.usdc.address,
            amount=amount,
            items_hash=b"\x07" * 32,
            deliver_by=now + 2 * DAY,
            expiry=now - 1 if expired else now + 3600,
            nonce=nonce,
        )
        signature = sign_quote(quote, c.chain_id, key.key)
        sender = {"agent": c.agent, "hostile": c.hostile, "supplier": supplier.address}[who]
        oid = order_id(supplier.address, nonce)

        awaiting = m.policy.autonomy == Autonomy.BOUND or (
            m.policy.autonomy == Autonomy.ADAPTABLE and amount > m.policy.auto_approval_threshold
        )
        self.roll_period(now)
        budget_ok = awaiting or m.period_spent + amount <= m.policy.budget_per_period
        expected = (
            not m.paused
            and sender == c.agent
            and not expired
            and 0 < amount <= m.policy.per_order_cap
            and supplier.address == c.supplier.address
            and oid not in m.orders
            and (supplier.address, nonce) not in m.cancelled
            and key.address == supplier.address
            and budget_ok
            and amount <= m.treasury - m.reserved
        )
        ok = self.send(c.pc.contract.functions.placeOrder(quote.as_tuple(), signature), sender)
        assert ok == expected
        if ok:
            m.fills[(supplier.address, nonce)] = m.fills.get((supplier.address, nonce), 0) + 1
            m.reserved += amount
            if not awaiting:
                m.period_spent += amount
            status = OrderStatus.AWAITING_APPROVAL if awaiting else OrderStatus.OPEN
            m.orders[oid] = ModelOrder(supplier.address, nonce, amount, status, now + 2 * DAY)
            self.order_ids.append(oid)

    @precondition(lambda self: bool(self.order_ids))
    @rule(index=st.integers(0, 1000), by_governor=st.booleans())
    def approve(self, index: int, by_governor: bool) -> None:
        c, m = self.chain, self.model
        oid, order = self.pick(index)
        now = self.next_time()
        self.roll_period(now)
        sender = c.governor if by_governor else c.agent
        expected = (
            by_governor
            and not m.paused
            and order.status == OrderStatus.AWAITING_APPROVAL
            and now <= order.deliver_by
            and m.period_spent + order.amount <= m.policy.budget_per_period
        )
        assert self.send(c.pc.contract.functions.approveOrder(oid), sender) == expected
        if expected:
            order.status = OrderStatus.OPEN
            m.period_spent += order.amount

    @precondition(lambda self: bool(self.order_ids))
    @rule(index=st.integers(0, 1000), by_governor=st.booleans())
    def reject(self, index: int, by_governor: bool) -> None:
        c, m = self.chain, self.model
        oid, order = self.pick(index)
        sender = c.governor if by_governor else c.hostile
        expected = by_governor and order.status == OrderStatus.AWAITING_APPROVAL
        assert self.send(c.pc.contract.functions.rejectOrder(oid), sender) == expected
        if expected:
            order.status = OrderStatus.REJECTED
            m.reserved -= order.amount

    @precondition(lambda self: bool(self.order_ids))
    @rule(
        index=st.integers(0, 1000),
        fraction=st.sampled_from([0, 1, 2, 3, 4, 5]),
        who=st.sampled_from(["agent", "hostile", "supplier", "governor"]),
    )
    def confirm(self, index: int, fraction: int, who: str) -> None:
        """fraction/4 of the amount: 0 (nothing arrived) .. 4 (all), 5 (more than ordered)."""
        c, m = self.chain, self.model
        oid, order = self.pick(index)
        amount = order.amount * fraction // 4 + (1 if fraction == 5 else 0)
        sender = {
            "agent": c.agent,
            "hostile": c.hostile,
            "supplier": order.supplier,
            "governor": c.governor,
        }[who]
        now = self.next_time()
        expected = (
            who == "agent" and not m.paused and order.status in OPEN_LIKE and amount <= order.amount
        )
        assert self.send(c.pc.contract.functions.confirmDelivery(oid, amount), sender) == expected
        if expected:
            self.pay(oid, order, amount, now)

    @precondition(lambda self: bool(self.order_ids))
    @rule(index=st.integers(0, 1000), by_supplier=st.booleans())
    def mark_delivered(self, index: int, by_supplier: bool) -> None:
        c, m = self.chain, self.model
        oid, order = self.pick(index)
        sender = order.supplier if by_supplier else c.agent
        now = self.next_time()
        expected = (
            by_supplier
            and not m.paused
            and order.status == OrderStatus.OPEN
            and now <= order.deliver_by
        )
        assert self.send(c.pc.contract.functions.markDelivered(oid), sender) == expected
        if expected:
            order.status = OrderStatus.DELIVERED
            order.marked_at = now

    @precondition(lambda self: bool(self.order_ids))
    @rule(index=st.integers(0, 1000), by_agent=st.booleans())
    def dispute(self, index: int, by_agent: bool) -> None:
        c, m = self.chain, self.model
        oid, order = self.pick(index)
        now = self.next_time()
        expected = (
            by_agent
            and not m.paused
            and order.status == OrderStatus.DELIVERED
            and now < order.marked_at + m.policy.dispute_window
        )
        sender = c.agent if by_agent else order.supplier
        assert self.send(c.pc.contract.functions.dispute(oid), sender) == expected
        if expected:
            order.status = OrderStatus.DISPUTED

    @precondition(lambda self: bool(self.order_ids))
    @rule(index=st.integers(0, 1000), by_governor=st.booleans(), fraction=st.integers(0, 4))
    def resolve(self, index: int, by_governor: bool, fraction: int) -> None:
        c = self.chain
        oid, order = self.pick(index)
        amount = order.amount * fraction // 4
        now = self.next_time()
        sender = c.governor if by_governor else c.agent
        expected = by_governor and order.status == OrderStatus.DISPUTED
        assert self.send(c.pc.contract.functions.resolveDispute(oid, amount), sender) == expected
        if expected:
            self.pay(oid, order, amount, now)

    @precondition(lambda self: bool(self.order_ids))
    @rule(index=st.integers(0, 1000), who=st.sampled_from(["supplier", "stranger", "agent"]))
    def claim_payment(self, index: int, who: str) -> None:
        c, m = self.chain, self.model
        oid, order = self.pick(index)
        sender = {"supplier": order.supplier, "stranger": c.stranger.address, "agent": c.agent}[who]
        now = self.next_time()
        expected = (
            sender == order.supplier
            and not m.paused
            and order.status == OrderStatus.DELIVERED
            and now >= order.marked_at + m.policy.dispute_window
        )
        assert self.send(c.pc.contract.functions.claimPayment(oid), sender) == expected
        if expected:
            self.pay(oid, order, order.amount, now)

    @precondition(lambda self: bool(self.order_ids))
    @rule(index=st.integers(0, 1000))
    def release_expired(self, index: int) -> None:
        c, m = self.chain, self.model
        oid, order = self.pick(index)
        now = self.next_time()
        expected = (
            order.status in (OrderStatus.OPEN, OrderStatus.AWAITING_APPROVAL)
            and now > order.deliver_by
        )
        assert self.send(c.pc.contract.functions.releaseExpired(oid), c.hostile) == expected
        if expected:
            order.status = OrderStatus.RELEASED
            m.reserved -= order.amount

    @rule(ahead=st.integers(0, 3), stranger=st.booleans())
    def cancel_nonce(self, ahead: int, stranger: bool) -> None:
        c, m = self.chain, self.model
        who = c.stranger if stranger else c.supplier
        nonce = self.nonce + 1 + ahead
        used = order_id(who.address, nonce) in m.orders or (who.address, nonce) in m.cancelled
        assert self.send(c.pc.contract.functions.cancelNonce(nonce), who.address) == (not used)
        m.cancelled.add((who.address, nonce))

    @rule(seconds=st.sampled_from([600, 13 * 3600, DAY + 3600, 3 * DAY, 8 * DAY]))
    def advance_time(self, seconds: int) -> None:
        self.chain.tester.time_travel(self.latest_time() + seconds)
        self.chain.tester.mine_blocks(1)

    @rule(who=st.sampled_from(["agent", "governor", "hostile"]))
    def pause(self, who: str) -> None:
        c, m = self.chain, self.model
        sender = {"agent": c.agent, "governor": c.governor, "hostile": c.hostile}[who]
        expected = who != "hostile" and not m.paused
        assert self.send(c.pc.contract.functions.pause(), sender) == expected
        m.paused = m.paused or expected

    @rule(who=st.sampled_from(["agent", "governor"]))
    def unpause(self, who: str) -> None:
        c, m = self.chain, self.model
        sender = c.agent if who == "agent" else c.governor
        expected = who == "governor" and m.paused
        assert self.send(c.pc.contract.functions.unpause(), sender) == expected
        m.paused = m.paused and not expected

    @rule(who=st.sampled_from(["agent", "governor", "hostile"]))
    def distribute(self, who: str) -> None:
        c, m = self.chain, self.model
        sender = {"agent": c.agent, "governor": c.governor, "hostile": c.hostile}[who]
        treasury = m.treasury + m.surplus
        kept = m.reserved + m.policy.operating_reserve
        expected = who != "hostile" and not m.paused and treasury > kept
        assert self.send(c.pc.contract.functions.distribute(), sender) == expected
        if expected:
            amount = treasury - kept
            m.treasury = kept
            m.surplus = 0
            m.distributed += amount
            shares = {c.members[0]: 5, c.members[1]: 3, c.members[2]: 2}
            given = 0
            for member in c.members[:-1]:
                part = amount * shares[member] // 10
                m.claimable[member] += part
                given += part
            m.claimable[c.members[-1]] += amount - given

    @rule(index=st.integers(0, 3))
    def claim(self, index: int) -> None:
        c, m = self.chain, self.model
        who = (*c.members, c.hostile)[index]
        expected = not m.paused and m.claimable.get(who, 0) > 0
        assert self.send(c.pc.contract.functions.claim(), who) == expected
        if expected:
            m.claimable[who] = 0

    @rule(
        autonomy=st.sampled_from(list(Autonomy)),
        budget=st.integers(0, 400 * USDC),
        by_governor=st.booleans(),
    )
    def set_policy(self, autonomy: Autonomy, budget: int, by_governor: bool) -> None:
        c, m = self.chain, self.model
        new = replace(m.policy, autonomy=autonomy, budget_per_period=budget)
        sender = c.governor if by_governor else c.agent
        assert self.send(c.pc.contract.functions.setPolicy(new.as_tuple()), sender) == by_governor
        if by_governor:
            self.roll_period(self.next_time() - 1)
            m.policy = new
            m.period_budget_max = max(m.period_budget_max, budget)

    # ------------------------------------------------------------- invariants

    @invariant()
    def money_is_accounted_and_only_quoted_suppliers_are_paid(self) -> None:
        """After every step: books match the model, reservations are covered by the
        treasury, the treasury and members' claims are backed by tokens held, spending
        in the period is within budget, and the supplier got exactly its payments."""
        c, m = self.chain, self.model
        treasury, reserved, period_spent, _, period_end = self.read_uints(
            c.pc.contract, "currentBooks"
        )
        held = self.balance(c.pc.address)
        (total_claimable,) = self.read_uints(c.pc.contract, "totalClaimable")
        assert reserved <= treasury
        assert treasury + total_claimable <= held
        assert (treasury, reserved) == (m.treasury, m.reserved)
        assert total_claimable == sum(m.claimable.values())
        assert held == m.treasury + m.surplus + total_claimable
        if self.latest_time() < m.period_end:
            assert (period_spent, period_end) == (m.period_spent, m.period_end)
        assert period_spent <= m.period_budget_max
        assert self.balance(c.supplier.address) == m.paid.get(c.supplier.address, 0)

    def teardown(self) -> None:
        """Checks whose quantities only ever grow run once per sequence, then the chain is reset.

        Bystanders (the unlisted supplier, the agent, the hostile caller) and members
        never send tokens here, so a payment to them at any step would still show now.
        """
        c, m = self.chain, self.model
        try:
            assert all(count == 1 for count in m.fills.values())
            for bystander in (c.stranger.address, c.agent, c.hostile):
                assert self.balance(bystander) == 0
            received = sum(self.balance(member) for member in c.members)
            assert received + sum(m.claimable.values()) == m.distributed
            for member in c.members:
                assert self.read_uints(c.pc.contract, "claimable", member)[0] == m.claimable[member]
        finally:
            c.tester.revert_to_snapshot(self.snapshot)


def test_profit_center_state_machine() -> None:
    ProfitCenterMachine.chain = _build_chain()
    run = ProfitCenterMachine.TestCase
    run.settings = settings(
        max_examples=300,
        stateful_step_count=10,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    run().runTest()
