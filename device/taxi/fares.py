"""Fair fares: a published tariff, a bounded demand factor, no personal prices.

A quote is a pure function of the tariff, the trip (distance and expected time) and
the market at that time (the zone's demand factor, the owners' cap, an emergency):
there is no rider in its signature, so the same trip at the same time costs every
rider the same. The demand factor never exceeds the cap the owners set (later read
from the on-chain policy) and is exactly 1 (surge zero) in an emergency. Every quote
carries its breakdown, adding up to the price, and says that the taxi is a machine.
Money is integer token base units (USDC: 6 decimals); factors are basis points.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.money import money
from device.taxi.errors import FareError

ONE = 10_000  # a factor of 1.0 in basis points
MACHINE_NOTICE = (
    "This taxi is an autonomous machine: no driver sets or sees your price; "
    "it follows the published tariff below."
)


@dataclass(frozen=True, slots=True)
class Tariff:
    """The published tariff, in token base units."""

    base: int  # flag fall
    per_km: int
    per_minute: int
    minimum: int = 0

    def __post_init__(self) -> None:
        if min(self.base, self.per_km, self.per_minute, self.minimum) < 0:
            raise FareError(f"a tariff has no negative parts: {self}")


# A city tariff in the range of European cities' regulated taxi fares (USDC, 6 decimals).
CITY_TARIFF = Tariff(base=3_500_000, per_km=1_900_000, per_minute=400_000, minimum=7_000_000)


@dataclass(frozen=True, slots=True)
class Trip:
    """What is priced: how far and how long (route estimate), never who rides."""

    distance_m: int
    duration_s: int

    def __post_init__(self) -> None:
        if self.distance_m < 0 or self.duration_s < 0:
            raise FareError(f"a trip has no negative length or time: {self}")


@dataclass(frozen=True, slots=True)
class Market:
    """The zone's market at the quote's time: how busy, the owners' cap, an emergency."""

    demand_bp: int = ONE  # requests per free car, in basis points of 1.0 (clamped below)
    cap_bp: int | None = ONE  # None: uncapped (ride-hailing surge, for comparison only)
    emergency: bool = False

    def __post_init__(self) -> None:
        if self.cap_bp is not None and self.cap_bp < ONE:
            raise FareError(f"a demand cap below 1.0 would discount, not cap: {self.cap_bp} bp")
        if self.demand_bp < 0:
            raise FareError(f"demand is never negative: {self.demand_bp} bp")

    @property
    def factor_bp(self) -> int:
        """The demand factor applied: at least 1, at most the cap, exactly 1 in an emergency."""
        if self.emergency:
            return ONE
        factor = max(ONE, self.demand_bp)
        return factor if self.cap_bp is None else min(factor, self.cap_bp)


def demand_bp(requests: int, free_cars: int) -> int:
    """Requests per free car as basis points (the raw surge signal ride-hailing uses)."""
    return ONE * max(0, requests) // max(1, free_cars)


@dataclass(frozen=True, slots=True)
class Quote:
    """A price with its reasons; ``lines`` add up to ``price``."""

    trip: Trip
    tariff: Tariff
    factor_bp: int
    cap_bp: int | None
    emergency: bool
    lines: tuple[tuple[str, int], ...]
    notice: str = MACHINE_NOTICE

    @property
    def price(self) -> int:
        return sum(amount for _, amount in self.lines)

    @property
    def metered(self) -> int:
        """What the tariff alone asks (base + distance + time, at least the minimum)."""
        return sum(amount for label, amount in self.lines if label != "demand")

    @property
    def surge(self) -> int:
        return self.price - self.metered

    def per_km(self) -> int:
        """Base units per km (for fairness reports); a zero-length trip counts as 1 km."""
        return self.price * 1000 // max(1000, self.trip.distance_m)

    def describe(self, decimals: int = 6, currency: str = "USDC") -> list[str]:
        """The breakdown for people: one line per part, the total, the notice."""
        out = [f"{label}: {money(amount, decimals)} {currency}" for label, amount in self.lines]
        out.append(f"total: {money(self.price, decimals)} {currency}")
        out.append(self.notice)
        return out


def _scaled(rate: int, amount: int, unit: int) -> int:
    """rate × amount / unit, rounded half up, in integers."""
    return (rate * amount * 2 + unit) // (2 * unit)


def quote(tariff: Tariff, trip: Trip, market: Market) -> Quote:
    """The price of ``trip`` now: tariff, then the bounded demand factor on top (rounded down)."""
    base = tariff.base
    distance = _scaled(tariff.per_km, trip.distance_m, 1000)
    time = _scaled(tariff.per_minute, trip.duration_s, 60)
    lines = [("base", base), ("distance", distance), ("time", time)]
    metered = base + distance + time
    if metered < tariff.minimum:
        lines.append(("minimum fare", tariff.minimum - metered))
        metered = tariff.minimum
    factor = market.factor_bp
    lines.append(("demand", metered * (factor - ONE) // ONE))
    return Quote(
        trip=trip,
        tariff=tariff,
        factor_bp=factor,
        cap_bp=market.cap_bp,
        emergency=market.emergency,
        lines=tuple(lines),
    )
