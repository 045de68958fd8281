"""The one read (and approve) interface the dashboard renders from.

Every page, API response and metric comes from a :class:`MachineView`; the models
below are both what the view returns and what ``/api`` serializes, so the page,
the API and the OpenAPI document cannot disagree. Money is integer token base
units; times are unix seconds.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from device.negotiation.transcript import Transcript

BaseUnits = Annotated[int, Field(description="token base units (USDC: 6 decimals)")]
Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
TxHash = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
UnixTime = Annotated[int, Field(ge=0, description="unix seconds")]
OrderId = Annotated[
    str,
    Field(
        pattern=r"^0x[0-9a-f]{64}$", description="ProfitCenter order id: keccak(supplier, nonce)"
    ),
]


class Window(StrEnum):
    day = "24h"
    week = "7d"
    month = "30d"

    @property
    def seconds(self) -> int:
        return {"24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}[self.value]

    @property
    def bucket_seconds(self) -> int:
        return {"24h": 3_600, "7d": 86_400, "30d": 86_400}[self.value]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Alert(_Model):
    level: Literal["info", "warning", "critical"]
    source: str = Field(description="what raised it: slot:3, chain, outbox, ...")
    message: str


class Treasury(_Model):
    """What the ProfitCenter holds, read from the chain."""

    contract: Address
    token: Address
    token_decimals: int
    balance: BaseUnits
    reserved: BaseUnits = Field(description="held for open orders")
    paused: bool


class LostSales(_Model):
    """Customers who found their item's slot empty and left without buying."""

    customers: int
    amount: BaseUnits = Field(description="what they would have paid (retail price)")


class Overview(_Model):
    device_id: str
    now: UnixTime
    treasury: Treasury | None = Field(description="None when the chain is unreachable")
    revenue_today: BaseUnits
    profit_today: int = Field(
        description="margin on goods sold today: revenue minus what those items cost the "
        "machine (base units; negative on a loss)"
    )
    cost_of_goods_today: BaseUnits = Field(description="what today's sold items cost")
    cost_unknown_units: int = Field(
        default=0, description="items sold today whose cost is not known yet (no order yet)"
    )
    cash_flow_today: int = Field(
        default=0, description="revenue minus supplier payments today (base units)"
    )
    units_sold_today: int
    open_orders: int
    pending_approvals: int
    empty_slots: list[str] = Field(default_factory=list, description="items sold out now")
    low_slots: list[str] = Field(
        default_factory=list,
        description="items at a quarter of capacity or less, or empty in a day",
    )
    lost_today: LostSales = LostSales(customers=0, amount=0)
    lost_week: LostSales = LostSales(customers=0, amount=0)
    alerts: list[Alert]


SensorHealth = Literal["ok", "stuck", "out_of_range", "flapping", "disconnected", "unknown"]


class SlotView(_Model):
    slot_id: int
    name: str
    gtin: str
    capacity: int
    par: int
    count: int | None = Field(description="items in the slot; None while unknown")
    fill_pct: float | None
    days_to_empty: float | None = Field(description="from the forecast; None without one")
    sensor_kind: str
    health: SensorHealth


class SalesBucket(_Model):
    start: UnixTime
    units: int
    revenue: BaseUnits
    cost: BaseUnits = Field(description="supplier payments in the bucket (cash out)")
    profit: int = Field(description="cash flow: revenue minus supplier payments")
    cost_of_goods: BaseUnits = Field(default=0, description="what the items sold cost")
    margin: int = Field(default=0, description="revenue minus cost of the goods sold")


class SalesSeries(_Model):
    window: Window
    bucket_seconds: int
    buckets: list[SalesBucket]


class OrderSummary(_Model):
    order_id: OrderId
    state: str
    supplier: Address
    supplier_name: str | None
    amount: BaseUnits
    deliver_by: UnixTime | None
    placed_tx: TxHash | None
    settled_tx: TxHash | None


class ItemLabel(_Model):
    """How owners read an item the machine buys that no slot names (a taxi's kWh of
    charging): its name, and the unit its quantity is shown in."""

    name: str
    unit: str = Field(default="", description="e.g. kWh; empty for items counted one by one")
    per_unit: int = Field(default=1, ge=1, description="protocol quantity in one shown unit")


class OrderLine(_Model):
    """One item the order buys, as the machine names it."""

    gtin: str
    name: str = Field(description="the slot's item name; the GTIN when no slot holds it")
    quantity: int = Field(description="in the protocol's units (items, Wh)")
    quantity_text: str = Field(description="as owners read it: 3, or 33.6 kWh")
    unit: str = Field(description="what unit_price is per; empty for one item")
    unit_price: BaseUnits = Field(description="per shown unit")
    line_total: BaseUnits

    @property
    def bought(self) -> str:
        """What the line buys in words: ``3 × Cola`` or ``33.6 kWh of charging``."""
        return (
            f"{self.quantity_text} of {self.name}"
            if self.unit
            else f"{self.quantity} × {self.name}"
        )


class OrderDetail(_Model):
    order: OrderSummary
    lines: list[OrderLine] = Field(
        default_factory=list, description="what it buys; empty when this machine has no record"
    )
    transcript: Transcript | None = Field(
        description="the negotiation behind the order (offers, counters, why the winner won); "
        "None when none was recorded"
    )


