"""Named worlds for the demo and ``custobot simulate``: who buys what, when, and from whom.

A scenario is the demand (site profile and per-slot rates), the market
(simulated suppliers with strategies, prices, lead times and reliability) and,
where the world differs from the configured machine, changes to its slots
(what they hold and how long it keeps). ``incumbent`` is the supplier an
operator without custobot uses: the route driver's and the telemetry policy's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from device.settings import Settings, SlotConfig
from device.vending.sim.customers import OFFICE, SiteProfile, SlotDemand
from device.vending.sim.market import SupplierSpec

GYM = SiteProfile(
    hour_weights=(0, 0, 0, 0, 0, 0.3, 1.5, 2.0, 1.5, 0.8, 0.6, 0.8,
                  1.2, 1.0, 0.6, 0.6, 0.9, 1.8, 2.6, 2.8, 2.2, 1.2, 0.4, 0),
    weekday_weights=(1.2, 1.1, 1.15, 1.05, 0.9, 0.8, 0.7),
)  # fmt: skip

# The default market: four suppliers, one per reference strategy (prices as ppm of retail).
MARKET: tuple[SupplierSpec, ...] = (
    SupplierSpec("cashcarry", "fixed", 550_000, 550_000, lead_time_hours=24, reliability=0.98),
    SupplierSpec("northwind", "boulware", 580_000, 400_000, lead_time_hours=48, reliability=0.95),
    SupplierSpec("freshco", "conceder", 600_000, 450_000, lead_time_hours=24, reliability=0.96),
    SupplierSpec("mirror", "tit_for_tat", 560_000, 420_000, lead_time_hours=36, reliability=0.97),
)

# How simulated customers answer a markdown: a slot's customers are multiplied by
# (price / list) ** -elasticity while it is marked down (constant-elasticity demand).
# Item-level own-price elasticities from the meta-analyses of store scanner data:
# Bijmolt, van Heerde & Pieters (2005), "New empirical generalizations on the
# determinants of price elasticity", Journal of Marketing Research 42(2), mean -2.62
# over 1,851 estimates; Tellis (1988), JMR 25(4), mean -1.76. Category-level food
# elasticities are below 1 (Andreyeva, Long & Brownell 2010, American Journal of Public
# Health 100(2)): a markdown moves shoppers between items more than it makes appetite.
# Our assumption within that range: fresh, dated food near the meta-analytic mean,
# longer-keeping items towards Tellis' and below (a markdown there mostly moves sales
# forward in time).
ELASTICITY: dict[str, float] = {"fresh": 2.5, "chilled": 2.0, "ambient": 1.5}


def item_class(slot: SlotConfig) -> str:
    """``fresh`` keeps up to a week, ``chilled`` up to a month, else ``ambient``."""
    life = slot.shelf_life_days
    if life is not None and life <= 7:
        return "fresh"
    if life is not None and life <= 30:
        return "chilled"
    return "ambient"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    site: SiteProfile
    demand: Mapping[int, SlotDemand] = field(default_factory=dict)
    suppliers: tuple[SupplierSpec, ...] = MARKET
    incumbent: str = "cashcarry"
    slot_changes: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    elasticity: Mapping[str, float] = field(default_factory=lambda: dict(ELASTICITY))

    def price_response(self, slot: SlotConfig, price: int) -> float:
        """How many times its usual customers ``slot`` draws at ``price`` (1 at list)."""
        if price >= slot.retail_price or slot.retail_price == 0:
            return 1.0
        ratio = max(price, 1) / slot.retail_price
        return float(ratio ** -self.elasticity[item_class(slot)])

    def __post_init__(self) -> None:
        if self.incumbent not in {s.name for s in self.suppliers}:
            raise ValueError(
                f"scenario {self.name}: incumbent {self.incumbent!r} is not a supplier"
            )

    def machine(self, settings: Settings) -> Settings:
        """``settings`` with this world's slot changes (names, shelf lives) applied."""
        if not self.slot_changes:
            return settings
        ids = {s.id for s in settings.slots}
        unknown = set(self.slot_changes) - ids
        if unknown:
            raise ValueError(f"scenario {self.name}: no slot {sorted(unknown)} in this machine")
        slots = [s.model_copy(update=dict(self.slot_changes.get(s.id, {}))) for s in settings.slots]
        return settings.model_copy(update={"slots": slots})


OFFICE_SNACKS = Scenario(
    name="office",
    description="office snack machine: weekday lunch peaks, an intermittent fresh sandwich",
    site=OFFICE,
    demand={
        1: SlotDemand(daily_rate=6.0, trend_per_year=0.1),
        2: SlotDemand(daily_rate=4.0),
        3: SlotDemand(daily_rate=7.0),
        4: SlotDemand(daily_rate=5.0, trend_per_year=-0.1),
        5: SlotDemand(daily_rate=3.0),
        6: SlotDemand(daily_rate=1.5, active_day_share=0.5),
    },
)

GYM_DRINKS = Scenario(
    name="gym",
    description="gym drinks: morning and evening peaks, perishable shakes, juice and salads",
    site=GYM,
    demand={
        1: SlotDemand(daily_rate=4.0),
        2: SlotDemand(daily_rate=6.0, trend_per_year=0.2),
        3: SlotDemand(daily_rate=4.0),
        4: SlotDemand(daily_rate=3.0),
        5: SlotDemand(daily_rate=2.5),
        6: SlotDemand(daily_rate=1.5, active_day_share=0.7),
    },
    slot_changes={
        1: {"name": "Iced coffee", "shelf_life_days": 10},
        3: {"name": "Protein shake", "shelf_life_days": 6},
        4: {"name": "Fresh juice", "shelf_life_days": 4},
        6: {"name": "Salad bowl", "shelf_life_days": 2},
    },
)

VOLATILE = Scenario(
    name="volatile",
    description="a volatile site: strong trends up and down, several intermittent items",
    site=OFFICE,
    demand={
        1: SlotDemand(daily_rate=5.0, trend_per_year=0.8),
        2: SlotDemand(daily_rate=4.0, active_day_share=0.4),
        3: SlotDemand(daily_rate=7.0, trend_per_year=-0.5),
        4: SlotDemand(daily_rate=4.0, active_day_share=0.6),
        5: SlotDemand(daily_rate=3.0, trend_per_year=0.5),
        6: SlotDemand(daily_rate=1.5, active_day_share=0.3),
    },
)

UNRELIABLE = Scenario(
    name="unreliable",
    description="office demand; the usual (cheapest) wholesaler delivers late, short or not at all",
    site=OFFICE,
    demand=OFFICE_SNACKS.demand,
    suppliers=(
        SupplierSpec("cashcarry", "fixed", 500_000, 500_000, lead_time_hours=24, reliability=0.7),
        *MARKET[1:],
    ),
)

SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in (OFFICE_SNACKS, GYM_DRINKS, VOLATILE, UNRELIABLE)
}
