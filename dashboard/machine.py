"""The MachineView over the real parts: the machine's SQLite store and its ProfitCenter.

Chain reads are gathered into one snapshot (books, policy, orders from events,
members) that is reused until a new block appears: chain state only changes with
blocks. A background thread asks the node for the block number at most every
``chain_poll_s`` and re-reads on a new block, so many browsers polling every few
seconds cost no RPC calls of their own and never wait for the node. Events are scanned incrementally;
policy, token, pause state and the supplier allow-list come from them, and an
order's stored state is re-read only while it can still change.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, Protocol

import sqlalchemy as sa
import structlog
from eth_account.signers.local import LocalAccount
from pydantic import ValidationError
from sqlmodel import col, select

from contracts.errors import ContractRevertError
from contracts.profit_center import (
    Autonomy,
    Claimed,
    Distributed,
    Order,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    OrderReleased,
    OrderSettled,
    OrderStatus,
    OrderWithdrawn,
    Paused,
    Policy,
    PolicyChanged,
    ProfitCenter,
    ProfitCenterEvent,
    SupplierAllowed,
    Unpaused,
)
from dashboard.errors import ApprovalError, OrderNotFoundError, ViewUnavailableError
from dashboard.formatting import money_label, short_id
from dashboard.view import (
    Alert,
    ContractCall,
    Decision,
    Distribution,
    ItemLabel,
    LostSales,
    Member,
    MembersView,
    OrderDetail,
    OrderLine,
    OrderSummary,
    Overview,
    PendingApproval,
    PolicyView,
    PriceChangeView,
    PricePoint,
    PricingView,
    RidesView,
    SalesBucket,
    SalesSeries,
    SlotPrice,
    SlotView,
    SupplierView,
    Treasury,
    Window,
)
from device.negotiation.transcript import Transcript
from device.procurement.ledger import unit_costs
from device.procurement.models import OrderState, PurchaseOrder
from device.settings import Settings
from device.store import repo
from device.store.db import Store
from device.store.models import Sale, SaleState

log = structlog.get_logger()
NO_PROFIT_CENTER = "no ProfitCenter in the config yet (custobot chain deploy)"
# More chain transactions than this waiting in the outbox is an alert (the node may be down).
OUTBOX_BACKLOG = 5
# Orders that never became a delivery: an alert names the supplier.
TROUBLE_STATES = frozenset({"Released", "Disputed", "Failed"})

# The dashboard's names for the contract's order states (OrderStatus member -> shown).
STATE_NAMES = {status: status.name.title().replace("_", "") for status in OrderStatus}
AUTONOMY = {
    Autonomy.BOUND: "bound",
    Autonomy.ADAPTABLE: "adaptable",
    Autonomy.AUTONOMOUS: "autonomous",
}
OPEN_STATES = frozenset(
    STATE_NAMES[s]
    for s in (
        OrderStatus.AWAITING_APPROVAL,
        OrderStatus.OPEN,
        OrderStatus.DELIVERED,
        OrderStatus.DISPUTED,
    )
)
AWAITING = STATE_NAMES[OrderStatus.AWAITING_APPROVAL]
FINAL_STATES = frozenset(
    {
        OrderStatus.SETTLED,
        OrderStatus.REJECTED,
        OrderStatus.RELEASED,
        OrderStatus.NONCE_CANCELLED,
        OrderStatus.CANCELLED,
        OrderStatus.WITHDRAWN,
    }
)


class SlotStatus(Protocol):
    """What the dashboard reads of one slot's sensor reading (or fault alert): the shell
    does not import the vending hardware that produces it."""

    @property
    def slot_id(self) -> int: ...
    @property
    def fault(self) -> StrEnum: ...
    @property
    def detail(self) -> str: ...


class SlotCount(SlotStatus, Protocol):
    @property
    def count(self) -> int | None: ...


class StockStatus(Protocol):
    """The hardware poller's latest snapshot, as far as the dashboard shows it."""

    @property
    def slots(self) -> Sequence[SlotCount]: ...
    @property
    def alerts(self) -> Sequence[SlotStatus]: ...


