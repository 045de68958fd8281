"""SIGKILL the supplier's watcher at 21 moments of its orders' lives; each order is paid once.

Anvil, the machine (its agent key places orders), the operator (marks deliveries
through the same SupplierStore file, as ``custobot supplier deliver`` does) and
time (moved past each dispute window) live in this test process and survive every
kill. The watcher harness (``watcher_proc``) runs the real ``Watcher.poll_once``
against anvil and the store's SQLite file; it is killed at the marked steps of the
claim path (before ``claimPayment`` is sent, after it is mined but before the
watcher saves it, after it is saved) and of order tracking, and at random delays.
Afterwards the chain and the store must agree: every order settled once, by the
supplier's claim, for its full amount, and recorded so in the store.
"""

from __future__ import annotations

import queue
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts.anvil import run_anvil
from contracts.profit_center import OrderSettled, OrderStatus, ProfitCenter
from supplier.desk import Desk
from supplier.protocol import Offer, Rfq, RfqLine
from supplier.store import OrderState, SupplierStore
from supplier.watcher import Watcher
from tests import forked
from tests.supplier import watcher_proc
from tests.supplier.chainworld import build_chain_world
from tests.supplier.conftest import COLA, DAY, LOCK, USDC

pytestmark = [pytest.mark.anvil, pytest.mark.e2e, pytest.mark.slow]

SEED = 20260311
KILLS = 21
TREASURY = 2_000 * USDC
QUANTITIES = (24, 36, 48, 60, 72)  # varied, so that a payment mixed up between orders shows
LINE_TIMEOUT_S = 120.0  # a guard against a hung watcher, not a timing check
IDLE_WAIT_S = 0.05  # how long the world waits for the watcher when it has nothing to do
# Where a kill lands exactly: the watcher hangs inside the log call of that event.
HOLD_AT = (
    "order_placed",  # order row committed, cursor not yet moved past its block
    "order_updated",  # delivered or settled row committed, cursor not yet moved
    "claim_sending",  # a due order found, claimPayment not yet sent
    "claim_mined",  # claimPayment mined (supplier paid), nothing saved yet
    "payment_claimed",  # claim and settlement saved
)
# Where a kill lands somewhere after a marker, after a random delay (seconds).
CLAIM_IN_FLIGHT = ("claim_sending", 0.03)  # signing, sending, the receipt, the save
KILL_AFTER = (
    ("watcher_started", 0.5),  # anywhere in the first polls
    ("claim_mined", 0.005),  # around saving claimed_tx and the settlement
    ("order_placed", 0.01),  # around moving the cursor
)


@dataclass(frozen=True, slots=True)
class Kill:
    event: str
    delay_s: float | None  # None: the watcher hangs at the event itself


def kill_plan(rng: random.Random) -> list[Kill]:
    """Every hold point once per round, plus a kill with a claim in flight and a random one."""
    kills: list[Kill] = []
    while len(kills) < KILLS:
        round_ = [Kill(event, None) for event in HOLD_AT]
        round_.append(Kill(CLAIM_IN_FLIGHT[0], rng.uniform(0, CLAIM_IN_FLIGHT[1])))
        event, longest = rng.choice(KILL_AFTER)
        round_.append(Kill(event, rng.uniform(0, longest)))
        kills.extend(rng.sample(round_, len(round_)))
    return kills[:KILLS]


