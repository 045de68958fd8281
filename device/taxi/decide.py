"""Which rides the taxi takes: one rule for the simulated city and the live rider desk.

A ride is worth taking when its fare covers the energy (at the day's price) and the wear
of every metre it drives, pickup included, by ``min_profit``; and the battery keeps its
margin: after the drop-off it still reaches a charging station with ``reserve_permille``
of the pack left. The rule reads the ride and the battery only, never the rider, and
never changes the price; it only says yes or no.
"""

from __future__ import annotations

from dataclasses import dataclass

PLAN_PER_KWH = 380_000
"""The day price of a kWh (0.38 USDC), for judging a ride before it is driven."""
RESERVE_PERMILLE = 80
"""Never plan below this share of the pack."""


@dataclass(frozen=True, slots=True)
class RideCost:
    """What serving one ride takes: the fare, the metres to the pickup and to the drop-off,
    the energy for them, and the energy from the drop-off to the nearest charging station."""

    price: int
    metres: int
    energy_wh: int
    to_station_wh: int


@dataclass(frozen=True, slots=True)
class Margins:
    """The owners' margins: wear, the reserve, the least a ride must earn, the energy price."""

    capacity_wh: int
    wear_per_km: int
    reserve_permille: int = RESERVE_PERMILLE
    min_profit: int = 0
    per_kwh: int = PLAN_PER_KWH


def ride_margin(ride: RideCost, margins: Margins) -> int:
    """What a ride earns after its energy and the wear of its metres (base units)."""
    energy = ride.energy_wh * margins.per_kwh // 1000
    return ride.price - energy - ride.metres * margins.wear_per_km // 1000


def refusal(ride: RideCost, battery_wh: int, margins: Margins) -> str | None:
    """Why the taxi cannot take the ride, in the rider's words; ``None`` when it can."""
    if ride_margin(ride, margins) < margins.min_profit:
        return "the fare would not cover the energy and wear of the drive"
    left = battery_wh - ride.energy_wh - ride.to_station_wh
    if left < margins.capacity_wh * margins.reserve_permille // 1000:
        return "the battery is too low to drive this ride and still reach a charging station"
    return None