SnapshotSource = Callable[[], StockStatus | None]
DaysToEmpty = Callable[[int, int], float | None]
"""(slot id, items in it) -> days until empty, e.g. ``Forecast.days_to_empty``."""


@dataclass(frozen=True, slots=True)
class _Order:
    summary: OrderSummary
    placed_at: int


@dataclass(frozen=True, slots=True)
class _Payment:
    at: int
    supplier: str
    paid: int


@dataclass(slots=True)
class _Bucket:
    """Sales in one time bucket; ``unknown`` items had no known cost (no order for them yet)."""

    units: int = 0
    revenue: int = 0
    cost_of_goods: int = 0
    unknown: int = 0

    def add(self, units: int, revenue: int, unit_cost: int | None) -> None:
        self.units += units
        self.revenue += revenue
        if unit_cost is None:
            self.unknown += units
        else:
            self.cost_of_goods += units * unit_cost


@dataclass(slots=True)
class _ChainSnapshot:
    """One read of the ProfitCenter at ``block``, reused until the next block."""

    block: int
    treasury: Treasury
    policy: PolicyView
    orders: list[_Order]
    payments: list[_Payment]
    members: MembersView
    names: dict[str, str]
    known_suppliers: list[str] = field(default_factory=list)


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class LiveMachineView:
    """MachineView over a Store and the ProfitCenter wrapper (``contracts.profit_center``).

    ``from_block`` is the block the ProfitCenter was deployed in (events are read from there).
    Without a ProfitCenter (a machine before ``custobot chain deploy``) the chain's parts
    say so and the rest (stock, sales) is shown.

    ``governor`` is the governor's local account when the dashboard holds that key
    (decisions are then sent from here); without it the approvals page shows the
    exact call to make from a Safe or wallet. Negotiation transcripts and supplier
    names come from the buying loop's ``purchase_order`` rows, which also show
    orders still in the outbox. ``stock_snapshot`` (the hardware poller's latest),
    ``days_to_empty`` (the forecast) and ``outbox_depth`` (``Outbox.depth``) connect
    the agent (``rides``: a taxi's rides, battery and P&L, ``device.taxi.rides_view``); without
    them stock counts come from the store (last recount minus
    sales), days to empty from the trailing 7-day sales rate, and sensor health
    says "unknown". ``supplier_names`` adds names for addresses without orders.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        profit_center: ProfitCenter | None,
        *,
        from_block: int = 0,
        governor: LocalAccount | None = None,
        stock_snapshot: SnapshotSource | None = None,
        days_to_empty: DaysToEmpty | None = None,
        supplier_names: Mapping[str, str] | None = None,
        outbox_depth: Callable[[], int] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        chain_poll_s: float = 1.0,
        rides: Callable[[], RidesView] | None = None,
        items: Mapping[str, ItemLabel] | None = None,
    ) -> None:
        self.settings = settings
        self._rides = rides
        self._items = dict(items or {})
        # A machine that sells rides has no slots, whatever a shared config lists.
        self._slot_configs = settings.slots if rides is None else []
        self.store = store
        self._pc = profit_center
        self._next_block = from_block
        self._events: list[ProfitCenterEvent] = []
        self._governor = governor
        self._stock_snapshot = stock_snapshot
        self._days_to_empty = days_to_empty
        self._names = {k.lower(): v for k, v in (supplier_names or {}).items()}
        self._outbox_depth = outbox_depth
        self._clock = clock
        self._final_orders: dict[bytes, Order] = {}
        self._poll_s = chain_poll_s
        self._lock = threading.Lock()
        self._snapshot: _ChainSnapshot | None = None
        self._checked_at = 0.0
        self._down: str | None = None
        self._block_times: dict[int, int] = {}
        self._token: str | None = None

    # -- chain snapshot ------------------------------------------------------------

    @property
    def pc(self) -> ProfitCenter:
        """The ProfitCenter; before ``custobot chain deploy`` there is none to read."""
        if self._pc is None:
            raise ViewUnavailableError("chain", NO_PROFIT_CENTER)
        return self._pc

    def _chain(self) -> _ChainSnapshot:
        """The latest snapshot; raises ``ViewUnavailableError`` while the node is unreachable.

        Requests never talk to the node themselves (except the very first read and
        the read after a decision): at most every ``chain_poll_s`` a background
        thread asks for the block number and re-reads the chain when it changed, so
        a request sees state at most one poll old and never waits for the node.
        """
        snap = self._snapshot
        if snap is None:
            return self._refresh_now()
        if time.monotonic() - self._checked_at >= self._poll_s and self._lock.acquire(
            blocking=False
        ):
            threading.Thread(target=self._refresh_locked, name="chain-refresh", daemon=True).start()
        if self._down is not None:
            raise ViewUnavailableError("chain", self._down)
        return snap

    def _unreachable(self, exc: Exception) -> ViewUnavailableError:
        log.warning("chain_read_failed", error=type(exc).__name__)
        return ViewUnavailableError("chain", f"cannot read the ProfitCenter ({type(exc).__name__})")

    def _refresh(self) -> _ChainSnapshot:
        """Read the chain if a new block appeared; the caller holds ``_lock``."""
        if self._pc is None:
            self._down = NO_PROFIT_CENTER
            self._checked_at = time.monotonic()
            raise ViewUnavailableError("chain", NO_PROFIT_CENTER)
        try:
            block = int(self.pc.w3.eth.block_number)
            snap = self._snapshot
            if snap is None or snap.block != block:
                snap = self._read_chain(block)
        except Exception as exc:  # any RPC/transport failure means "chain unreachable"
            error = self._unreachable(exc)
            self._down = error.problem
            raise error from None
        finally:
            self._checked_at = time.monotonic()
        self._snapshot, self._down = snap, None
        return snap

    def _refresh_now(self) -> _ChainSnapshot:
        with self._lock:
            return self._refresh()

    def _refresh_locked(self) -> None:
        """Background refresh; the caller acquired ``_lock``. A failure marks the chain down."""
        try:
            self._refresh()
        except ViewUnavailableError:
            pass  # logged; pages say "chain unreachable" until a later poll succeeds
        finally:
            self._lock.release()

    def _block_time(self, number: int) -> int:
        if number not in self._block_times:
            self._block_times[number] = int(self.pc.w3.eth.get_block(number)["timestamp"])
        return self._block_times[number]

    def _new_events(self, latest: int) -> list[ProfitCenterEvent]:
        """Every event up to ``latest``; only blocks not seen before are queried."""
        if latest >= self._next_block:
            self._events.extend(self.pc.events(self._next_block, latest))
            self._next_block = latest + 1
        return self._events

    def _token_address(self) -> str:
        """The settlement token (fixed for the contract's life, so read once)."""
        if self._token is None:
            self._token = self.pc.token()
        return self._token

    def _order(self, order_id: bytes) -> Order:
        """The stored order; one in a final state never changes, so it is read once."""
        if order_id in self._final_orders:
            return self._final_orders[order_id]
        order = self.pc.order(order_id)
        if order.status in FINAL_STATES:
            self._final_orders[order_id] = order
        return order

    def _local_orders(self) -> dict[str, PurchaseOrder]:
        """The buying loop's purchase orders by order id (transcripts, supplier names)."""
        with self.store.read() as session:
            return {row.order_id: row for row in session.exec(select(PurchaseOrder))}

    def _read_chain(self, block: int) -> _ChainSnapshot:
        pc = self.pc
        local = self._local_orders()
        names = {row.supplier_address.lower(): row.supplier_name for row in local.values()}
        names.update(self._names)
        books = pc.books()
        events = self._new_events(block)
        paused = False
        p: Policy | None = None
        allowed: dict[str, bool] = {}
        for e in events:
            if isinstance(e, Paused | Unpaused):
                paused = isinstance(e, Paused)
            elif isinstance(e, PolicyChanged):
                p = e.policy
            elif isinstance(e, SupplierAllowed):
                allowed[e.supplier] = e.allowed
        if p is None:  # from_block was after the deployment
            p, paused = pc.policy(), pc.paused()
        token = self._token_address()
        treasury = Treasury(
            contract=pc.address,
            token=token,
            token_decimals=self.settings.chain.token_decimals,
            balance=books.treasury,
            reserved=books.reserved,
            paused=paused,
        )
        known = list(allowed)
        policy = PolicyView(
            autonomy=AUTONOMY[p.autonomy],
            auto_approval_threshold=p.auto_approval_threshold,
            order_cap=p.per_order_cap,
            budget_per_period=p.budget_per_period,
            period_seconds=p.period_length,
            reserve=p.operating_reserve,
            dispute_window_seconds=p.dispute_window,
            budget_left=books.budget_available,
            allowed_suppliers=[a for a, yes in allowed.items() if yes],
            supplier_names={a.lower(): names[a.lower()] for a in allowed if a.lower() in names},
        )
        closed: dict[bytes, str] = {}
        payments: list[_Payment] = []
        for e in events:
            if isinstance(
                e, OrderSettled | OrderRejected | OrderReleased | OrderCancelled | OrderWithdrawn
            ):
                closed[e.order_id] = _hex(e.meta.tx_hash)
            if isinstance(e, OrderSettled):
                payments.append(_Payment(self._block_time(e.meta.block_number), e.supplier, e.paid))
        orders: list[_Order] = []
        for e in events:
            if not isinstance(e, OrderPlaced):
                continue
            info = self._order(e.order_id)
            state = STATE_NAMES[info.status]
            summary = OrderSummary(
                order_id=_hex(e.order_id),
                state=state,
                supplier=e.supplier,
                supplier_name=names.get(e.supplier.lower()),
                amount=info.amount if info.status is OrderStatus.SETTLED else e.amount,
                deliver_by=e.deliver_by,
                placed_tx=_hex(e.meta.tx_hash),
                settled_tx=closed.get(e.order_id),
            )
            orders.append(_Order(summary, self._block_time(e.meta.block_number)))
        orders.sort(key=lambda o: o.placed_at, reverse=True)
        return _ChainSnapshot(
            block=block,
            treasury=treasury,
            policy=policy,
            orders=orders,
            payments=payments,
            names=names,
            members=self._read_members(
                events, books.treasury - books.reserved - p.operating_reserve
            ),
            known_suppliers=known,
        )

    def _read_members(self, events: list[ProfitCenterEvent], distributable: int) -> MembersView:
        shares = self.pc.members()
        members = [
            Member(address=a, shares=s, claimable=self.pc.claimable(a)) for a, s in shares.items()
        ]
        distributions = [
            Distribution(
                at=self._block_time(e.meta.block_number),
                kind="distributed" if isinstance(e, Distributed) else "claimed",
                member=e.member if isinstance(e, Claimed) else None,
                amount=e.amount,
                tx_hash=_hex(e.meta.tx_hash),
            )
            for e in events
            if isinstance(e, Distributed | Claimed)
        ]
        distributions.reverse()
        return MembersView(
            total_shares=sum(shares.values()),
            distributable=max(0, distributable),
            members=members,
            distributions=distributions,
        )

    # -- store reads ---------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock()

    def _sales(self, start: datetime, bucket_s: int, buckets: int) -> list[_Bucket]:
        """Completed sales per bucket since ``start``, with what the goods sold cost."""
        start_ts = int(start.timestamp())
        index = sa.cast(
            (sa.cast(sa.func.strftime("%s", col(Sale.created_at)), sa.Integer) - start_ts)
            / bucket_s,
            sa.Integer,
        ).label("idx")
        query = (
            select(
                index,
                col(Sale.gtin),
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(col(Sale.price)), 0),
            )
            .where(col(Sale.state) == SaleState.COMPLETED, col(Sale.created_at) >= start)
            .group_by(index, col(Sale.gtin))
        )
        out = [_Bucket() for _ in range(buckets)]
        costs = self._unit_costs()
        with self.store.read() as session:
            for idx, gtin, units, revenue in session.exec(query):
                if 0 <= idx < buckets:
                    out[idx].add(int(units), int(revenue), costs.get(gtin))
        return out

    def _unit_costs(self) -> dict[str, int]:
        """What one item of each GTIN cost the machine: the ledger's average over deliveries,
        else (before its first delivery) the unit price of the latest order for it."""
        quoted: dict[str, int] = {}
        rows = sorted(self._local_orders().values(), key=lambda r: r.created_at)
        for row in rows:
            if row.state in (OrderState.FAILED, OrderState.REJECTED):
                continue
            for line in _lines(row):
                quoted[line["gtin"]] = int(line["unit_price"])
        return {**quoted, **unit_costs(self.store)}

    # -- MachineView ---------------------------------------------------------------

    def overview(self) -> Overview:
        now = self._now()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        alerts: list[Alert] = []
        with self.store.read() as session:
            revenue_today = repo.revenue(session, midnight, now + timedelta(seconds=1))
            units = sum(repo.units_sold_since(session, midnight).values())
            lost_today = repo.turned_away_since(session, midnight)
            lost_week = repo.turned_away_since(session, now - timedelta(days=7))
            for a in repo.open_alerts(session):
                source = f"slot:{a.slot_id}" if a.slot_id is not None else a.kind
                alerts.append(Alert(level=a.severity.value, source=source, message=a.message))
        today = self._sales(midnight, 86_400, 1)[0]
        slots = self.slots()
        empty = [s for s in slots if s.count == 0]
        low = [s for s in slots if s.count and _low(s)]
        for s in empty:
            alerts.append(
                Alert(level="critical", source=f"slot:{s.slot_id}", message=f"{s.name} is sold out")
            )
        for s in low:
            alerts.append(
                Alert(
                    level="warning",
                    source=f"slot:{s.slot_id}",
                    message=f"{s.name} is running low: {s.count} of {s.capacity} left",
                )
            )
        try:
            snap: _ChainSnapshot | None = self._chain()
        except ViewUnavailableError as exc:
            snap = None
            alerts.append(Alert(level="critical", source="chain", message=exc.problem))
        paid_today = 0
        open_orders = pending = 0
        if snap is not None:
            since = int(midnight.timestamp())
            paid_today = sum(p.paid for p in snap.payments if p.at >= since)
            open_orders = sum(1 for o in snap.orders if o.summary.state in OPEN_STATES)
            pending = sum(1 for o in snap.orders if o.summary.state == AWAITING)
            alerts += _chain_alerts(snap, since - 6 * 86_400, self.settings.chain.token_decimals)
        depth = self.outbox_depth()
        if depth is not None and depth > OUTBOX_BACKLOG:
            alerts.append(
                Alert(
                    level="warning",
                    source="outbox",
                    message=f"{depth} chain transactions are waiting to be sent",
                )
            )
        snapshot = self._snapshot_now()
        for fault in snapshot.alerts if snapshot is not None else ():
            alerts.append(
                Alert(
                    level="warning",
                    source=f"slot:{fault.slot_id}",
                    message=f"sensor {fault.fault.value.replace('_', ' ')}: {fault.detail}",
                )
            )
        return Overview(
            device_id=self.settings.device_id,
            now=int(now.timestamp()),
            treasury=snap.treasury if snap else None,
            revenue_today=revenue_today,
            profit_today=revenue_today - today.cost_of_goods,
            cost_of_goods_today=today.cost_of_goods,
            cost_unknown_units=today.unknown,
            cash_flow_today=revenue_today - paid_today,
            units_sold_today=units,
            open_orders=open_orders,
            pending_approvals=pending,
            empty_slots=[s.name for s in empty],
            low_slots=[s.name for s in low],
            lost_today=LostSales(customers=lost_today[0], amount=lost_today[1]),
            lost_week=LostSales(customers=lost_week[0], amount=lost_week[1]),
            alerts=alerts,
        )

    def _snapshot_now(self) -> StockStatus | None:
        return self._stock_snapshot() if self._stock_snapshot is not None else None

    def slots(self) -> list[SlotView]:
        now = self._now()
        snapshot = self._snapshot_now()
        readings = {r.slot_id: r for r in snapshot.slots} if snapshot is not None else {}
        with self.store.read() as session:
            counts = {s.id: repo.stock_estimate(session, s.id) for s in self._slot_configs}
            week = repo.units_sold_since(session, now - timedelta(days=7))
        views = []
        for s in self._slot_configs:
            reading = readings.get(s.id)
            count = counts[s.id]
            if reading is not None and reading.count is not None:
                count = reading.count
            if count is not None:
                count = max(count, 0)
            if count is None:
                days = None
            elif self._days_to_empty is not None:
                days = self._days_to_empty(s.id, count)
            else:
                rate = week.get(s.id, 0) / 7
                days = count / rate if rate else None
            views.append(
                SlotView(
                    slot_id=s.id,
                    name=s.name,
                    gtin=s.gtin,
                    capacity=s.capacity,
                    par=s.par,
                    count=count,
                    fill_pct=None if count is None else min(100.0, 100.0 * count / s.capacity),
                    days_to_empty=days,
                    sensor_kind=s.sensor.kind,
                    health=reading.fault.value if reading is not None else "unknown",
                )
            )
        return views

    def sales_series(self, window: Window) -> SalesSeries:
        now = self._now()
        bucket_s = window.bucket_seconds
        buckets = window.seconds // bucket_s
        end = int(now.timestamp()) // bucket_s * bucket_s + bucket_s
        start_ts = end - buckets * bucket_s
        start = datetime.fromtimestamp(start_ts, UTC)
        sales = self._sales(start, bucket_s, buckets)
        costs = [0] * buckets
        try:
            payments = self._chain().payments
        except ViewUnavailableError:
            payments = []  # revenue still shows; costs are unknown while the chain is down
        for p in payments:
            idx = (p.at - start_ts) // bucket_s
            if 0 <= idx < buckets:
                costs[idx] += p.paid
        return SalesSeries(
            window=window,
            bucket_seconds=bucket_s,
            buckets=[
                SalesBucket(
                    start=start_ts + i * bucket_s,
                    units=b.units,
                    revenue=b.revenue,
                    cost=costs[i],
                    profit=b.revenue - costs[i],
                    cost_of_goods=b.cost_of_goods,
                    margin=b.revenue - b.cost_of_goods,
                )
                for i, b in enumerate(sales)
            ],
        )

    def orders(self) -> list[OrderSummary]:
        """Orders still in the outbox (or failed to place) first, then the chain's, newest first."""
        chain = [o.summary for o in self._chain().orders]
        on_chain = {o.order_id for o in chain}
        local = [
            _local_summary(row)
            for row in sorted(
                self._local_orders().values(), key=lambda r: r.created_at, reverse=True
            )
            if row.order_id not in on_chain
        ]
        return local + chain

    def order(self, order_id: str) -> OrderDetail:
        row = self._local_orders().get(order_id)
        transcript = _transcript(row) if row is not None else None
        lines = self._order_lines(row) if row is not None else []
        for o in self._chain().orders:
            if o.summary.order_id == order_id:
                return OrderDetail(order=o.summary, lines=lines, transcript=transcript)
        if row is not None:
            return OrderDetail(order=_local_summary(row), lines=lines, transcript=transcript)
        raise OrderNotFoundError(order_id)

    def _order_lines(self, row: PurchaseOrder) -> list[OrderLine]:
        """The order's items, named as the machine's slots (or its ``items``) name them."""
        labels = {s.gtin: ItemLabel(name=s.name) for s in self._slot_configs} | self._items
        return [
            _order_line(line, labels.get(line["gtin"], ItemLabel(name=line["gtin"])))
            for line in _lines(row)
        ]

    def _call(self, function: str, order_id: str) -> ContractCall:
        calldata = self.pc.encode_call(function, bytes.fromhex(order_id[2:]))
        return ContractCall(
            contract=self.pc.address,
            function=f"{function}(bytes32)",
            args=[order_id],
            calldata="0x" + calldata.hex(),
        )

    def pending_approvals(self) -> list[PendingApproval]:
        local = self._local_orders()
        return [
            PendingApproval(
                order=o.summary,
                lines=self._order_lines(local[o.summary.order_id])
                if o.summary.order_id in local
                else [],
                approve_call=self._call("approveOrder", o.summary.order_id),
                reject_call=self._call("rejectOrder", o.summary.order_id),
            )
            for o in self._chain().orders
            if o.summary.state == AWAITING
        ]

    def can_sign(self) -> bool:
        return self._governor is not None

    def decide(self, order_id: str, *, approve: bool) -> Decision:
        action: Literal["approve", "reject"] = "approve" if approve else "reject"
        oid = bytes.fromhex(order_id[2:])
        pc = self.pc
        try:
            status = pc.order(oid).status
        except Exception as exc:
            raise ViewUnavailableError(
                "chain", f"cannot read the order ({type(exc).__name__})"
            ) from None
        if status is OrderStatus.NONE:
            raise OrderNotFoundError(order_id)
        if status is not OrderStatus.AWAITING_APPROVAL:
            raise ApprovalError(order_id, f"is {STATE_NAMES[status]}, not awaiting approval")
        if self._governor is None:
            raise ApprovalError(
                order_id, "the dashboard holds no governor key; send the call from your wallet"
            )
        send = self.pc.approve_order if approve else self.pc.reject_order
        try:
            result = send(oid, sender=self._governor)
        except ContractRevertError as exc:
            raise ApprovalError(order_id, f"the contract refused: {exc.name}") from None
        except Exception as exc:  # RPC down, timeout: the order is unchanged or will show so
            raise ApprovalError(order_id, f"transaction failed ({type(exc).__name__})") from None
        tx_hash = _hex(result.tx_hash)
        log.info("order_decision_sent", order=order_id, action=action, tx=tx_hash)
        self._refresh_now()  # the page the owner lands on next shows the decision
        state = STATE_NAMES[self.pc.order(oid).status]
        return Decision(order_id=order_id, action=action, tx_hash=tx_hash, state=state)

    def policy(self) -> PolicyView:
        return self._chain().policy

    def pricing(self) -> PricingView:
        pricing = self.settings.pricing
        with self.store.read() as session:
            current = repo.current_prices(session)
            changes = repo.price_changes(session)
        slots = []
        for s in self._slot_configs:
            change = current.get(s.id)
            slots.append(
                SlotPrice(
                    slot_id=s.id,
                    name=s.name,
                    list_price=s.retail_price,
                    floor_price=pricing.floor(s),
                    price=s.retail_price if change is None else change.price,
                    reason=None if change is None else change.reason,
                )
            )
        return PricingView(
            markdowns=pricing.markdowns,
            max_markdown_pct=pricing.max_markdown_pct,
            floor_pct=pricing.floor_pct,
            waste_penalty=self.settings.agent.waste_penalty,
            waste_policy=self.settings.agent.waste_policy(),
            slots=slots,
            changes=[
                PriceChangeView(
                    at=int(c.at.timestamp()),
                    slot_id=c.slot_id,
                    price=c.price,
                    list_price=c.list_price,
                    units=c.units,
                    reason=c.reason,
                )
                for c in changes
            ],
        )

    def suppliers(self) -> list[SupplierView]:
        snap = self._chain()
        allowed = {a.lower() for a in snap.policy.allowed_suppliers}
        addresses = list(
            dict.fromkeys([*snap.known_suppliers, *(o.summary.supplier for o in snap.orders)])
        )
        views = []
        for address in addresses:
            mine = [o for o in snap.orders if o.summary.supplier.lower() == address.lower()]
            delivered = sum(1 for o in mine if o.summary.state == STATE_NAMES[OrderStatus.SETTLED])
            missed = sum(1 for o in mine if o.summary.state == STATE_NAMES[OrderStatus.RELEASED])
            views.append(
                SupplierView(
                    name=snap.names.get(address.lower(), address[:10]),
                    url=None,
                    address=address,
                    allowed=address.lower() in allowed,
                    orders=len(mine),
                    delivered=delivered,
                    reliability=delivered / (delivered + missed) if delivered + missed else None,
                    prices=sorted(
                        (PricePoint(at=o.placed_at, amount=o.summary.amount) for o in mine),
                        key=lambda p: p.at,
                    ),
                )
            )
        named = {v.name for v in views}
        for endpoint in self.settings.suppliers:
            if endpoint.name not in named:
                views.append(
                    SupplierView(
                        name=endpoint.name,
                        url=endpoint.url,
                        address=None,
                        allowed=False,
                        orders=0,
                        delivered=0,
                        reliability=None,
                        prices=[],
                    )
                )
        return views

    def members(self) -> MembersView:
        return self._chain().members

    def outbox_depth(self) -> int | None:
        return self._outbox_depth() if self._outbox_depth is not None else None

    def rides(self) -> RidesView | None:
        return self._rides() if self._rides is not None else None


