"""Simulated suppliers: the reference pricing strategies in-process, lead times and reliability.

Each supplier prices an RFQ with the reference supplier's own ``PriceBook`` and
bargains with its own strategy classes (``supplier.pricing``), so the agent's
negotiations in simulation are the ones it would have over HTTP, minus the
transport and the signatures. Deliveries fail the way real ones do: late,
short or not at all, drawn from a generator seeded per (world, supplier, order
number), so every policy meets the same supplier behaviour for its n-th order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from device.negotiation.core import Finished
from device.negotiation.inprocess import Quoted, negotiate_in_process
from device.negotiation.need import Need, NeedItem
from device.negotiation.policy import BuyerPolicy
from device.settings import SlotConfig
from device.vending.planning.planner import SupplierOption
from supplier.inprocess import InProcessDesk, StepClock
from supplier.pricing import (
    FixedPrice,
    PriceBook,
    Refusal,
    Strategy,
    TimeDependent,
    TitForTat,
)
from supplier.protocol import RfqLine
from supplier.settings import CatalogEntry

PPM = 1_000_000
# Gas of one order on chain: placeOrder + confirmDelivery (see benchmarks/gas.py),
# priced at 0.1 gwei (a busy L2) and 3,000 USDC per ETH: 140k * 1e8 wei * 3e9 / 1e18.
GAS_PER_ORDER = 140_000
GAS_PRICE_WEI = 100_000_000
ETH_PRICE_BASE_UNITS = 3_000_000_000
GAS_COST_PER_ORDER = GAS_PER_ORDER * GAS_PRICE_WEI * ETH_PRICE_BASE_UNITS // 10**18
STOCK_PER_ITEM = 1_000_000  # suppliers never run out in these worlds
ROUND_TRIP_S = 0.1
PROFIT_CENTER = "0x00000000000000000000000000000000000000c1"
ERC20_ADDRESS = "0x00000000000000000000000000000000000000a0"
SIM_CHAIN_ID = 31337


@dataclass(frozen=True, slots=True)
class SupplierSpec:
    """One simulated supplier.

    Prices are shares of each item's retail price (ppm). ``reliability`` is the
    chance a delivery comes on time and complete; a failed one is late
    (``late_hours`` more), short (``short_share`` of each line) or missing, in
    the proportions of ``failure_mix`` (late, short, none).
    """

    name: str
    strategy: str  # fixed | boulware | conceder | tit_for_tat
    list_ppm: int
    floor_ppm: int
    lead_time_hours: float
    reliability: float = 0.97
    delivery_fee: int = 2_000_000
    max_rounds: int = 8
    late_hours: float = 36.0
    short_share: float = 0.5
    failure_mix: tuple[float, float, float] = (0.5, 0.3, 0.2)

    def __post_init__(self) -> None:
        if not 0 < self.floor_ppm <= self.list_ppm:
            raise ValueError(f"supplier {self.name}: need 0 < floor_ppm <= list_ppm")
        if not 0 < self.reliability <= 1:
            raise ValueError(f"supplier {self.name}: reliability must be in (0, 1]")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"supplier {self.name}: unknown strategy {self.strategy!r}")


def _strategy(kind: str) -> Strategy:
    match kind:
        case "boulware":
            return TimeDependent(0.2, "boulware")
        case "conceder":
            return TimeDependent(4.0, "conceder")
        case "tit_for_tat":
            return TitForTat(1.0, 200)
        case _:
            return FixedPrice()


STRATEGIES = ("fixed", "boulware", "conceder", "tit_for_tat")


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What happens to an order: ``delay_hours`` after it was placed, ``share`` of each line."""

    delay_hours: float
    share: float

    @property
    def on_time_and_full(self) -> bool:
        return self.share >= 1.0


@dataclass(frozen=True, slots=True)
class Deal:
    """A negotiated order: who, the total, and the unit price per GTIN (for delivery matching)."""

    supplier: str
    amount: int
    unit_prices: dict[str, int]
    list_total: int
    summary: str