class WatcherRun(forked.ForkedRun):
    """One life of the watcher process; its protocol lines arrive through a reader thread."""

    line_timeout_s = LINE_TIMEOUT_S

    def __init__(
        self, context: ForkServerContext, args: list[str], key: str, log_file: Path
    ) -> None:
        super().__init__(context, watcher_proc.forked, (args, key, forked.PIPE, str(log_file)))
        self.log_file = log_file
        self.ended = False

    def next_line(self, timeout: float) -> str | None:
        """The next protocol line, or None if none came within ``timeout``."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            self.ended = True
            self.process.join()
            tail = self.log_file.read_text()[-3000:]
            pytest.fail(f"the watcher ended by itself (exit {self.process.exitcode}):\n{tail}")
        self.seen.append(line)
        return line

    def stop(self) -> None:
        """End the run as a service stop would (SIGTERM): the current poll finishes."""
        self.process.terminate()
        self.drain()
        self.process.join()
        assert self.process.exitcode == 0
        assert self.seen[-1] == "DONE"


@dataclass
class World:
    """Everything outside the watcher: the chain, the machine, the operator, time.

    ``step`` does the next thing one of them would do and returns False while
    only the watcher can move things on. The operator marks an order only when no
    claim can be in flight (the operator and the watcher share the supplier's key,
    hence its transaction nonces); time moves to the end of the dispute window.
    """

    w3: Web3
    pc: ProfitCenter
    usdc: Any
    agent: LocalAccount
    desk: Desk
    store: SupplierStore
    operator: Watcher
    rng: random.Random
    amounts: dict[str, int] = field(default_factory=dict)  # chain order id -> amount
    dispute_until: dict[str, int] = field(default_factory=dict)  # marked orders

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def balance(self, who: str) -> int:
        return int(self.usdc.functions.balanceOf(who).call())

    def step(self, *, placing: bool) -> bool:
        awaiting_claim = [
            oid
            for oid in self.dispute_until
            if self.pc.order(bytes.fromhex(oid[2:])).status is OrderStatus.DELIVERED
        ]
        if awaiting_claim:
            latest_due = max(self.dispute_until[oid] for oid in awaiting_claim)
            if self.now() >= latest_due:
                return False  # the watcher's turn to claim
            self._move_time_to(latest_due)
            if placing:
                self._place()  # the next poll sees a new order and a due claim together
            return True
        unmarked = [oid for oid in self.amounts if oid not in self.dispute_until]
        for oid in unmarked:
            row = self.store.order_by_chain_id(self.operator.chain_id, self.pc.address, oid)
            if row is None:
                return False  # the watcher has not seen it yet
            assert row.id is not None
            assert row.state == OrderState.OPEN, row
            marked = self.operator.mark_delivered(row.id, self.now())
            assert marked.dispute_until is not None
            self.dispute_until[oid] = marked.dispute_until
            return True
        if placing:
            self._place()
            return True
        return False

    def settled(self) -> bool:
        """Every order placed is settled on chain and in the store."""
        rows = {row.order_id: row for row in self.store.orders()}
        return all(
            oid in rows
            and rows[oid].state == OrderState.SETTLED
            and self.pc.order(bytes.fromhex(oid[2:])).status is OrderStatus.SETTLED
            for oid in self.amounts
        )

    def _place(self) -> None:
        now = self.now()
        rfq = Rfq(
            rfq_id=f"claim-crash-rfq-{len(self.amounts):04d}",
            items=[RfqLine(gtin=COLA, quantity=self.rng.choice(QUANTITIES))],
            deliver_by=now + 3 * DAY,
            answer_by=now + 60,
            chain_id=int(self.w3.eth.chain_id),
            buyer=self.pc.address,
            token=self.pc.token(),
            machine_customer=True,
            counter_lock=LOCK,
        )
        offer = self.desk.open(rfq, now)
        assert isinstance(offer, Offer), offer
        placed = self.pc.place_order(offer.to_quote(), offer.signature_bytes(), sender=self.agent)
        assert not placed.awaiting_approval
        self.amounts["0x" + placed.order_id.hex()] = offer.amount

    def _move_time_to(self, timestamp: int) -> None:
        provider: Any = self.w3.provider
        provider.make_request("evm_setNextBlockTimestamp", [timestamp])
        provider.make_request("evm_mine", [])


@pytest.fixture
def anvil(anvil_binary: Path) -> Iterator[str]:
    with run_anvil(anvil_binary) as url:
        yield url


def make_world(w3: Web3, tmp_path: Path, supplier: LocalAccount, rng: random.Random) -> World:
    """A ProfitCenter on anvil with a funded treasury, the supplier allowed, its desk and store."""
    chain = build_chain_world(w3, tmp_path, supplier, TREASURY)
    operator = chain.watcher  # shares the desk's store connection
    return World(w3, chain.pc, chain.usdc, chain.agent, chain.desk, chain.store, operator, rng)


def drive_to(kill: Kill, run: WatcherRun, world: World) -> None:
    """Move the world on while the watcher works, until the moment of ``kill``."""
    deadline = time.monotonic() + LINE_TIMEOUT_S
    idle = False
    while time.monotonic() < deadline:
        line = run.next_line(IDLE_WAIT_S if idle else 0.0)
        if line is None:
            idle = not world.step(placing=True)
            continue
        idle = False
        if kill.delay_s is None and line == f"HOLD {kill.event}":
            return
        if kill.delay_s is not None and line.startswith(f"MARK {kill.event} "):
            time.sleep(kill.delay_s)
            return
    pytest.fail(f"the moment of {kill} never came")


def killed_mid_claim(lines: list[str]) -> tuple[set[str], set[str]]:
    """Orders whose claim was started (and mined) in a run but whose save was never reported."""
    started = {line.split()[2] for line in lines if line.startswith("MARK claim_sending ")}
    mined = {line.split()[2] for line in lines if line.startswith("MARK claim_mined ")}
    saved = {line.split()[2] for line in lines if line.startswith("MARK payment_claimed ")}
    return started - saved, mined - saved


def test_sigkilled_supplier_watcher_claims_every_order_exactly_once(
    anvil: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    w3 = Web3(Web3.HTTPProvider(anvil))
    supplier: LocalAccount = Account.create()
    world = make_world(w3, tmp_path, supplier, rng)
    balance_before = world.balance(supplier.address)
    first_block = int(w3.eth.block_number)
    context = forked.fork_server(watcher_proc.__name__)
    key = "0x" + bytes(supplier.key).hex()
    args = [str(world.store.path), anvil, world.pc.address]
    log_file = tmp_path / "watcher.log"
    lines: list[str] = []
    in_flight_kills = 0
    mined_unsaved_kills = 0
    for kill in kill_plan(rng):
        hold = [] if kill.delay_s is not None else ["--hold", kill.event]
        run = WatcherRun(context, [*args, *hold], key, log_file)
        drive_to(kill, run, world)
        run.sigkill()
        started, mined = killed_mid_claim(run.seen)
        before_sending = kill == Kill("claim_sending", None)
        in_flight_kills += bool(started) and not before_sending
        mined_unsaved_kills += bool(mined)
        lines += run.seen
    # The last restart runs undisturbed until everything placed is settled, then a few polls more.
    final = WatcherRun(context, args, key, log_file)
    deadline = time.monotonic() + LINE_TIMEOUT_S
    while not world.settled():
        assert time.monotonic() < deadline, "the store and the chain never converged"
        if final.next_line(0.0) is None and not world.step(placing=False):
            final.next_line(IDLE_WAIT_S)
    time.sleep(10 * watcher_proc.POLL_S)
    final.stop()
    lines += final.seen

    orders = world.amounts
    assert len(orders) >= 8, "the kills should span many order lifecycles"
    # Kills landed between sending a claim and saving it (at least the three held right
    # after it was mined, and most of the kills a few milliseconds after it started).
    assert in_flight_kills >= 5
    assert mined_unsaved_kills >= 3
    assert not [line for line in lines if line.startswith("MARK claim_failed")]

    # The chain: each order settled exactly once, by the supplier's claim, in full.
    settlements = [
        event
        for event in world.pc.events(first_block, int(w3.eth.block_number))
        if isinstance(event, OrderSettled)
    ]
    per_order = Counter("0x" + event.order_id.hex() for event in settlements)
    assert per_order == Counter(dict.fromkeys(orders, 1))
    settle_tx: dict[str, str] = {}
    for event in settlements:
        oid = "0x" + event.order_id.hex()
        assert (event.supplier, event.paid, event.released) == (supplier.address, orders[oid], 0)
        sent = w3.eth.get_transaction(event.meta.tx_hash)  # type: ignore[arg-type]
        assert sent["from"] == supplier.address  # claimed, not confirmed by the machine
        settle_tx[oid] = "0x" + event.meta.tx_hash.hex()
    for oid, amount in orders.items():
        on_chain = world.pc.order(bytes.fromhex(oid[2:]))
        assert (on_chain.status, on_chain.amount) == (OrderStatus.SETTLED, amount)
    assert world.balance(supplier.address) == balance_before + sum(orders.values())
    # One markDelivered and one claimPayment per order: no claim was ever sent twice.
    assert w3.eth.get_transaction_count(supplier.address) == 2 * len(orders)

    # The store: one row per order, settled, paid in full, the claim's transaction recorded.
    rows = world.store.orders()
    assert sorted(row.order_id for row in rows) == sorted(orders)
    for row in rows:
        assert row.state == OrderState.SETTLED, row
        amount = orders[row.order_id]
        assert (row.amount, row.paid, row.known_quote) == (amount, amount, True), row
        assert row.claimed_tx == settle_tx[row.order_id], row
    world.store.close()
