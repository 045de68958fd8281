"""The vending machine's buying loop: forecast → plan → negotiate → the shared order cycle.

Built on ``device.procurement.cycle.Procurement`` (placing, following and paying
orders); what is vending's is deciding what to buy: demand per slot from the
sales, the restock planner, and dealing with the known suppliers. Suppliers are
untrusted: whatever goes wrong with one is contained to it (logged, counted in
``faults``, the supplier marked unreliable) while the cycle goes on with the others.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlmodel import Session, col, select

from contracts.profit_center import Autonomy, ProfitCenter
from device.negotiation.buyer import Buyer, NegotiationResult
from device.negotiation.need import Need, NeedItem, SupplierRef
from device.negotiation.transcript import EventKind, Reason, Transcript
from device.procurement.cycle import ChainContext, Procurement
from device.procurement.delivery import DeliveryMatch
from device.procurement.models import PurchaseOrder
from device.procurement.outbox import Outbox, node_unreachable
from device.settings import Settings, SlotConfig
from device.store import repo
from device.store.db import Store
from device.store.models import AlertSeverity, Sale, SaleState, StockRecount
from device.vending.hardware.poller import SlotReading, StockSnapshot
from device.vending.planning.forecast import DemandModels, Forecast, floor_hour
from device.vending.planning.planner import (
    FILL,
    Economics,
    PlannerConfig,
    PurchasePlan,
    RestockNeed,
    SlotStock,
    SupplierOption,
    expiring_lots,
    plan_restock,
)
from device.vending.pricing.reprice import demand_at_list
from supplier.protocol import Catalog

log = structlog.get_logger()
HISTORY = timedelta(days=56)
# Items that keep longer than this are taken to sell before they expire: only
# fresh goods are tracked lot by lot.
FRESH_SHELF_LIFE_DAYS = 14
UNRELIABLE = 0.05
"""The reliability a supplier is marked down to when dealing with it went wrong."""
MISBEHAVIOUR = frozenset({Reason.REPLAYED_QUOTE, Reason.FAULT, Reason.WRONG_RFQ})
"""Refusals that say the supplier misbehaved (not just slow or expensive)."""


@dataclass(frozen=True, slots=True)
class KnownSupplier:
    """A supplier as both the planner (prices, lead time) and the buyer (endpoint, key) see it."""

    ref: SupplierRef
    option: SupplierOption


def supplier_option(name: str, catalog: Catalog, reliability: float) -> SupplierOption:
    lead_hours = max((item.lead_time_seconds for item in catalog.items), default=3600) / 3600
    return SupplierOption(
        name=name,
        lead_time_hours=max(lead_hours, 1.0),
        prices={item.gtin: item.list_price for item in catalog.items},
        reliability=max(min(reliability, 1.0), 0.05),
        min_quantities={item.gtin: item.min_quantity for item in catalog.items},
    )


async def meet_supplier(buyer: Buyer, name: str, url: str, reliability: float) -> KnownSupplier:
    """Discover a supplier (pinning the signing key it advertises) and read its
    catalog: all the planner and the buyer need to deal with it."""
    ref = await buyer.discover(name, url, reliability=reliability)
    return KnownSupplier(ref, supplier_option(name, await buyer.catalog(ref), ref.reliability))


def with_expiry(
    db: repo.Db, slots: Sequence[SlotConfig], stock: Mapping[int, SlotStock], now: datetime
) -> dict[int, SlotStock]:
    """``stock`` with the expiry dates of fresh slots' items, from their arrivals."""
    out = dict(stock)
    for slot in slots:
        life = slot.shelf_life_days
        held = out.get(slot.id)
        if life is None or life > FRESH_SHELF_LIFE_DAYS or held is None or held.fault:
            continue
        since = now - timedelta(days=life)
        came = repo.arrivals(db, slot.id, since)
        out[slot.id] = replace(held, expiring=expiring_lots(came, held.count, life, now, since))
    return out