def _local_summary(row: PurchaseOrder) -> OrderSummary:
    """An order the chain does not show yet (in the outbox) or never will (placing failed)."""
    return OrderSummary(
        order_id=row.order_id,
        state=row.state.value.title().replace("_", ""),
        supplier=row.supplier_address,
        supplier_name=row.supplier_name,
        amount=row.amount,
        deliver_by=int(row.deliver_by.timestamp()),
        placed_tx=None,
        settled_tx=None,
    )


def _transcript(row: PurchaseOrder) -> Transcript | None:
    try:
        return Transcript.model_validate_json(row.transcript)
    except ValidationError:
        log.warning("transcript_unreadable", order=row.order_id)
        return None


def _lines(row: PurchaseOrder) -> list[dict[str, Any]]:
    """The order's JSON lines; an unreadable record shows as no lines, not an error page."""
    try:
        lines = json.loads(row.lines)
    except ValueError:
        log.warning("order_lines_unreadable", order=row.order_id)
        return []
    return [
        x for x in lines if isinstance(x, dict) and {"gtin", "quantity", "unit_price"} <= x.keys()
    ]


def _low(slot: SlotView) -> bool:
    """Running low: a quarter of capacity or less, or empty within a day at the sales rate."""
    assert slot.count is not None
    soon = slot.days_to_empty is not None and slot.days_to_empty < 1
    return slot.count * 4 <= slot.capacity or soon


