"""``custobot demo``: the whole machine customer in one process, on accelerated time.

Mock pins and simulated customers (``SimulatedMachine``), an in-process chain
with MockUSDC and a deployed ProfitCenter (``DevChain``), and three reference
suppliers served over real HTTP on 127.0.0.1, each with its own negotiation
strategy, signing key and chain watcher. Suppliers deliver after their lead
time by opening the machine's door and filling the slots; the machine counts
what arrived and pays for it on-chain. Everything that decides is the real code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog
from eth_account import Account

from contracts.chain import send
from contracts.profit_center import Autonomy, OrderStatus, Policy
from dashboard.machine import LiveMachineView
from device.demo_shell import DEMO_POLICY, DemoDashboard, serve_owner_dashboard
from device.devchain import DevChain
from device.drivers.simulation import SimulationDriver
from device.negotiation.buyer import Buyer
from device.procurement.cycle import ChainContext
from device.procurement.models import OrderState, PurchaseOrder
from device.procurement.outbox import Outbox
from device.settings import Settings
from device.store.db import Store
from device.vending.restock import KnownSupplier, Restocking, meet_supplier
from device.vending.sim.machine import SimulatedMachine
from device.vending.sim.scenarios import Scenario
from supplier.app import create_app
from supplier.keys import Signer
from supplier.settings import SupplierSettings
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread
from supplier.watcher import Watcher

log = structlog.get_logger()
USDC = 1_000_000


@dataclass(frozen=True, slots=True)
class DemoSupplier:
    """A reference supplier of the demo: strategy, speed and how its prices sit vs retail."""

    name: str
    strategy: dict[str, object]
    lead_hours: int
    list_share: float  # list price as a share of the machine's retail price
    floor_share: float
    honest: bool = True  # False: marks orders delivered on-chain and never comes
    gtins: frozenset[str] | None = None  # what it sells; None: every item of the machine
    cheats: int = 0  # its first ``cheats`` orders: marked delivered on-chain, never brought
    short: int = 0  # its first ``short`` deliveries bring half of what was ordered


@dataclass(frozen=True, slots=True)
class DemoOwners:
    """The owners' side of the showcase demo: who shares the profit (the agent distributes
    what is above the operating reserve once a week) and when they approve a waiting order."""

    members: dict[str, int]  # name -> share
    approve_after: timedelta  # an order waiting this long is approved by the owners


# ``custobot demo`` shows every path an owner meets: orders above 20 USDC wait for the
# owners (adaptable autonomy), three members share a payout, a first delivery brings half
# of an order (paid for what arrived) and one claims a delivery it never made (disputed).
SHOWCASE_POLICY = Policy(
    autonomy=Autonomy.ADAPTABLE,
    auto_approval_threshold=20 * USDC,
    per_order_cap=DEMO_POLICY.per_order_cap,
    budget_per_period=DEMO_POLICY.budget_per_period,
    period_length=DEMO_POLICY.period_length,
    # The week's payout at the first plan leaves this much to buy with.
    operating_reserve=200 * USDC,
    dispute_window=DEMO_POLICY.dispute_window,
)


def showcase_start(now: datetime) -> datetime:
    """The first Monday midnight (UTC) at least an hour after ``now``.

    The showcase tells an office week from its start, so it shows the same paths
    whatever day it runs (a Thursday or weekend start buys too little at first for an
    order to wait for the owners). The hour lets the in-process chain, whose clock
    starts at the wall clock and only moves forward, be deployed before it.
    """
    day = (now + timedelta(hours=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if day < now + timedelta(hours=1):
        day += timedelta(days=1)
    return day + timedelta(days=-day.weekday() % 7)


SHOWCASE_OWNERS = DemoOwners(
    members={"Ada (operator)": 50, "Ben (landlord)": 30, "Cleo (investor)": 20},
    approve_after=timedelta(hours=12),
)

DEMO_SUPPLIERS = (
    DemoSupplier("Acme Wholesale", {"kind": "boulware", "beta": 0.3}, 18, 0.50, 0.32),
    DemoSupplier("Corner Cash & Carry", {"kind": "conceder", "beta": 4.0}, 12, 0.56, 0.40),
    DemoSupplier("Quick Drinks Co", {"kind": "tit_for_tat"}, 8, 0.62, 0.45),
)
# Which supplier wins an order depends on the negotiation, so each honest supplier's first
# delivery brings half: whoever the agent buys from, an owner sees a short delivery.
SHOWCASE_SUPPLIERS = (
    replace(DEMO_SUPPLIERS[0], short=1),
    replace(DEMO_SUPPLIERS[1], cheats=1),  # its first order is claimed, never brought
    replace(DEMO_SUPPLIERS[2], short=1),
)


@dataclass(slots=True)
class _Delivery:
    order_id: str
    supplier: str
    lines: list[dict[str, int | str]]


class DemoWorld:
    """The demo machine, its chain and its suppliers; ``run(days)`` advances them together."""

    def __init__(
        self,
        settings: Settings,
        scenario: Scenario,
        *,
        scratch: Path,
        start: datetime,
        seed: int = 1,
        speed: float | None = None,
        poll_every: timedelta = timedelta(minutes=15),
        chain: DevChain | None = None,
        suppliers: Sequence[DemoSupplier] = DEMO_SUPPLIERS,
        owners: DemoOwners | None = None,
    ) -> None:
        """``chain`` defaults to a fresh in-process chain with ``DEMO_POLICY``; pass a
        ``DevChain`` on anvil (or any node) to run the same world over JSON-RPC."""
        self._stack = ExitStack()
        self.driver = SimulationDriver(start, speed=speed)
        self.specs = {spec.name: spec for spec in suppliers}
        self.chain = chain or DevChain.in_process(DEMO_POLICY)
        if int(start.timestamp()) < self.chain.now():
            raise ValueError("the simulation cannot start before the chain's latest block")
        self.chain.set_time(int(start.timestamp()))
        self._seed_treasury(300 * USDC)
        self.watchers: dict[str, Watcher] = {}
        self.supplier_urls: dict[str, str] = {}
        self._deliveries: dict[str, _Delivery] = {}
        self._settled = 0
        self._orders_of: dict[str, int] = {}  # supplier -> orders scheduled so far
        self.owners = owners
        self.member_names: dict[str, str] = {}  # address -> name
        if owners is not None:
            self._set_members(owners)
        self.machine = SimulatedMachine(
            settings,
            scenario,
            database=scratch / "machine.db",
            start=start,
            seed=seed,
            driver=self.driver,
            route_every=None,
            poll_every=poll_every,
            procurement=lambda store: self._procurement(settings, store, scratch),
            # The operator stocks it once by hand; from then on it buys for itself.
            initial_stock={s.id: max(2, s.par // 2) for s in settings.slots},
        )
        self.machine.driver.every("world", poll_every, self._world_tick)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.machine.close()
        self._stack.close()

    def _set_members(self, owners: DemoOwners) -> None:
        addresses = {name: Account.create().address for name in owners.members}
        self.member_names = {address: name for name, address in addresses.items()}
        shares = {addresses[name]: share for name, share in owners.members.items()}
        self.chain.pc.set_members(shares, sender=self.chain.governor)
        log.info("demo_members_set", members=len(shares))

    def _owners_tick(self, now: datetime, orders: Sequence[PurchaseOrder]) -> None:
        """The owners approve an order that has waited ``approve_after`` (in the browser,
        the newcomer may approve it first)."""
        assert self.owners is not None
        for order in orders:
            if order.state is not OrderState.AWAITING_APPROVAL:
                continue
            if now - order.created_at < self.owners.approve_after:
                continue
            oid = bytes.fromhex(order.order_id[2:])
            if self.chain.pc.order(oid).status is OrderStatus.AWAITING_APPROVAL:
                self.chain.pc.approve_order(oid, sender=self.chain.governor)
                log.info("demo_owner_approved", order=order.order_id, amount=order.amount)

    def _seed_treasury(self, amount: int) -> None:
        chain = self.chain
        chain.mint(chain.governor.address, amount)
        send(chain.w3, chain.token.functions.approve(chain.pc.address, amount), chain.governor)
        chain.pc.deposit_revenue(amount, sender=chain.governor)
        # Card sales settle to the agent's key; it may move them into the treasury.
        send(chain.w3, chain.token.functions.approve(chain.pc.address, 2**255), chain.agent)

    def serve_dashboard(self, settings: Settings, scratch: Path) -> DemoDashboard:
        """The owners' dashboard on 127.0.0.1 with a throwaway demo owner (shown once)."""
        procurement = self.machine.agent.procurement
        assert procurement is not None
        view = LiveMachineView(
            settings,
            self.machine.store,
            self.chain.pc,
            governor=self.chain.governor,
            stock_snapshot=lambda: self.machine.agent.poller.last,
            outbox_depth=procurement.outbox.depth,
            clock=self.driver.now,
            supplier_names={
                s.ref.signing_address: name for name, s in procurement.suppliers.items()
            },
        )
        return serve_owner_dashboard(settings, view, self.machine.store, scratch, self._stack)

    def _sim_unix(self) -> int:
        return int(self.driver.now().timestamp())

    def _procurement(self, settings: Settings, store: Store, scratch: Path) -> Restocking:
        chain = self.chain
        buyer = Buyer(clock=lambda: float(self._sim_unix()))
        known: list[KnownSupplier] = []
        gtins = {slot.gtin for slot in settings.slots}
        for spec in self.specs.values():
            if spec.gtins is not None and not spec.gtins & gtins:
                continue  # sells nothing this machine stocks
            signer = Signer.from_key(Account.create().key)
            config = SupplierSettings(
                name=spec.name,
                keystore=scratch / f"{spec.name}.key.json",
                database=scratch / f"supplier-{len(known)}.db",
                tokens=[{"chain_id": chain.chain_id, "address": chain.token_address}],
                items=[
                    {
                        "gtin": slot.gtin,
                        "name": slot.name,
                        "list_price": int(slot.retail_price * spec.list_share),
                        "floor_price": int(slot.retail_price * spec.floor_share),
                        "lead_time_seconds": spec.lead_hours * 3600,
                        "stock": 10_000,
                    }
                    for slot in settings.slots
                    if spec.gtins is None or slot.gtin in spec.gtins
                ],
                strategy=spec.strategy,
            )
            supplier_store = SupplierStore(config.database)
            app = create_app(config, signer, supplier_store, clock=self._sim_unix)
            url = self._stack.enter_context(serve_in_thread(app))
            chain.allow_supplier(signer.address)
            chain.fund(signer.address)
            chain.mint(signer.address, 1)  # a real supplier already holds the token
            self.watchers[spec.name] = Watcher(
                chain.w3, supplier_store, signer.account, [chain.pc.address], name=spec.name
            )
            self.supplier_urls[spec.name] = url
            known.append(asyncio.run(meet_supplier(buyer, spec.name, url, 0.95)))
            log.info("demo_supplier_started", supplier=spec.name, url=url)
        return Restocking(
            settings,
            store,
            Outbox(store, chain.w3, chain.pc, chain.agent),
            chain.pc,
            ChainContext(chain.chain_id, chain.pc.address, chain.token_address),
            buyer,
            known,
        )

    def _world_tick(self, now: datetime) -> None:
        """What happens outside the machine: chain time, card settlement, supplier vans."""
        self.chain.set_time(int(now.timestamp()))
        self._settle_card_sales(now)
        procurement = self.machine.agent.procurement
        assert procurement is not None
        orders = procurement.orders()
        if self.owners is not None:
            self._owners_tick(now, orders)
        for order in orders:
            if order.state is OrderState.OPEN and order.order_id not in self._deliveries:
                self._schedule_delivery(order, now)
        for watcher in self.watchers.values():
            watcher.poll_once(int(now.timestamp()))

    def _settle_card_sales(self, now: datetime) -> None:
        """The card processor pays the takings so far to the agent's key, in the token."""
        due = self.machine.totals.revenue - self._settled
        if due > 0:
            self.chain.mint(self.chain.agent.address, due)
            self._settled += due

    def _schedule_delivery(self, order: PurchaseOrder, now: datetime) -> None:
        spec = self.specs[order.supplier_name]
        nth = self._orders_of.get(spec.name, 0)
        self._orders_of[spec.name] = nth + 1
        lines = json.loads(order.lines)
        if nth < spec.short:  # half of each line, at least one item short
            lines = [{**line, "quantity": int(line["quantity"]) // 2} for line in lines]
            log.info("demo_short_delivery_planned", order=order.order_id, supplier=spec.name)
        delivery = _Delivery(order.order_id, spec.name, lines)
        self._deliveries[order.order_id] = delivery
        if not spec.honest or nth < spec.cheats:
            self._claim_without_delivering(spec.name, order.order_id, now)
            return
        arrives = min(now + timedelta(hours=spec.lead_hours), order.deliver_by)
        self.machine.driver.at(arrives, lambda when: self._deliver(delivery, when))
        log.info(
            "delivery_scheduled",
            order=order.order_id,
            supplier=spec.name,
            arrives=arrives.isoformat(),
        )

    def _claim_without_delivering(self, supplier: str, order_id: str, now: datetime) -> None:
        watcher = self.watchers[supplier]
        watcher.poll_once(int(now.timestamp()))
        observed = next(o for o in watcher.store.orders() if o.order_id == order_id)
        assert observed.id is not None
        watcher.mark_delivered(observed.id, int(now.timestamp()))
        log.info("delivery_claimed_not_made", supplier=supplier, order=order_id)

    def _deliver(self, delivery: _Delivery, now: datetime) -> None:
        """The supplier's driver opens the door, fills the ordered slots, closes it."""
        status = self.chain.pc.order(bytes.fromhex(delivery.order_id[2:])).status
        if status is not OrderStatus.OPEN:  # released or rejected meanwhile: the van stays home
            log.info(
                "delivery_cancelled",
                order=delivery.order_id,
                supplier=delivery.supplier,
                status=status,
            )
            return
        physics = self.machine.physics
        self.machine.agent.announce_delivery(delivery.order_id)
        physics.open_door()
        for line in delivery.lines:
            slot_id = int(line["slot_id"])
            capacity = self.machine.settings.slot(slot_id).capacity
            physics.set_stock(
                slot_id, min(capacity, physics.stock(slot_id) + int(line["quantity"]))
            )
        physics.close_door()
        self.machine.agent.poll(now)  # the door switch wakes the agent at once
        log.info("delivery_made", order=delivery.order_id, supplier=delivery.supplier)

    def run(self, days: float, on_advance: Callable[[datetime], None] | None = None) -> None:
        self.machine.run(days, on_advance)