class Restocking(Procurement):
    """The vending machine's buyer: plans restocking and buys it through the order cycle."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        outbox: Outbox,
        profit_center: ProfitCenter,
        chain: ChainContext,
        buyer: Buyer,
        suppliers: Sequence[KnownSupplier],
        *,
        economics: Economics | None = None,
        planner: PlannerConfig | None = None,
        approval_allowance: timedelta = timedelta(hours=24),
    ) -> None:
        """``approval_allowance``: the time owners get to approve an order the policy
        makes wait; its supplier's lead time only starts once the order is approved."""
        super().__init__(settings, store, outbox, profit_center, chain, buyer)
        self.suppliers = {s.ref.name: s for s in suppliers}
        self.economics = economics or Economics(order_cost=settings.agent.order_cost)
        self.planner = planner or PlannerConfig(
            review_hours=settings.agent.plan_interval_h,
            waste_penalty=settings.agent.waste_penalty,
        )
        self.approval_allowance = approval_allowance
        self._models: DemandModels | None = None
        self._marked_share = 0.0  # see ``demand_at_list``: markdowns are not list demand
        self.last_plan: PurchasePlan | None = None
        self.faults: Counter[str] = Counter()
        """Per supplier: how often dealing with it went wrong (since start)."""

    # -- demand -------------------------------------------------------------------

    def _forecasts(self, now: datetime) -> dict[int, Forecast]:
        """Feed the demand models the completed sales (and stockouts) they have not seen yet."""
        if self._models is None:  # after a start: rebuild from the stored history
            with self.store.read() as session:
                first = session.exec(select(sa.func.min(StockRecount.at))).one()
            begin = max(now - HISTORY, first or now)  # a new machine has no earlier demand
            self._models = DemandModels([s.id for s in self.settings.slots], floor_hour(begin))
        since = self._models.observed_until
        until = floor_hour(now)
        with self.store.read() as session:
            sales = [
                s
                for s in repo.sales_since(session, since)
                if s.state == SaleState.COMPLETED and s.created_at < until
            ]
            recounts = session.exec(
                select(StockRecount)
                .where(col(StockRecount.at) < until)
                .order_by(col(StockRecount.at), col(StockRecount.id))
            ).all()
        listed = {s.id: s.retail_price for s in self.settings.slots}
        demand, self._marked_share = demand_at_list(
            [(s.created_at, s.slot_id, s.price) for s in sales], listed, self._marked_share
        )
        self._models.observe(
            demand,
            now,
            _empty_spans(sales, recounts, since, until),
        )
        return self._models.forecasts(now)

    # -- the daily decision -------------------------------------------------------------

    def run(self, now: datetime, snapshot: StockSnapshot) -> list[PurchaseOrder]:
        """Plan and buy: every need becomes at most one order, placed through the outbox."""
        self.reconcile(now)
        on_order = self.on_order()
        with self.store.read() as session:
            estimates = repo.stock_estimates(session, [s.id for s in self.settings.slots])
            read = {
                reading.slot_id: SlotStock.from_reading(
                    _PlannerReading.of(reading),
                    on_order.get(reading.slot_id, 0),
                    estimates.get(reading.slot_id),
                )
                for reading in snapshot.slots
            }
            stock = with_expiry(session, self.settings.slots, read, now)
        forecasts = self._forecasts(now)
        options = [s.option for s in self.suppliers.values()]
        result = plan_restock(
            now,
            self.settings.slots,
            stock,
            forecasts,
            options,
            self.economics,
            self.planner,
            replace(FILL, waste_penalty=self.planner.waste_penalty),
        )
        self.last_plan = result
        for alert in result.alerts:
            with self.store.write() as session:
                repo.raise_alert(
                    session,
                    kind="not_ordering",
                    severity=AlertSeverity.WARNING,
                    message=alert.reason,
                    now=now,
                    slot_id=alert.slot_id,
                )
        placed = []
        for need in result.needs:
            try:
                order = self._buy(now, need)
            except Exception as exc:  # nothing durable happens before _buy's chain reads
                if node_unreachable(exc):
                    log.warning("chain_unreachable", stage="buy", error=type(exc).__name__)
                    break  # the needs are planned again at the next run
                # One need going wrong must not stop the others (they are planned again).
                log.exception("need_failed", supplier=need.supplier, error=type(exc).__name__)
                continue
            if order is not None:
                placed.append(order)
        self.outbox.drain(now)
        self.reconcile(now)
        return placed

    def _need_key(self, now: datetime, need: RestockNeed) -> str:
        slots = "-".join(str(line.slot_id) for line in need.lines)
        return f"{now:%Y%m%dT%H}:{need.supplier}:{slots}"

    def _feasible_deadline(self, now: datetime, need: RestockNeed) -> int:
        """The need's deadline, but never earlier than the planned supplier can make it.

        For an urgent need the planner's deadline is exactly ``now`` + that supplier's
        lead time (truncated to the second); suppliers are judged against it once the
        negotiation runs, later, so without this margin every one of them looked too
        slow and an empty slot was never restocked.
        """
        lead = timedelta(hours=self.suppliers[need.supplier].option.lead_time_hours)
        negotiation = timedelta(seconds=self.buyer.policy.time_budget_s)
        if self._awaits_approval(need.reservation):
            lead += self.approval_allowance
        return max(
            int(need.deliver_by.timestamp()), math.ceil((now + lead + negotiation).timestamp())
        )

    def _awaits_approval(self, reservation: int) -> bool:
        """Whether an order of up to ``reservation`` will wait for the governor (False
        while the node cannot be asked: the order waits in the outbox anyway)."""
        try:
            policy = self.pc.policy()
        except OSError:
            return False
        if policy.autonomy is Autonomy.BOUND:
            return True
        return (
            policy.autonomy is Autonomy.ADAPTABLE and reservation > policy.auto_approval_threshold
        )

    def _buy(self, now: datetime, need: RestockNeed) -> PurchaseOrder | None:
        key = self._need_key(now, need)
        if self.ordered(key) is not None:
            return None
        limit = self.spend_limit(now, need.reservation, f"this restock ({need.reason})")
        if limit <= 0:
            log.info("no_budget", need=key, reservation=need.reservation)
            return None
        wanted = Need(
            items=[
                NeedItem(gtin=g, quantity=q)
                for g, q in sorted(need.items(), key=lambda i: int(i[0]))
            ],
            deliver_by=self._feasible_deadline(now, need),
            reservation=limit,
            urgency=need.urgency,
            chain_id=self.chain.chain_id,
            profit_center=self.chain.profit_center,
            token=self.chain.token,
            token_decimals=self.chain.token_decimals,
        )
        excluded: set[str] = set()
        while True:
            eligible = [need.supplier, *need.alternatives]
            refs = [
                self.suppliers[name].ref
                for name in eligible
                if name in self.suppliers and name not in excluded
            ]
            if not refs:
                return None
            result = asyncio.run(self.buyer.negotiate(wanted, refs, used=self.quote_used))
            self._note_misbehaviour(result.transcript, now)
            if result.offer is None or result.supplier is None:
                log.info("no_deal", need=key, reason=need.reason)
                return None
            try:
                return self._place(now, key, need, result)
            except Exception as exc:
                if node_unreachable(exc):
                    raise
                self._fault(result.supplier.name, type(exc).__name__, now)
                excluded.add(result.supplier.name)
            if self.ordered(key) is not None:  # the row made it: reconcile sends its intent
                return None

    def _note_misbehaviour(self, transcript: Transcript, now: datetime) -> None:
        for event in transcript.events:
            if event.kind is EventKind.REJECTION and event.reason in MISBEHAVIOUR:
                self._fault(event.supplier, event.reason.value if event.reason else "", now)

    def _fault(self, name: str, what: str, now: datetime) -> None:
        """Count a supplier's fault and mark it unreliable (planner and buyer both see it)."""
        self.faults[name] += 1
        known = self.suppliers.get(name)
        if known is not None:
            self.suppliers[name] = KnownSupplier(
                known.ref.model_copy(update={"reliability": UNRELIABLE}),
                replace(known.option, reliability=UNRELIABLE),
            )
        log.warning("supplier_unreliable", supplier=name, fault=what, faults=self.faults[name])
        with self.store.write() as session:
            repo.raise_alert(
                session,
                kind="supplier_unreliable",
                severity=AlertSeverity.WARNING,
                message=f"supplier {name} misbehaved ({what}); marked unreliable",
                now=now,
            )

    def _place(
        self, now: datetime, key: str, need: RestockNeed, result: NegotiationResult
    ) -> PurchaseOrder:
        """The negotiated quote as a purchase order and its ``placeOrder`` intent."""
        slot_of = {line.gtin: line.slot_id for line in need.lines}
        return self.place_quote(now, key, need.reservation, result, slot_of)

    # -- deliveries -------------------------------------------------------------------

    def record_delivery(
        self,
        session: Session,
        now: datetime,
        increases: Mapping[int, int],
        order_ids: Sequence[str] | None = None,
    ) -> list[DeliveryMatch]:
        """A restocking visit ended: owe the open orders (``order_ids`` when the driver
        named them) what the sensors counted, oldest first.

        Runs inside the caller's transaction, the one that records the recount: the
        count and the debt it creates become durable together, or not at all.
        """
        gtin_of = {s.id: s.gtin for s in self.settings.slots}
        per_gtin: dict[str, int] = {}
        for slot_id, count in increases.items():
            if count > 0:
                per_gtin[gtin_of[slot_id]] = per_gtin.get(gtin_of[slot_id], 0) + count
        return self.record_items(session, now, per_gtin, order_ids)


