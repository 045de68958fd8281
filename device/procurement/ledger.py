"""The machine's books: P&L per day, margin per product, reconciled with the chain.

Revenue is what customers paid (completed sales); cost of goods is what the
machine paid suppliers (mined ``confirmDelivery`` intents, on the day they were
mined); gas is what every mined or reverted transaction burnt. Gas is paid in
ether, so it is shown in wei and converted to token base units at a stated rate.
``reconcile`` checks the machine's own records against the ProfitCenter's
events, to the base unit; a taxi's fares, paid by riders straight to the ProfitCenter,
against the token's Transfer events into it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from eth_utils import event_signature_to_log_topic, to_checksum_address
from sqlmodel import col, select

from contracts.profit_center import (
    OrderSettled,
    ProfitCenter,
    ProfitCenterEvent,
    RevenueDeposited,
)
from device.procurement.models import ChainIntent, IntentState, OrderState, PurchaseOrder
from device.settings import SlotConfig
from device.store.db import Store
from device.store.models import Sale, SaleState

WEI_PER_ETH = 10**18
# What one ether of gas costs in token base units (3,000 USDC); a setting, not a price feed.
DEFAULT_TOKEN_PER_ETH = 3_000 * 10**6
TRANSFER_TOPIC = (
    "0x" + bytes(event_signature_to_log_topic("Transfer(address,address,uint256)")).hex()
)


@dataclass(frozen=True, slots=True)
class DayPnL:
    day: date
    sales: int
    revenue: int
    cost_of_goods: int
    gas_wei: int
    gas: int  # gas converted to token base units
    orders_paid: int

    @property
    def profit(self) -> int:
        return self.revenue - self.cost_of_goods - self.gas


@dataclass(frozen=True, slots=True)
class ProductMargin:
    gtin: str
    name: str
    units_sold: int
    revenue: int
    unit_cost: int | None  # average paid per unit received; None before the first delivery
    margin_ppm: int | None


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The machine's records against the chain; ``differences`` is empty when they agree."""

    deposits_local: int
    deposits_chain: int
    payments_local: int
    payments_chain: int
    treasury_chain: int
    fares_local: int = 0
    fares_chain: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.differences


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def unit_costs(store: Store) -> dict[str, int]:
    """Average paid per unit received, by GTIN, over every settled order.

    A GTIN is absent before its first delivery. The cost of goods sold is units
    sold times this (the dashboard's margin, ``Ledger.margins``).
    """
    with store.read() as session:
        settled = session.exec(
            select(PurchaseOrder).where(PurchaseOrder.state == OrderState.SETTLED)
        ).all()
    received: dict[str, int] = defaultdict(int)
    spent: dict[str, int] = defaultdict(int)
    for order in settled:
        delivered = json.loads(order.delivered or "{}")
        for line in json.loads(order.lines):
            qty = int(delivered.get(line["gtin"], 0))
            received[line["gtin"]] += qty
            spent[line["gtin"]] += qty * int(line["unit_price"])
    return {gtin: spent[gtin] // qty for gtin, qty in received.items() if qty}


class Ledger:
    """Reads the store and the chain; writes nothing."""

    def __init__(
        self,
        store: Store,
        slots: Sequence[SlotConfig],
        profit_center: ProfitCenter,
        agent_address: str,
        *,
        token_per_eth: int = DEFAULT_TOKEN_PER_ETH,
        fares: Callable[[], int] | None = None,
    ) -> None:
        """``fares``: the fares a taxi recorded (base units), paid to the ProfitCenter."""
        self.fares = fares
        self.store = store
        self.slots = list(slots)
        self.pc = profit_center
        self.agent = agent_address
        self.token_per_eth = token_per_eth

    def _intents(self, kind: str | None, states: Sequence[IntentState]) -> list[ChainIntent]:
        query = select(ChainIntent).where(col(ChainIntent.state).in_(states))
        if kind is not None:
            query = query.where(ChainIntent.kind == kind)
        with self.store.read() as session:
            return list(session.exec(query).all())

    def daily(self, first: date, last: date) -> list[DayPnL]:
        """P&L of every day from ``first`` to ``last`` inclusive (UTC days)."""
        start, _ = _day_bounds(first)
        _, end = _day_bounds(last)
        with self.store.read() as session:
            sales = session.exec(
                select(Sale).where(
                    Sale.state == SaleState.COMPLETED,
                    col(Sale.created_at) >= start,
                    col(Sale.created_at) < end,
                )
            ).all()
        revenue: dict[date, int] = defaultdict(int)
        count: dict[date, int] = defaultdict(int)
        for sale in sales:
            revenue[sale.created_at.date()] += sale.price
            count[sale.created_at.date()] += 1
        cogs: dict[date, int] = defaultdict(int)
        paid: dict[date, int] = defaultdict(int)
        for intent in self._intents("confirm_delivery", (IntentState.MINED,)):
            assert intent.settled_at is not None
            cogs[intent.settled_at.date()] += int(json.loads(intent.payload)["amount"])
            paid[intent.settled_at.date()] += 1
        gas: dict[date, int] = defaultdict(int)
        for intent in self._intents(None, (IntentState.MINED, IntentState.FAILED)):
            if intent.settled_at is not None and intent.gas_cost:
                gas[intent.settled_at.date()] += intent.gas_cost
        days = []
        day = first
        while day <= last:
            days.append(
                DayPnL(
                    day=day,
                    sales=count[day],
                    revenue=revenue[day],
                    cost_of_goods=cogs[day],
                    gas_wei=gas[day],
                    gas=gas[day] * self.token_per_eth // WEI_PER_ETH,
                    orders_paid=paid[day],
                )
            )
            day += timedelta(days=1)
        return days

    def margins(self, since: datetime) -> list[ProductMargin]:
        """Per product since ``since``: units, revenue, average unit cost paid, margin."""
        with self.store.read() as session:
            sales = session.exec(
                select(Sale).where(Sale.state == SaleState.COMPLETED, col(Sale.created_at) >= since)
            ).all()
        units: dict[str, int] = defaultdict(int)
        revenue: dict[str, int] = defaultdict(int)
        for sale in sales:
            units[sale.gtin] += 1
            revenue[sale.gtin] += sale.price
        costs = unit_costs(self.store)
        result = []
        for slot in self.slots:
            unit_cost = costs.get(slot.gtin)
            rev = revenue[slot.gtin]
            margin = (
                None
                if unit_cost is None or rev == 0
                else (rev - units[slot.gtin] * unit_cost) * 1_000_000 // rev
            )
            result.append(
                ProductMargin(slot.gtin, slot.name, units[slot.gtin], rev, unit_cost, margin)
            )
        return result

    def reconcile(self, from_block: int = 0) -> Reconciliation:
        """Deposits and supplier payments recorded here against the ProfitCenter's events."""
        events = self.pc.events(from_block)
        deposits_chain = sum(
            e.amount for e in events if isinstance(e, RevenueDeposited) and e.sender == self.agent
        )
        settled_chain = {
            "0x" + e.order_id.hex(): e.paid for e in events if isinstance(e, OrderSettled)
        }
        deposits_local = sum(
            int(json.loads(i.payload)["amount"])
            for i in self._intents("deposit_revenue", (IntentState.MINED,))
        )
        with self.store.read() as session:
            orders = session.exec(select(PurchaseOrder)).all()
        differences = []
        if deposits_local != deposits_chain:
            differences.append(
                f"revenue deposits: {deposits_local} recorded, {deposits_chain} on-chain"
            )
        mine = {o.order_id: o for o in orders}
        payments_local = 0
        for order in orders:
            if order.state is OrderState.SETTLED:
                payments_local += order.paid or 0
                if settled_chain.get(order.order_id) != (order.paid or 0):
                    differences.append(
                        f"order {order.order_id}: paid {order.paid} recorded, "
                        f"{settled_chain.get(order.order_id)} on-chain"
                    )
        for order_id, amount in settled_chain.items():
            if order_id not in mine:
                differences.append(f"order {order_id}: settled on-chain ({amount}), unknown here")
            elif mine[order_id].state is not OrderState.SETTLED:
                differences.append(
                    f"order {order_id}: settled on-chain, {mine[order_id].state} here"
                )
        fares_local = self.fares() if self.fares is not None else 0
        fares_chain = self.paid_in(from_block, events) if self.fares is not None else 0
        if fares_local != fares_chain:
            differences.append(f"fares: {fares_local} recorded, {fares_chain} paid in on-chain")
        return Reconciliation(
            fares_local=fares_local,
            fares_chain=fares_chain,
            deposits_local=deposits_local,
            deposits_chain=deposits_chain,
            payments_local=payments_local,
            payments_chain=sum(settled_chain.values()),
            treasury_chain=self.pc.treasury(),
            differences=differences,
        )

    def paid_in(self, from_block: int, events: Sequence[ProfitCenterEvent]) -> int:
        """Tokens transferred straight into the ProfitCenter (riders' fares): its token's
        Transfer events to it, less those of transactions the contract took part in (a
        deposit or a refund emits an event of its own)."""
        own = {bytes(e.meta.tx_hash) for e in events}
        w3 = self.pc.w3
        logs = w3.eth.get_logs(
            {
                "address": to_checksum_address(self.pc.token()),
                "fromBlock": from_block,
                "toBlock": "latest",
                "topics": [TRANSFER_TOPIC, None, "0x" + "00" * 12 + self.pc.address[2:].lower()],
            }
        )
        return sum(
            int.from_bytes(bytes(entry["data"]), "big")
            for entry in logs
            if bytes(entry["transactionHash"]) not in own
        )
