"""Stateful property test: random sequences of everything anyone can do to a ProfitCenter.

A plain-Python model predicts whether each call succeeds; after every step the
chain is checked against the safety properties of issue #16:
- no token ever leaves the contract except to a supplier that was allowed (for the
  settlement token) when its order was placed, or to a member claiming what was
  distributed to it;
- what the agent commits over any window of t seconds is at most the refill
  rule's bound, budget * (1 + t / period) (plus one base unit of rounding);
- reserved <= treasury, and the books equal the token balance minus unrecognised
  surplus; a quote fills at most once.
The agent key is held by a thief: it signs quotes with keys of its own, names
address(0) and other tokens, and pauses at will.

Runs on eth-tester (in-process, fast). The chain is moved far into the future so
every block is exactly one second after the previous one, which makes every
timestamp predictable; each example starts from a snapshot and is reverted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts.artifacts import load_artifact
from contracts.deploy import deploy_contract, deploy_profit_center
from contracts.profit_center import Autonomy, OrderStatus, Policy, ProfitCenter, order_id
from contracts.quote import Quote, sign_quote

USDC = 1_000_000
DAY = 24 * 3600
GAS = 1_000_000
START = 2_000_000_000
RESUME_GRACE = DAY
RESOLUTION_PERIOD = 14 * DAY
ZERO = "0x" + "00" * 20
POLICY = Policy(
    autonomy=Autonomy.ADAPTABLE,
    auto_approval_threshold=30 * USDC,
    per_order_cap=80 * USDC,
    budget_per_period=200 * USDC,
    period_length=7 * DAY,
    operating_reserve=40 * USDC,
    dispute_window=DAY,
)
SHARES = (5, 3, 2)
# CI runs the 1,000 sequences; CUSTOBOT_INVARIANT_EXAMPLES raises it for a soak.
EXAMPLES = int(os.environ.get("CUSTOBOT_INVARIANT_EXAMPLES", "1000"))


@dataclass
class Chain:
    """One deployed machine on eth-tester, shared by every example (reverted in between)."""

    w3: Web3
    tester: Any
    pc: ProfitCenter
    usdc: Any
    lens: Any
    other_token: str
    governor: str
    agent: str
    hostile: str
    members: tuple[str, ...]
    supplier: LocalAccount  # allowed at the start
    stranger: LocalAccount  # a supplier that is never allowed
    thief: LocalAccount  # the thief's own signing key
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
    thief: LocalAccount = Account.from_key(b"\x66" * 32)
    for key in (supplier, stranger, thief):
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
    pc.set_members(dict(zip(members, SHARES, strict=True)), sender=governor)
    return Chain(
        w3=w3,
        tester=tester,
        pc=pc,
        usdc=usdc,
        lens=w3.eth.contract(  # type: ignore[call-overload]
            address=deploy_contract(w3, "ProfitCenterLens", sender=governor),
            abi=load_artifact("ProfitCenterLens").abi,
        ),
        other_token=deploy_contract(w3, "MockUSDC", sender=governor),
        governor=governor,
        agent=agent,
        hostile=hostile,
        members=members,
        supplier=supplier,
        stranger=stranger,
        thief=thief,
        deploy_block_time=deploy_time,
        chain_id=int(w3.eth.chain_id),
    )


@dataclass
class Bucket:
    """The contract's refilling budget, computed the same way in integers."""

    available: int
    budget: int
    period: int
    refilled_at: int

    def refilled(self, now: int) -> Bucket:
        b = replace(self)
        elapsed = now - b.refilled_at
        if elapsed <= 0:
            return b
        if b.available >= b.budget:
            b.available, b.refilled_at = b.budget, now
            return b
        refill = elapsed * b.budget // b.period
        if refill:
            b.available, b.refilled_at = min(b.budget, b.available + refill), now
        return b


@dataclass
class ModelOrder:
    supplier: str
    nonce: int
    amount: int
    status: OrderStatus
    time: int  # deliver-by, then dispute-until, then resolve-by (as the contract stores it)