def _chain_alerts(snap: _ChainSnapshot, since: int, decimals: int) -> list[Alert]:
    """Supplier trouble (orders released undelivered or disputed this week) and a low treasury."""
    alerts = []
    for o in snap.orders:
        s = o.summary
        if s.state in TROUBLE_STATES and o.placed_at >= since:
            who = s.supplier_name or s.supplier
            alerts.append(
                Alert(
                    level="warning",
                    source="supplier",
                    message=f"{who}: order {short_id(s.order_id)} {s.state.lower()}",
                )
            )
    t, p = snap.treasury, snap.policy
    free = t.balance - t.reserved
    if free <= p.reserve:
        alerts.append(
            Alert(
                level="critical",
                source="treasury",
                message=f"treasury low: {money_label(free, decimals)} free, at or below the "
                f"operating reserve of {money_label(p.reserve, decimals)}; no new orders can be paid",
            )
        )
    return alerts


def _order_line(line: Mapping[str, Any], label: ItemLabel) -> OrderLine:
    """One order line in the label's unit: 33,600 Wh at 280 base units as 33.6 kWh at 0.28."""
    quantity, unit_price = int(line["quantity"]), int(line["unit_price"])
    shown = Decimal(quantity) / label.per_unit
    text = format(shown.normalize(), "f") if label.unit else str(quantity)
    return OrderLine(
        gtin=line["gtin"],
        name=label.name,
        quantity=quantity,
        quantity_text=f"{text} {label.unit}" if label.unit else text,
        unit=label.unit,
        unit_price=unit_price * label.per_unit,
        line_total=quantity * unit_price,
    )