class ContractCall(_Model):
    """The exact call an owner makes from a Safe or wallet when the dashboard holds no key."""

    contract: Address
    function: str = Field(examples=["approveOrder(uint256)"])
    args: list[str]
    calldata: str = Field(pattern=r"^0x[0-9a-f]*$")


class PendingApproval(_Model):
    order: OrderSummary
    lines: list[OrderLine] = Field(default_factory=list, description="what it buys, if recorded")
    approve_call: ContractCall
    reject_call: ContractCall


class Decision(_Model):
    order_id: OrderId
    action: Literal["approve", "reject"]
    tx_hash: TxHash
    state: str = Field(description="the order's on-chain state after the transaction")


class PolicyView(_Model):
    autonomy: Literal["bound", "adaptable", "autonomous"]
    auto_approval_threshold: BaseUnits = Field(description="adaptable: orders above it wait")
    order_cap: BaseUnits
    budget_per_period: BaseUnits
    period_seconds: int
    budget_left: BaseUnits
    reserve: BaseUnits
    dispute_window_seconds: int
    allowed_suppliers: list[Address]
    supplier_names: dict[str, str] = Field(
        default_factory=dict, description="lower-case address -> supplier name, where known"
    )


class PricePoint(_Model):
    at: UnixTime
    amount: BaseUnits


class SupplierView(_Model):
    name: str
    url: str | None
    address: Address | None
    allowed: bool
    orders: int
    delivered: int
    reliability: float | None = Field(description="delivered / settled orders; None before any")
    prices: list[PricePoint]


class Member(_Model):
    address: Address
    shares: int
    claimable: BaseUnits


class Distribution(_Model):
    """``distributed``: made claimable to all members by share; ``claimed``: one member took it."""

    at: UnixTime
    kind: Literal["distributed", "claimed"]
    member: Address | None
    amount: BaseUnits
    tx_hash: TxHash


class MembersView(_Model):
    total_shares: int
    distributable: BaseUnits
    members: list[Member]
    distributions: list[Distribution]


class SlotPrice(_Model):
    """A slot's price policy and what it sells at now."""

    slot_id: int
    name: str
    list_price: BaseUnits = Field(description="the owners' list price (never exceeded)")
    floor_price: BaseUnits = Field(description="the lowest a markdown may reach")
    price: BaseUnits = Field(description="what a customer pays now, the same for everyone")
    reason: str | None = Field(description="why, when the price was last changed")


class PriceChangeView(_Model):
    at: UnixTime
    slot_id: int
    price: BaseUnits
    list_price: BaseUnits
    units: int = Field(description="near-expiry units the markdown is for (0: back to list)")
    reason: str


class PricingView(_Model):
    """Markdowns of near-expiry stock and the price on waste: the owners' policy (config)
    and what it did."""

    markdowns: bool
    max_markdown_pct: int
    floor_pct: int = Field(description="a slot's floor when it sets none, in % of list")
    waste_penalty: float = Field(
        description="each perishable thrown away counts this many times its cost against "
        "a restock, on top of the cost (the owners' price on food waste)"
    )
    waste_policy: str = Field(description="the same in words")
    slots: list[SlotPrice]
    changes: list[PriceChangeView] = Field(description="the latest price changes, newest first")


class RideRow(_Model):
    """One ride as the rider was quoted it: the breakdown adds up to the price."""

    trip_id: str
    state: str
    accepted_at: UnixTime
    distance_m: int
    price: BaseUnits
    lines: list[tuple[str, BaseUnits]] = Field(
        description="the breakdown in words and amounts; no demand line when there is no surge"
    )
    surge: str = Field(description="the demand factor in words: 'no surge' or 'demand × 1.20'")
    rules: str = Field(description="where the cap and emergency came from, in plain words")


class RidesView(_Model):
    """A taxi's rides, battery and profit and loss (fares less upkeep paid)."""

    rides: list[RideRow]
    trips: int
    trips_today: int = Field(description="rides booked since midnight UTC, on the taxi's clock")
    battery_permille: int | None
    battery_stale: bool
    fares: BaseUnits
    upkeep_paid: BaseUnits
    profit: int


class MachineView(Protocol):
    """Everything the dashboard shows, and the two things it may do (approve, reject)."""

    def overview(self) -> Overview: ...

    def slots(self) -> list[SlotView]: ...

    def sales_series(self, window: Window) -> SalesSeries: ...

    def orders(self) -> list[OrderSummary]: ...

    def order(self, order_id: str) -> OrderDetail:
        """Raise ``OrderNotFoundError`` for an unknown id."""
        ...

    def pending_approvals(self) -> list[PendingApproval]: ...

    def can_sign(self) -> bool:
        """True when the dashboard holds the governor key and can send decisions itself."""
        ...

    def decide(self, order_id: str, *, approve: bool) -> Decision:
        """Send approveOrder/rejectOrder; raise ``ApprovalError`` or ``OrderNotFoundError``."""
        ...

    def policy(self) -> PolicyView: ...

    def pricing(self) -> PricingView: ...

    def suppliers(self) -> list[SupplierView]: ...

    def members(self) -> MembersView: ...

    def outbox_depth(self) -> int | None:
        """Chain transactions waiting to be sent; None when the outbox does not exist."""
        ...

    def rides(self) -> RidesView | None:
        """A taxi's rides, battery and P&L; None for a machine that sells no rides."""
        ...
