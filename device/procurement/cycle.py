"""The buying loop: forecast → plan → negotiate → place on-chain → receive → pay.

Every step takes ``now`` and is safe to repeat after a crash:

* a need becomes at most one ``PurchaseOrder`` (unique ``need_key``), written
  before its ``placeOrder`` intent; units on order count as stock when planning,
  so a restart never buys the same need twice;
* the chain is only touched through the outbox (intent first, one transaction);
* a delivery is counted by the sensors, matched to open orders oldest first, and
  paid for what arrived: in full, in part, or disputed when nothing arrived;
* suppliers are untrusted: a quote whose order id is already used (here or on
  chain) is refused as a replay, and whatever goes wrong with one supplier is
  contained to it (logged, counted in ``faults``, the supplier marked unreliable)
  while the cycle goes on with the others.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlmodel import Session, col, select

from contracts.profit_center import Autonomy, OrderStatus, ProfitCenter
from device.errors import CustobotError
from device.hardware.poller import SlotReading, StockSnapshot
from device.negotiation.buyer import Buyer, NegotiationResult
from device.negotiation.need import Need, NeedItem, SupplierRef
from device.negotiation.transcript import EventKind, Reason, Transcript
from device.planning.forecast import DemandModels, Forecast, floor_hour
from device.planning.planner import (
    Economics,
    PlannerConfig,
    PurchasePlan,
    RestockNeed,
    SlotStock,
    SupplierOption,
    expiring_lots,
    plan_restock,
)
from device.pricing.reprice import demand_at_list
from device.procurement.delivery import DeliveryMatch, OpenOrder, OrderLine, match_delivery
from device.procurement.models import (
    OPEN_ORDER_STATES,
    IntentState,
    OrderState,
    PurchaseOrder,
)
from device.procurement.outbox import Outbox, node_unreachable
from device.settings import Settings, SlotConfig
from device.store import repo
from device.store.db import Store
from device.store.models import AlertSeverity, Sale, SaleState, StockRecount
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


class ReplayedQuoteError(CustobotError):
    """A negotiated quote's order id is already used: the supplier replayed a quote."""


@dataclass(frozen=True, slots=True)
class ChainContext:
    """Which treasury the machine buys for."""

    chain_id: int
    profit_center: str
    token: str
    token_decimals: int = 6


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
    session: Session, slots: Sequence[SlotConfig], stock: Mapping[int, SlotStock], now: datetime
) -> dict[int, SlotStock]:
    """``stock`` with the expiry dates of fresh slots' items, from their arrivals."""
    out = dict(stock)
    for slot in slots:
        life = slot.shelf_life_days
        held = out.get(slot.id)
        if life is None or life > FRESH_SHELF_LIFE_DAYS or held is None or held.fault:
            continue
        since = now - timedelta(days=life)
        came = repo.arrivals(session, slot.id, since)
        out[slot.id] = replace(held, expiring=expiring_lots(came, held.count, life, now, since))
    return out


def _unix(when: datetime) -> int:
    return int(when.timestamp())