@dataclass
class Model:
    """What the contract should hold, computed independently of it."""

    policy: Policy
    bucket: Bucket
    allowed: set[str]
    treasury: int = 0
    reserved: int = 0
    max_budget: int = 0
    paused: bool = False
    pause_start: int = 2**32 - 1
    resumed_at: int = 0
    surplus: int = 0
    distributed: int = 0
    claimable: dict[str, int] = field(default_factory=dict)
    orders: dict[bytes, ModelOrder] = field(default_factory=dict)
    cancelled: set[tuple[str, int]] = field(default_factory=set)
    paid: dict[str, int] = field(default_factory=dict)
    fills: dict[tuple[str, int], int] = field(default_factory=dict)
    commitments: list[tuple[int, int]] = field(default_factory=list)  # (time, amount)

    def effective(self, deadline: int) -> int:
        """A stored deadline with paused time not counted (the contract's rule)."""
        if self.paused:
            return 2**256
        if deadline < self.pause_start:
            return deadline
        return max(deadline, self.resumed_at + RESUME_GRACE)


class ProfitCenterMachine(RuleBasedStateMachine):
    chain: Chain

    def __init__(self) -> None:
        super().__init__()
        c = self.chain
        self.snapshot = c.tester.take_snapshot()
        budget = POLICY.budget_per_period
        self.model = Model(
            policy=POLICY,
            bucket=Bucket(budget, budget, POLICY.period_length, c.deploy_block_time),
            allowed={c.supplier.address},
            max_budget=budget,
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

    def books_and_balances(self, *accounts: str) -> tuple[list[int], list[int]]:
        """[treasury, reserved, available, budget, refilled at, total claimable, held] and
        the token balance of each of ``accounts``, in one EVM call (ProfitCenterLens)."""
        c = self.chain
        data = c.lens.encode_abi("snapshot", (c.pc.address, c.usdc.address, list(accounts)))
        raw = c.tester.call({"from": c.governor, "to": c.lens.address, "data": data}, "latest")
        (values,) = abi_decode(["uint256[]"], bytes.fromhex(raw[2:]))
        return [int(v) for v in values[:7]], [int(v) for v in values[7:]]

    def send(self, call: Any, sender: str) -> bool:
        """Mine ``call`` from ``sender`` straight through eth-tester; True if it succeeded."""
        c = self.chain
        to = call.address
        data = call._encode_transaction_data()
        tx_hash = c.tester.send_transaction(
            {"from": sender, "to": to, "gas": GAS, "value": 0, "data": data}
        )
        return int(c.tester.get_transaction_receipt(tx_hash)["status"]) == 1

    def pick(self, index: int) -> tuple[bytes, ModelOrder]:
        oid = self.order_ids[index % len(self.order_ids)]
        return oid, self.model.orders[oid]

    def pay(self, order: ModelOrder, paid: int, now: int) -> None:
        m = self.model
        m.reserved -= order.amount
        m.treasury -= paid
        m.paid[order.supplier] = m.paid.get(order.supplier, 0) + paid
        order.status = OrderStatus.SETTLED
        order.amount = paid
        order.time = now

    def end_unpaid(self, order: ModelOrder, status: OrderStatus) -> None:
        order.status = status
        self.model.reserved -= order.amount

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
        signer=st.sampled_from(
            ["supplier", "stranger", "stranger-as-supplier", "impostor", "thief"]
        ),
        token=st.sampled_from(["usdc", "zero", "other"]),
        reuse=st.booleans(),
        expired=st.booleans(),
        reuse_index=st.integers(0, 1000),
    )
    def place_order(
        self,
        amount: int,
        who: str,
        signer: str,
        token: str,
        reuse: bool,
        expired: bool,
        reuse_index: int,
    ) -> None:
        c, m = self.chain, self.model
        now = self.next_time()
        if reuse and self.order_ids:
            _, old = self.pick(reuse_index)
            nonce = old.nonce
        else:
            self.nonce += 1
            nonce = self.nonce
        supplier = {"stranger": c.stranger, "thief": c.thief}.get(signer, c.supplier)
        key = {"stranger-as-supplier": c.stranger, "impostor": Account.from_key(b"\x0b" * 32)}.get(
            signer, supplier
        )
        token_address = {"usdc": c.usdc.address, "zero": ZERO, "other": c.other_token}[token]
        expiry = now - 1 if expired else now + 3600
        quote = Quote(
            supplier=supplier.address,
            buyer=c.pc.address,
            token=token_address,
            amount=amount,
            items_hash=b"\x07" * 32,
            deliver_by=now + 2 * DAY,
            expiry=expiry,
            nonce=nonce,
        )
        signature = sign_quote(quote, c.chain_id, key.key)
        sender = {"agent": c.agent, "hostile": c.hostile, "supplier": supplier.address}[who]
        oid = order_id(supplier.address, nonce)

        awaiting = m.policy.autonomy == Autonomy.BOUND or (
            m.policy.autonomy == Autonomy.ADAPTABLE and amount > m.policy.auto_approval_threshold
        )
        bucket = m.bucket.refilled(now)
        expected = (
            not m.paused
            and sender == c.agent
            and token == "usdc"
            and not expired
            and 0 < amount <= m.policy.per_order_cap
            and supplier.address in m.allowed
            and oid not in m.orders
            and (supplier.address, nonce) not in m.cancelled
            and key.address == supplier.address
            and amount <= bucket.available
            and amount <= m.treasury - m.reserved
        )
        ok = self.send(c.pc.contract.functions.placeOrder(quote.as_tuple(), signature), sender)
        assert ok == expected
        if ok:
            m.fills[(supplier.address, nonce)] = m.fills.get((supplier.address, nonce), 0) + 1
            m.reserved += amount
            bucket.available -= amount
            m.bucket = bucket
            m.commitments.append((now, amount))
            status = OrderStatus.AWAITING_APPROVAL if awaiting else OrderStatus.OPEN
            m.orders[oid] = ModelOrder(supplier.address, nonce, amount, status, now + 2 * DAY)
            self.order_ids.append(oid)

    @precondition(lambda self: bool(self.order_ids))
    @rule(index=st.integers(0, 1000), by_governor=st.booleans())
    def approve(self, index: int, by_governor: bool) -> None:
        c, m = self.chain, self.model
        oid, order = self.pick(index)
        now = self.next_time()
        sender = c.governor if by_governor else c.agent
        expected = (
            by_governor
            and not m.paused
            and order.status == OrderStatus.AWAITING_APPROVAL
            and now <= m.effective(order.time)
            and order.supplier in m.allowed
        )
        assert self.send(c.pc.contract.functions.approveOrder(oid), sender) == expected
        if expected:
            order.status = OrderStatus.OPEN

    @precondition(lambda self: bool(self.order_ids))
    @rule(
        index=st.integers(0, 1000),
        action=st.sampled_from(["reject", "cancel", "withdraw"]),
        by_owner=st.booleans(),
    )
    def end_unpaid_order(self, index: int, action: str, by_owner: bool) -> None:
        """The governor rejects (pending) or cancels (open); the supplier withdraws (pending)."""
        c = self.chain
        oid, order = self.pick(index)
        owner = order.supplier if action == "withdraw" else c.governor
        sender = owner if by_owner else c.agent
        needed = OrderStatus.OPEN if action == "cancel" else OrderStatus.AWAITING_APPROVAL
        expected = by_owner and order.status == needed
        function = {"reject": "rejectOrder", "cancel": "cancelOrder", "withdraw": "withdrawOrder"}
        call = c.pc.contract.functions[function[action]](oid)
        assert self.send(call, sender) == expected
        if expected:
            status = {
                "reject": OrderStatus.REJECTED,
                "cancel": OrderStatus.CANCELLED,
                "withdraw": OrderStatus.WITHDRAWN,
            }[action]
            self.end_unpaid(order, status)

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
        underpaid_late = order.status != OrderStatus.OPEN and (
            order.status == OrderStatus.DISPUTED or now >= m.effective(order.time)
        )
        expected = (
            who == "agent"
            and not m.paused
            and order.status in (OrderStatus.OPEN, OrderStatus.DELIVERED, OrderStatus.DISPUTED)
            and amount <= order.amount
            and not (amount < order.amount and underpaid_late)
            and order.supplier in m.allowed
        )
        assert self.send(c.pc.contract.functions.confirmDelivery(oid, amount), sender) == expected
        if expected:
            self.pay(order, amount, now)

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
            and now <= m.effective(order.time)
        )
        assert self.send(c.pc.contract.functions.markDelivered(oid), sender) == expected
        if expected:
            order.status = OrderStatus.DELIVERED
            order.time = now + m.policy.dispute_window

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
            and now < m.effective(order.time)
        )
        sender = c.agent if by_agent else order.supplier
        assert self.send(c.pc.contract.functions.dispute(oid), sender) == expected
        if expected:
            order.status = OrderStatus.DISPUTED
            order.time = now + RESOLUTION_PERIOD

    @precondition(lambda self: bool(self.order_ids))
    @rule(index=st.integers(0, 1000), by_governor=st.booleans(), fraction=st.integers(0, 4))
    def resolve(self, index: int, by_governor: bool, fraction: int) -> None:
        c = self.chain
        oid, order = self.pick(index)
        amount = order.amount * fraction // 4
        now = self.next_time()
        sender = c.governor if by_governor else c.agent
        expected = by_governor and order.status in (OrderStatus.DISPUTED, OrderStatus.DELIVERED)
        assert self.send(c.pc.contract.functions.resolveDispute(oid, amount), sender) == expected
        if expected:
            self.pay(order, amount, now)

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
            and order.status in (OrderStatus.DELIVERED, OrderStatus.DISPUTED)
            and now >= m.effective(order.time)
            and order.supplier in m.allowed
        )
        assert self.send(c.pc.contract.functions.claimPayment(oid), sender) == expected
        if expected:
            self.pay(order, order.amount, now)

    @precondition(lambda self: bool(self.order_ids))
    @rule(index=st.integers(0, 1000))
    def release_expired(self, index: int) -> None:
        c, m = self.chain, self.model
        oid, order = self.pick(index)
        now = self.next_time()
        expected = order.status in (
            OrderStatus.OPEN,
            OrderStatus.AWAITING_APPROVAL,
        ) and now > m.effective(order.time)
        assert self.send(c.pc.contract.functions.releaseExpired(oid), c.hostile) == expected
        if expected:
            self.end_unpaid(order, OrderStatus.RELEASED)

    @rule(ahead=st.integers(0, 3), stranger=st.booleans())
    def cancel_nonce(self, ahead: int, stranger: bool) -> None:
        c, m = self.chain, self.model
        who = c.stranger if stranger else c.supplier
        nonce = self.nonce + 1 + ahead
        used = order_id(who.address, nonce) in m.orders or (who.address, nonce) in m.cancelled
        assert self.send(c.pc.contract.functions.cancelNonce(nonce), who.address) == (not used)
        m.cancelled.add((who.address, nonce))

    @rule(seconds=st.sampled_from([600, 13 * 3600, DAY + 3600, 3 * DAY, 8 * DAY, 15 * DAY]))
    def advance_time(self, seconds: int) -> None:
        self.chain.tester.time_travel(self.latest_time() + seconds)
        self.chain.tester.mine_blocks(1)

    @rule(who=st.sampled_from(["agent", "governor", "hostile"]))
    def pause(self, who: str) -> None:
        c, m = self.chain, self.model
        sender = {"agent": c.agent, "governor": c.governor, "hostile": c.hostile}[who]
        now = self.next_time()
        expected = who != "hostile" and not m.paused
        assert self.send(c.pc.contract.functions.pause(), sender) == expected
        if expected:
            if now >= m.resumed_at + RESUME_GRACE:
                m.pause_start = now
            m.paused = True

    @rule(who=st.sampled_from(["agent", "governor"]))
    def unpause(self, who: str) -> None:
        c, m = self.chain, self.model
        sender = c.agent if who == "agent" else c.governor
        now = self.next_time()
        expected = who == "governor" and m.paused
        assert self.send(c.pc.contract.functions.unpause(), sender) == expected
        if expected:
            m.paused = False
            m.resumed_at = now

    @rule(who=st.sampled_from(["agent", "governor", "hostile"]))
    def distribute(self, who: str) -> None:
        c, m = self.chain, self.model
        sender = {"agent": c.agent, "governor": c.governor, "hostile": c.hostile}[who]
        treasury = m.treasury + m.surplus
        kept = m.reserved + m.policy.operating_reserve
        amount = max(0, treasury - kept)
        parts = [amount * share // sum(SHARES) for share in SHARES]
        expected = who != "hostile" and sum(parts) > 0
        assert self.send(c.pc.contract.functions.distribute(), sender) == expected
        if expected:
            m.treasury = treasury - sum(parts)
            m.surplus = 0
            m.distributed += sum(parts)
            for member, part in zip(c.members, parts, strict=True):
                m.claimable[member] += part

    @rule(index=st.integers(0, 3))
    def claim(self, index: int) -> None:
        c, m = self.chain, self.model
        who = (*c.members, c.hostile)[index]
        expected = m.claimable.get(who, 0) > 0  # also while paused
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
        now = self.next_time()
        sender = c.governor if by_governor else c.agent
        assert self.send(c.pc.contract.functions.setPolicy(new.as_tuple()), sender) == by_governor
        if by_governor:
            bucket = m.bucket.refilled(now)
            committed = bucket.budget - bucket.available
            bucket.budget = budget
            bucket.available = max(0, budget - committed)
            bucket.refilled_at = now
            m.bucket = bucket
            m.policy = new
            m.max_budget = max(m.max_budget, budget)

    @rule(allowed=st.booleans(), by_governor=st.booleans())
    def set_supplier(self, allowed: bool, by_governor: bool) -> None:
        c, m = self.chain, self.model
        sender = c.governor if by_governor else c.agent
        call = c.pc.contract.functions.setSupplier(c.supplier.address, allowed)
        assert self.send(call, sender) == by_governor
        if by_governor:
            (m.allowed.add if allowed else m.allowed.discard)(c.supplier.address)

    # ------------------------------------------------------------- invariants

    @invariant()
    def money_is_accounted_and_only_allowed_suppliers_are_paid(self) -> None:
        """After every step: books match the model, reservations are covered by the
        treasury, the treasury and members' claims are backed by tokens held (the rest is
        unrecognised surplus), and only the allowed supplier received payments: exactly
        those of its orders. The thief's keys, the stranger and bystanders got nothing."""
        c, m = self.chain, self.model
        outsiders = (c.stranger.address, c.thief.address, c.agent, c.hostile)
        books, balances = self.books_and_balances(c.supplier.address, *outsiders)
        treasury, reserved, available, budget, _, total_claimable, held = books
        assert reserved <= treasury
        assert (treasury, reserved, budget) == (m.treasury, m.reserved, m.bucket.budget)
        assert available <= budget
        assert total_claimable == sum(m.claimable.values())
        assert held == m.treasury + m.surplus + total_claimable
        assert balances[0] == m.paid.get(c.supplier.address, 0)
        assert balances[1:] == [0] * len(outsiders)

    def teardown(self) -> None:
        """Checks over the whole sequence, then the chain is reset: a quote filled once,
        members received exactly what was distributed, and what the agent committed in
        every window of the sequence is within the refill rule's bound."""
        c, m = self.chain, self.model
        try:
            assert all(count == 1 for count in m.fills.values())
            received = sum(self.books_and_balances(*c.members)[1])
            assert received + sum(m.claimable.values()) == m.distributed
            for member in c.members:
                assert self.read_uints(c.pc.contract, "claimable", member)[0] == m.claimable[member]
            assert_within_refill_bound(m.commitments, m.max_budget, POLICY.period_length)
        finally:
            c.tester.revert_to_snapshot(self.snapshot)


def assert_within_refill_bound(
    commitments: list[tuple[int, int]], budget: int, period: int
) -> None:
    """Over every window [t_i, t_j] of placements: committed <= budget * (1 + t / period) + 1."""
    for i, (start, _) in enumerate(commitments):
        total = 0
        for end, amount in commitments[i:]:
            total += amount
            assert total <= budget + (end - start) * budget // period + 1, (start, end, total)


@pytest.mark.timeout(1800)  # long by design: bounded by its action count
def test_profit_center_state_machine() -> None:
    ProfitCenterMachine.chain = _build_chain()
    run = ProfitCenterMachine.TestCase
    run.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=10,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    run().runTest()
