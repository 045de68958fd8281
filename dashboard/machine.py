"""The MachineView over the real parts: the machine's SQLite store and its ProfitCenter.

Chain reads are gathered into one snapshot (books, policy, orders from events,
members) that is reused for ``chain_ttl_s`` seconds, so a page poll every few
seconds from several browsers costs one round of RPC calls, not one per request.
An approval or rejection drops the snapshot, so the next read shows the new state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from eth_account.signers.local import LocalAccount
from sqlmodel import col, select

from dashboard.errors import ApprovalError, OrderNotFoundError, ViewUnavailableError
from dashboard.view import (
    Alert,
    ContractCall,
    Decision,
    Distribution,
    Member,
    MembersView,
    OrderDetail,
    OrderSummary,
    Overview,
    PendingApproval,
    PolicyView,
    PricePoint,
    SalesBucket,
    SalesSeries,
    SlotView,
    SupplierView,
    Treasury,
    Window,
)
from device.hardware.poller import StockSnapshot
from device.negotiation.transcript import Transcript
from device.settings import Settings
from device.store import repo
from device.store.db import Store
from device.store.models import Sale, SaleState

log = structlog.get_logger()

# ProfitCenter.OrderStatus, in declaration order.
ORDER_STATES = (
    "None",
    "AwaitingApproval",
    "Open",
    "Delivered",
    "Disputed",
    "Settled",
    "Rejected",
    "Released",
    "NonceCancelled",
)
AUTONOMY = ("bound", "adaptable", "autonomous")
OPEN_STATES = frozenset({"AwaitingApproval", "Open", "Delivered", "Disputed"})
_FINAL_EVENTS = ("OrderSettled", "OrderRejected", "OrderReleased")
_RECEIPT_TIMEOUT_S = 60

TranscriptLookup = Callable[[str], Transcript | None]
SnapshotSource = Callable[[], StockSnapshot | None]
DailyRate = Callable[[int], float | None]


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
class _ChainSnapshot:
    """One consistent-enough read of the ProfitCenter, reused for a short while."""

    read_at: float
    treasury: Treasury
    policy: PolicyView
    orders: list[_Order]
    payments: list[_Payment]
    members: MembersView
    known_suppliers: list[str] = field(default_factory=list)


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class LiveMachineView:
    """MachineView over a Store and a web3 ProfitCenter contract object.

    ``governor`` is the governor's local account when the dashboard holds that key
    (decisions are then sent from here); without it the approvals page shows the
    exact call to make from a Safe or wallet. ``transcripts``, ``stock_snapshot``
    (the hardware poller's latest), ``daily_rate`` (the forecast, units/day) and
    ``supplier_names`` connect the agent's records; without them stock counts come
    from the store (last recount minus sales), days to empty from the trailing
    7-day sales rate, and sensor health says "unknown".
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        profit_center: Any,
        *,
        from_block: int = 0,
        governor: LocalAccount | None = None,
        transcripts: TranscriptLookup | None = None,
        stock_snapshot: SnapshotSource | None = None,
        daily_rate: DailyRate | None = None,
        supplier_names: Mapping[str, str] | None = None,
        outbox_depth: Callable[[], int] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        chain_ttl_s: float = 2.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.contract = profit_center
        self.w3 = profit_center.w3
        self.from_block = from_block
        self._governor = governor
        self._transcripts = transcripts
        self._stock_snapshot = stock_snapshot
        self._daily_rate = daily_rate
        self._names = {k.lower(): v for k, v in (supplier_names or {}).items()}
        self._outbox_depth = outbox_depth
        self._clock = clock
        self._ttl = chain_ttl_s
        self._lock = threading.Lock()
        self._snapshot: _ChainSnapshot | None = None
        self._block_times: dict[int, int] = {}

    # -- chain snapshot ------------------------------------------------------------

    def _chain(self) -> _ChainSnapshot:
        """The cached snapshot, refreshed when older than the TTL; raises if unreadable."""
        with self._lock:
            snap = self._snapshot
            if snap is not None and time.monotonic() - snap.read_at < self._ttl:
                return snap
            try:
                snap = self._read_chain()
            except ViewUnavailableError:
                raise
            except Exception as exc:  # any RPC/transport failure means "chain unreachable"
                log.warning("chain_read_failed", error=type(exc).__name__)
                raise ViewUnavailableError(
                    "chain", f"cannot read the ProfitCenter ({type(exc).__name__})"
                ) from None
            self._snapshot = snap
            return snap

    def _invalidate(self) -> None:
        with self._lock:
            self._snapshot = None

    def _block_time(self, number: int) -> int:
        if number not in self._block_times:
            self._block_times[number] = int(self.w3.eth.get_block(number)["timestamp"])
        return self._block_times[number]

    def _struct(self, function: str, *args: Any) -> dict[str, Any]:
        """Call a view returning one struct; fields by their ABI names (robust to reordering)."""
        value = getattr(self.contract.functions, function)(*args).call()
        abi = next(
            item
            for item in self.contract.abi
            if item.get("type") == "function" and item.get("name") == function
        )
        names = [c["name"] for c in abi["outputs"][0]["components"]]
        return dict(zip(names, value, strict=True))

    def _state(self, order_id: bytes) -> str:
        return ORDER_STATES[int(self._struct("orderInfo", order_id)["status"])]

    def _logs(self, event: str) -> list[Any]:
        return list(getattr(self.contract.events, event).get_logs(from_block=self.from_block))

    def _read_chain(self) -> _ChainSnapshot:
        fn = self.contract.functions
        books = self._struct("currentBooks")
        token = fn.token().call()
        decimals = self.settings.chain.token_decimals
        treasury = Treasury(
            contract=self.contract.address,
            token=token,
            token_decimals=decimals,
            balance=int(books["treasury"]),
            reserved=int(books["reserved"]),
            paused=bool(fn.paused().call()),
        )
        p = self._struct("policy")
        allowed_events = self._logs("SupplierAllowed")
        known = list(dict.fromkeys(e["args"]["supplier"] for e in allowed_events))
        allowed = [a for a in known if fn.isSupplierAllowed(a).call()]
        policy = PolicyView(
            autonomy=AUTONOMY[int(p["autonomy"])],
            auto_approval_threshold=int(p["autoApprovalThreshold"]),
            order_cap=int(p["perOrderCap"]),
            budget_per_period=int(p["budgetPerPeriod"]),
            period_seconds=int(p["periodLength"]),
            reserve=int(p["operatingReserve"]),
            dispute_window_seconds=int(p["disputeWindow"]),
            spent_this_period=int(books["periodSpent"]),
            allowed_suppliers=allowed,
        )
        finals: dict[str, str] = {}
        payments: list[_Payment] = []
        for name in _FINAL_EVENTS:
            for e in self._logs(name):
                finals[_hex(e["args"]["orderId"])] = _hex(e["transactionHash"])
                if name == "OrderSettled":
                    payments.append(
                        _Payment(
                            at=self._block_time(e["blockNumber"]),
                            supplier=e["args"]["supplier"],
                            paid=int(e["args"]["paid"]),
                        )
                    )
        orders: list[_Order] = []
        for e in self._logs("OrderPlaced"):
            oid = _hex(e["args"]["orderId"])
            info = self._struct("orderInfo", e["args"]["orderId"])
            state = ORDER_STATES[int(info["status"])]
            placed_amount = int(e["args"]["amount"])
            supplier = e["args"]["supplier"]
            summary = OrderSummary(
                order_id=oid,
                state=state,
                supplier=supplier,
                supplier_name=self._names.get(supplier.lower()),
                amount=int(info["amount"]) if state == "Settled" else placed_amount,
                deliver_by=int(info["time"]) if state in ("AwaitingApproval", "Open") else None,
                placed_tx=_hex(e["transactionHash"]),
                settled_tx=finals.get(oid),
            )
            orders.append(_Order(summary, self._block_time(e["blockNumber"])))
        orders.sort(key=lambda o: o.placed_at, reverse=True)
        return _ChainSnapshot(
            read_at=time.monotonic(),
            treasury=treasury,
            policy=policy,
            orders=orders,
            payments=payments,
            members=self._read_members(),
            known_suppliers=known,
        )

    def _read_members(self) -> MembersView:
        fn = self.contract.functions
        addresses, shares = fn.members().call()
        members = [
            Member(address=a, shares=int(s), claimable=int(fn.claimable(a).call()))
            for a, s in zip(addresses, shares, strict=True)
        ]
        distributions = [
            Distribution(
                at=self._block_time(e["blockNumber"]),
                kind="distributed",
                member=None,
                amount=int(e["args"]["amount"]),
                tx_hash=_hex(e["transactionHash"]),
            )
            for e in self._logs("Distributed")
        ] + [
            Distribution(
                at=self._block_time(e["blockNumber"]),
                kind="claimed",
                member=e["args"]["member"],
                amount=int(e["args"]["amount"]),
                tx_hash=_hex(e["transactionHash"]),
            )
            for e in self._logs("Claimed")
        ]
        distributions.sort(key=lambda d: d.at, reverse=True)
        books = self._struct("currentBooks")
        kept = int(books["reserved"]) + int(self._struct("policy")["operatingReserve"])
        return MembersView(
            total_shares=sum(m.shares for m in members),
            distributable=max(0, int(books["treasury"]) - kept),
            members=members,
            distributions=distributions,
        )

    # -- store reads ---------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock()

    def _sales(self, start: datetime, bucket_s: int, buckets: int) -> list[tuple[int, int]]:
        """(units, revenue) per bucket of completed sales since ``start``."""
        start_ts = int(start.timestamp())
        index = sa.cast(
            (sa.cast(sa.func.strftime("%s", col(Sale.created_at)), sa.Integer) - start_ts)
            / bucket_s,
            sa.Integer,
        ).label("idx")
        query = (
            select(index, sa.func.count(), sa.func.coalesce(sa.func.sum(col(Sale.price)), 0))
            .where(col(Sale.state) == SaleState.COMPLETED, col(Sale.created_at) >= start)
            .group_by(index)
        )
        out = [(0, 0)] * buckets
        with self.store.read() as session:
            for idx, units, revenue in session.exec(query):
                if 0 <= idx < buckets:
                    out[idx] = (int(units), int(revenue))
        return out

    # -- MachineView ---------------------------------------------------------------

    def overview(self) -> Overview:
        now = self._now()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        alerts: list[Alert] = []
        with self.store.read() as session:
            revenue_today = repo.revenue(session, midnight, now + timedelta(seconds=1))
            units = sum(repo.units_sold_since(session, midnight).values())
            for a in repo.open_alerts(session):
                source = f"slot:{a.slot_id}" if a.slot_id is not None else a.kind
                alerts.append(Alert(level=a.severity.value, source=source, message=a.message))
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
            pending = sum(1 for o in snap.orders if o.summary.state == "AwaitingApproval")
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
            profit_today=revenue_today - paid_today,
            units_sold_today=units,
            open_orders=open_orders,
            pending_approvals=pending,
            alerts=alerts,
        )

    def _snapshot_now(self) -> StockSnapshot | None:
        return self._stock_snapshot() if self._stock_snapshot is not None else None

    def slots(self) -> list[SlotView]:
        now = self._now()
        snapshot = self._snapshot_now()
        readings = {r.slot_id: r for r in snapshot.slots} if snapshot is not None else {}
        with self.store.read() as session:
            counts = {s.id: repo.stock_estimate(session, s.id) for s in self.settings.slots}
            week = repo.units_sold_since(session, now - timedelta(days=7))
        views = []
        for s in self.settings.slots:
            reading = readings.get(s.id)
            count = counts[s.id]
            if reading is not None and reading.count is not None:
                count = reading.count
            if count is not None:
                count = max(count, 0)
            rate = self._daily_rate(s.id) if self._daily_rate else week.get(s.id, 0) / 7
            days = None if count is None or not rate else count / rate
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
                    units=units,
                    revenue=revenue,
                    cost=costs[i],
                    profit=revenue - costs[i],
                )
                for i, (units, revenue) in enumerate(sales)
            ],
        )

    def orders(self) -> list[OrderSummary]:
        return [o.summary for o in self._chain().orders]

    def order(self, order_id: str) -> OrderDetail:
        for o in self._chain().orders:
            if o.summary.order_id == order_id:
                transcript = self._transcripts(order_id) if self._transcripts else None
                return OrderDetail(order=o.summary, transcript=transcript)
        raise OrderNotFoundError(order_id)

    def _call(self, function: str, order_id: str) -> ContractCall:
        calldata = self.contract.encode_abi(function, args=[bytes.fromhex(order_id[2:])])
        return ContractCall(
            contract=self.contract.address,
            function=f"{function}(bytes32)",
            args=[order_id],
            calldata=str(calldata).lower(),
        )

    def pending_approvals(self) -> list[PendingApproval]:
        return [
            PendingApproval(
                order=o.summary,
                approve_call=self._call("approveOrder", o.summary.order_id),
                reject_call=self._call("rejectOrder", o.summary.order_id),
            )
            for o in self._chain().orders
            if o.summary.state == "AwaitingApproval"
        ]

    def can_sign(self) -> bool:
        return self._governor is not None

    def decide(self, order_id: str, *, approve: bool) -> Decision:
        action = "approve" if approve else "reject"
        oid = bytes.fromhex(order_id[2:])
        fn = self.contract.functions
        try:
            state = self._state(oid)
        except Exception as exc:
            raise ViewUnavailableError(
                "chain", f"cannot read order ({type(exc).__name__})"
            ) from None
        if state == "None":
            raise OrderNotFoundError(order_id)
        if state != "AwaitingApproval":
            raise ApprovalError(order_id, f"is {state}, not awaiting approval")
        if self._governor is None:
            raise ApprovalError(
                order_id, "the dashboard holds no governor key; send the call from your wallet"
            )
        account = self._governor
        call = fn.approveOrder(oid) if approve else fn.rejectOrder(oid)
        try:
            tx = call.build_transaction(
                {
                    "from": account.address,
                    "nonce": self.w3.eth.get_transaction_count(account.address, "pending"),
                }
            )
            signed = account.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=_RECEIPT_TIMEOUT_S)
        except Exception as exc:  # revert on estimate, RPC down: the order is unchanged
            raise ApprovalError(order_id, f"transaction failed ({type(exc).__name__})") from None
        finally:
            self._invalidate()
        if receipt["status"] != 1:
            raise ApprovalError(order_id, f"transaction {_hex(tx_hash)} reverted")
        new_state = self._state(oid)
        log.info("order_decision_sent", order=order_id, action=action, tx=_hex(tx_hash))
        return Decision(order_id=order_id, action=action, tx_hash=_hex(tx_hash), state=new_state)

    def policy(self) -> PolicyView:
        return self._chain().policy

    def suppliers(self) -> list[SupplierView]:
        snap = self._chain()
        allowed = {a.lower() for a in snap.policy.allowed_suppliers}
        addresses = list(
            dict.fromkeys([*snap.known_suppliers, *(o.summary.supplier for o in snap.orders)])
        )
        views = []
        for address in addresses:
            mine = [o for o in snap.orders if o.summary.supplier.lower() == address.lower()]
            delivered = sum(1 for o in mine if o.summary.state == "Settled")
            missed = sum(1 for o in mine if o.summary.state == "Released")
            views.append(
                SupplierView(
                    name=self._names.get(address.lower(), address[:10]),
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