class Procurement:
    """The machine's buyer: owns purchase orders, talks to the chain only via the outbox."""

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
        self.settings = settings
        self.store = store
        self.outbox = outbox
        self.pc = profit_center
        self.chain = chain
        self.buyer = buyer
        self.suppliers = {s.ref.name: s for s in suppliers}
        self.economics = economics or Economics(order_cost=settings.agent.order_cost)
        self.planner = planner or PlannerConfig(review_hours=settings.agent.plan_interval_h)
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

    def on_order(self, order_ids: Sequence[str] | None = None) -> dict[int, int]:
        """Units per slot already ordered and not yet delivered (of ``order_ids`` if given)."""
        pending: dict[int, int] = {}
        for order in self._orders(OPEN_ORDER_STATES):
            if order_ids is not None and order.order_id not in order_ids:
                continue
            for line in _lines(order):
                pending[line.slot_id] = pending.get(line.slot_id, 0) + line.quantity
        return pending

    # -- the daily decision -------------------------------------------------------------

    def run(self, now: datetime, snapshot: StockSnapshot) -> list[PurchaseOrder]:
        """Plan and buy: every need becomes at most one order, placed through the outbox."""
        self.reconcile(now)
        on_order = self.on_order()
        with self.store.read() as session:
            estimates = {s.id: repo.stock_estimate(session, s.id) for s in self.settings.slots}
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
        return max(_unix(need.deliver_by), math.ceil((now + lead + negotiation).timestamp()))

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

    def spend_limit(self, now: datetime, reservation: int, what: str) -> int:
        """The most a deal for ``what`` may cost so the contract will not refuse it: the
        reservation, within the budget left (less what is on its way to the chain) and
        the per-order cap; an alert tells the owners when that is less."""
        placing = sum(o.amount for o in self._orders((OrderState.PLACING,)))
        budget = self.pc.budget_left() - placing
        limit = min(reservation, budget, self.pc.policy().per_order_cap)
        if limit < reservation:
            with self.store.write() as session:
                repo.raise_alert(
                    session,
                    kind="budget_short",
                    severity=AlertSeverity.WARNING,
                    message=f"budget left {max(budget, 0)} is below the {reservation} "
                    f"{what} may cost; buying within it",
                    now=now,
                )
        return limit

    def ordered(self, key: str) -> PurchaseOrder | None:
        """The order already placed for a need, if any: one need, one order."""
        with self.store.read() as session:
            return session.exec(select(PurchaseOrder).where(PurchaseOrder.need_key == key)).first()

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

    def quote_used(self, supplier: str, nonce: int) -> bool:
        """Whether the quote's order id is already taken, here or on chain: a replay.

        While the node is unreachable only the local orders are asked; the
        contract itself refuses a used nonce when the order is placed.
        """
        order_id = self.pc.order_id(supplier, nonce)
        with self.store.read() as session:
            local = session.exec(
                select(PurchaseOrder.id).where(PurchaseOrder.order_id == "0x" + order_id.hex())
            ).first()
        if local is not None:
            return True
        try:
            return self.pc.order(order_id).status is not OrderStatus.NONE
        except Exception as exc:
            if not node_unreachable(exc):
                raise
            return False

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

    def place_quote(
        self,
        now: datetime,
        key: str,
        reservation: int,
        result: NegotiationResult,
        slot_of: Mapping[str, int],
    ) -> PurchaseOrder:
        """A won quote as a purchase order and its ``placeOrder`` intent, for any kind:
        ``slot_of`` says where each item goes (the taxi's energy goes to slot 0)."""
        assert result.offer is not None
        assert result.supplier is not None
        transcript = result.transcript.model_dump_json()
        quote = result.offer.to_quote()
        lines = [
            {
                "gtin": line.gtin,
                "slot_id": slot_of[line.gtin],
                "quantity": line.quantity,
                "unit_price": line.unit_price,
            }
            for line in result.offer.lines
        ]
        order_id = "0x" + self.pc.order_id(quote.supplier, quote.nonce).hex()
        with self.store.read() as session:
            if session.exec(
                select(PurchaseOrder).where(PurchaseOrder.order_id == order_id)
            ).first():
                raise ReplayedQuoteError(f"order id {order_id} is already used")
        order = PurchaseOrder(
            need_key=key,
            order_id=order_id,
            supplier_name=result.supplier.name,
            supplier_address=quote.supplier,
            amount=quote.amount,
            reservation_price=reservation,
            lines=json.dumps(lines),
            quote=json.dumps(quote.to_json()),
            signature=result.offer.signature.removeprefix("0x"),
            transcript=transcript,
            state=OrderState.PLACING,
            deliver_by=datetime.fromtimestamp(quote.deliver_by, UTC),
            created_at=now,
            updated_at=now,
        )
        with self.store.write() as session:
            session.add(order)
        self.outbox.enqueue(
            f"place:{order_id}",
            "place_order",
            {"order_id": order_id, "quote": quote.to_json(), "signature": order.signature},
            now,
        )
        log.info(
            "order_negotiated",
            order=order_id,
            supplier=order.supplier_name,
            amount=order.amount,
            reservation=reservation,
        )
        return order

    # -- following orders on-chain -------------------------------------------------------

    def reconcile(self, now: datetime) -> None:
        """Bring local order states in line with the outbox and the chain.

        Never raises for an unreachable node: selling, recounting and matching
        deliveries go on, and the chain is caught up with at a later call.
        """
        for order in self._orders((OrderState.OPEN,)):
            if order.paid is not None and self.outbox.get(f"confirm:{order.order_id}") is None:
                self._pay(order.order_id, order.paid, now)  # crashed before its intent
        if self.outbox.drain(now).unreachable:
            return  # local states stand until the node answers again
        try:
            for order in self._orders((*OPEN_ORDER_STATES, OrderState.DISPUTED)):
                new_state = self._chain_state(order)
                if new_state is not None and new_state is not order.state:
                    self._set_state(order, new_state, now)
            self._release_overdue(now)
        except Exception as exc:
            if not node_unreachable(exc):
                raise
            log.warning("chain_unreachable", stage="reconcile", error=type(exc).__name__)

    def _chain_state(self, order: PurchaseOrder) -> OrderState | None:
        if order.state is OrderState.PLACING:
            intent = self.outbox.get(f"place:{order.order_id}")
            if intent is None:  # crashed between the order row and its intent
                self.outbox.enqueue(
                    f"place:{order.order_id}",
                    "place_order",
                    {
                        "order_id": order.order_id,
                        "quote": json.loads(order.quote),
                        "signature": order.signature,
                    },
                    order.created_at,
                )
                return None
            if intent.state is IntentState.FAILED:
                return OrderState.FAILED
            if intent.state not in (IntentState.MINED, IntentState.DONE_ELSEWHERE):
                return None
        status = self.pc.order(bytes.fromhex(order.order_id[2:])).status
        return {
            OrderStatus.AWAITING_APPROVAL: OrderState.AWAITING_APPROVAL,
            OrderStatus.OPEN: OrderState.OPEN,
            OrderStatus.DELIVERED: OrderState.OPEN,
            OrderStatus.DISPUTED: OrderState.DISPUTED,
            OrderStatus.SETTLED: OrderState.SETTLED,
            OrderStatus.REJECTED: OrderState.REJECTED,
            OrderStatus.CANCELLED: OrderState.REJECTED,  # the owners said no after all
            OrderStatus.RELEASED: OrderState.RELEASED,
            OrderStatus.WITHDRAWN: OrderState.RELEASED,  # the supplier took its quote back
        }.get(status)

    def _release_overdue(self, now: datetime) -> None:
        """Undelivered (or never approved) past the deadline: release, so its units stop
        counting as on order; "delivered" but nothing counted: dispute."""
        open_orders = self._orders((OrderState.OPEN, OrderState.AWAITING_APPROVAL))
        window = self.pc.policy().dispute_window if open_orders else 0
        for order in open_orders:
            chain = self.pc.order(bytes.fromhex(order.order_id[2:]))
            if chain.status is OrderStatus.DELIVERED:
                # The supplier says it delivered; the sensors counted nothing for it
                # half a window later (chain.time is when the dispute window closes).
                if order.delivered is None and _unix(now) > chain.time - window // 2:
                    self.outbox.enqueue(
                        f"dispute:{order.order_id}", "dispute", {"order_id": order.order_id}, now
                    )
                    log.warning(
                        "delivery_disputed",
                        order=order.order_id,
                        supplier=order.supplier_name,
                        reason="nothing counted",
                    )
            elif now > order.deliver_by + timedelta(hours=1):
                self.outbox.enqueue(
                    f"release:{order.order_id}",
                    "release_expired",
                    {"order_id": order.order_id},
                    now,
                )

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

    def record_items(
        self,
        session: Session,
        now: datetime,
        per_gtin: Mapping[str, int],
        order_ids: Sequence[str] | None = None,
    ) -> list[DeliveryMatch]:
        """Owe the open orders what was counted per item id (units of its catalogue
        unit: items for vending, Wh for the taxi's charging), oldest first."""
        orders = [
            o
            for o in session.exec(
                select(PurchaseOrder)
                .where(PurchaseOrder.state == OrderState.OPEN)
                .order_by(col(PurchaseOrder.created_at), col(PurchaseOrder.id))
            ).all()
            if order_ids is None or o.order_id in order_ids
        ]
        if not orders:  # an operator's visit, not a delivery
            return []
        matches, extra = match_delivery(
            per_gtin, [OpenOrder(o.order_id, o.amount, tuple(_lines(o))) for o in orders]
        )
        if extra:
            log.warning("delivery_unordered_items", items=extra)
        by_id = {o.order_id: o for o in orders}
        for match in matches:
            if not match.anything:
                continue
            row = by_id[match.order_id]
            row.delivered = json.dumps(match.delivered, sort_keys=True)
            row.paid = match.amount_due
            row.note = None if match.complete else "short delivery: paid for what arrived"
            row.updated_at = now
            session.add(row)
            self._pay(row.order_id, match.amount_due, now, session)
            log.info(
                "delivery_matched",
                order=row.order_id,
                supplier=row.supplier_name,
                paid=match.amount_due,
                complete=match.complete,
            )
        return matches

    def settle(self, now: datetime) -> None:
        """Send what the last visit made owed, and follow it on-chain."""
        self.outbox.drain(now)
        self.reconcile(now)

    def _pay(
        self, order_id: str, amount: int, now: datetime, session: Session | None = None
    ) -> None:
        """The payment for a counted delivery: one ``confirmDelivery`` intent per order."""
        self.outbox.enqueue(
            f"confirm:{order_id}",
            "confirm_delivery",
            {"order_id": order_id, "amount": amount},
            now,
            session,
        )

    def deposit_revenue(self, now: datetime, day: datetime) -> None:
        """Move one day's cashless revenue into the treasury (once per day, by key)."""
        with self.store.read() as session:
            amount = repo.daily_revenue(session, day.date())
        if amount > 0:
            self.outbox.enqueue(
                f"deposit:{day:%Y-%m-%d}", "deposit_revenue", {"amount": amount}, now
            )

    def distribute(self, now: datetime) -> None:
        """Once a week, make the profit above reserve and reservations claimable by the owners."""
        try:
            members = self.pc.members()
        except Exception as exc:
            if not node_unreachable(exc):
                raise
            return  # asked again at the next plan
        if not members:
            return
        year, week, _ = now.isocalendar()
        self.outbox.enqueue(f"distribute:{year}-W{week:02d}", "distribute", {}, now)

    # -- helpers ------------------------------------------------------------------

    def _orders(self, states: Sequence[OrderState]) -> list[PurchaseOrder]:
        with self.store.read() as session:
            return list(
                session.exec(
                    select(PurchaseOrder)
                    .where(col(PurchaseOrder.state).in_(states))
                    .order_by(col(PurchaseOrder.id))
                ).all()
            )

    def orders(self) -> list[PurchaseOrder]:
        with self.store.read() as session:
            return list(session.exec(select(PurchaseOrder).order_by(col(PurchaseOrder.id))).all())

    def _set_state(self, order: PurchaseOrder, state: OrderState, now: datetime) -> None:
        # A failed placement keeps the contract's reason (e.g. BudgetExceeded) for the owners.
        placing = self.outbox.get(f"place:{order.order_id}")
        why = placing.last_error if state is OrderState.FAILED and placing else None
        with self.store.write() as session:
            row = session.get(PurchaseOrder, order.id)
            assert row is not None
            row.state = state
            row.updated_at = now
            if why:
                row.note = why
            session.add(row)
            if state in (OrderState.FAILED, OrderState.REJECTED):
                message = f"order {order.order_id[:10]}… to {order.supplier_name} {state.value}"
                repo.raise_alert(
                    session,
                    kind=f"order_{state.value}",
                    severity=AlertSeverity.WARNING,
                    message=f"{message}: {why}" if why else message,
                    now=now,
                )
        log.info(
            "order_state", order=order.order_id, supplier=order.supplier_name, state=state.value
        )


def _lines(order: PurchaseOrder) -> list[OrderLine]:
    return [OrderLine(**line) for line in json.loads(order.lines)]


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
