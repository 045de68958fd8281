"""Named worlds for the demo and ``custobot simulate``: who buys what, and when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from device.sim.customers import OFFICE, SiteProfile, SlotDemand


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    site: SiteProfile
    demand: Mapping[int, SlotDemand] = field(default_factory=dict)


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

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (OFFICE_SNACKS,)}