class Market:
    """The suppliers of one simulated world, priced for the machine's slots."""

    def __init__(self, specs: Sequence[SupplierSpec], slots: Sequence[SlotConfig], seed: int):
        if len({s.name for s in specs}) != len(specs):
            raise ValueError("two simulated suppliers share a name")
        self.specs = {s.name: s for s in specs}
        self.seed = seed
        self._index = {s.name: i for i, s in enumerate(specs)}
        self._orders = dict.fromkeys(self.specs, 0)
        self.books: dict[str, PriceBook] = {}
        self.list_prices: dict[str, dict[str, int]] = {}
        self.floor_prices: dict[str, dict[str, int]] = {}
        for spec in specs:
            entries = [
                CatalogEntry(
                    gtin=slot.gtin,
                    name=slot.name,
                    list_price=slot.retail_price * spec.list_ppm // PPM,
                    floor_price=slot.retail_price * spec.floor_ppm // PPM,
                    lead_time_seconds=round(spec.lead_time_hours * 3600),
                    stock=STOCK_PER_ITEM,
                )
                for slot in slots
            ]
            self.books[spec.name] = PriceBook(entries)
            self.list_prices[spec.name] = {e.gtin: e.list_price for e in entries}
            self.floor_prices[spec.name] = {e.gtin: e.floor_price for e in entries}

    def option(self, name: str, reliability: float | None = None) -> SupplierOption:
        """The planner's view of a supplier: its catalog, and the reliability the buyer believes."""
        spec = self.specs[name]
        return SupplierOption(
            name=name,
            lead_time_hours=spec.lead_time_hours,
            prices=self.list_prices[name],
            reliability=spec.reliability if reliability is None else reliability,
        )

    def cheapest_floor(self) -> str:
        """The supplier with the lowest floor prices overall (the oracle's)."""
        return min(self.specs, key=lambda n: (sum(self.floor_prices[n].values()), n))

    def negotiate(
        self,
        items: Mapping[str, int],
        *,
        now: datetime,
        deliver_by: datetime,
        reservation: int,
        urgency: float,
        reliabilities: Mapping[str, float],
        policy: BuyerPolicy,
    ) -> Deal | None:
        """RFQ to every supplier at once and bargain in-process; the best deal or None."""
        t0 = now.timestamp()
        due = int(deliver_by.timestamp())
        need = Need(
            items=[NeedItem(gtin=g, quantity=q) for g, q in sorted(items.items())],
            deliver_by=due,
            reservation=reservation,
            urgency=urgency,
            chain_id=SIM_CHAIN_ID,
            profit_center=PROFIT_CENTER,
            token=ERC20_ADDRESS,
        )
        rfq = [RfqLine(gtin=g, quantity=q) for g, q in sorted(items.items())]
        desks: list[InProcessDesk] = []
        for name, spec in self.specs.items():
            priced = self.books[name].price(rfq, deliver_by=due, now=int(t0))
            if isinstance(priced, Refusal):
                continue
            desk = InProcessDesk(
                spec.name,
                _strategy(spec.strategy),
                priced,
                max_rounds=spec.max_rounds,
                deliver_by=int(t0 + spec.lead_time_hours * 3600),
                opened_at=t0,
                reliability=reliabilities.get(name, spec.reliability),
            )
            desks.append(desk)
        if not desks:
            return None
        done: Finished[Quoted] = negotiate_in_process(
            need, desks, policy, clock=StepClock(t0, ROUND_TRIP_S)
        )
        if done.winner is None or done.bid is None:
            return None
        desk = next(d for d in desks if d.name == done.winner)
        return Deal(
            supplier=done.winner,
            amount=done.bid.amount,
            unit_prices={line.gtin: line.unit_price for line in desk.lines},
            list_total=desk.list_total,
            summary=done.transcript.decision.summary,
        )

    def outcome(self, name: str) -> DeliveryOutcome:
        """How ``name``'s next order goes: seeded by (world seed, supplier, order number)."""
        spec = self.specs[name]
        n = self._orders[name]
        self._orders[name] += 1
        rng = np.random.default_rng([self.seed, 7_919, self._index[name], n])
        if rng.random() < spec.reliability:
            return DeliveryOutcome(spec.lead_time_hours, 1.0)
        late, short, _none = spec.failure_mix
        draw = rng.random() * sum(spec.failure_mix)
        if draw < late:
            return DeliveryOutcome(spec.lead_time_hours + spec.late_hours, 1.0)
        if draw < late + short:
            return DeliveryOutcome(spec.lead_time_hours, spec.short_share)
        return DeliveryOutcome(spec.lead_time_hours, 0.0)


def delivered_quantity(quantity: int, share: float) -> int:
    """Units of a line that arrive when a ``share`` of it is delivered."""
    return int(quantity * share)


def at(now: datetime, hours: float) -> datetime:
    """``now`` plus ``hours``, to the second (the simulated clock's resolution)."""
    return now + timedelta(seconds=round(hours * 3600))