@dataclass(frozen=True, slots=True)
class _PlannerReading:
    """A poller reading with its fault as text, the shape the planner's protocol reads."""

    slot_id: int
    count: int | None
    floor: int | None
    ceiling: int | None
    usable: bool
    fault: str
    detail: str

    @classmethod
    def of(cls, r: SlotReading) -> _PlannerReading:
        return cls(r.slot_id, r.count, r.floor, r.ceiling, r.usable, r.fault.value, r.detail)


def _empty_spans(
    sales: Sequence[Sale], recounts: Sequence[StockRecount], since: datetime, until: datetime
) -> dict[int, list[tuple[datetime, datetime]]]:
    """When each slot had nothing to sell in ``[since, until)``, replayed from the books.

    Without these, hours a slot stood empty would look like hours nobody wanted it.
    """
    events: list[tuple[datetime, int, int, int]] = [  # (time, order, slot, count or -1)
        (r.at, 0, r.slot_id, r.count) for r in recounts
    ]
    events += [(s.created_at, 1, s.slot_id, -1) for s in sales]
    events.sort(key=lambda e: (e[0], e[1]))
    level: dict[int, int] = {}
    empty_from: dict[int, datetime] = {}
    spans: dict[int, list[tuple[datetime, datetime]]] = {}
    for at, _, slot, count in events:
        if count >= 0:
            level[slot] = count
        elif slot in level:
            level[slot] = max(0, level[slot] - 1)
        if level.get(slot) == 0:
            empty_from.setdefault(slot, at)
        elif slot in empty_from:
            begin = empty_from.pop(slot)
            if at > since:
                spans.setdefault(slot, []).append((max(begin, since), at))
    for slot, begin in empty_from.items():
        spans.setdefault(slot, []).append((max(begin, since), until))
    return spans
