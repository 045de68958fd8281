"""The simulated city a robotaxi works in: zones, a year of ride requests, stations, physics.

Everything random is drawn once from the seed when the world is built, so every policy
meets the very same riders, queues, prices and emergencies (``build_city``).

Zones are an H3 grid (resolution 8, hexagons of ~0.7 km², 169 cells within 7 rings of
Midtown Manhattan). Requests are the robotaxi's share of a ride-hailing platform's
stream: Poisson per zone-hour, with the hour-of-day profile shaped on the NYC Taxi &
Limousine Commission's published trip records (yellow taxis, pickups by hour, 2019:
https://www.nyc.gov/site/tlc/about/tlc-trip-record-data.page — approximate shares, not
recomputed from the files here: low at 04:00–05:00, peaks at 18:00–19:00, weekend nights
busier, weekend mornings quieter) and
a spatial pattern of commuting: mornings from the outer (residential) rings to the
centre, evenings back, a nightlife cluster at night, an airport at the edge. Trip
speeds follow the city's congestion by hour (TLC's own average taxi speeds are 11–20
mph in Manhattan). Money is integer base units (USDC, 6 decimals); energy integer Wh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import overload

import h3
import numpy as np
import numpy.typing as npt

from device.taxi.gps import distance_m

CENTRE = (40.7540, -73.9840)  # Midtown Manhattan
RESOLUTION = 8
RINGS = 7
DETOUR = 1.3  # street distance over the straight line (a Manhattan grid is ~1.3)
INTRA_ZONE_M = 600  # a trip inside one hexagon
USDC = 1_000_000

# Share of a weekday's trips starting in each hour, in % (the shape of NYC TLC's yellow taxi records).
HOURLY_SHARE = (
    2.6, 1.7, 1.2, 0.9, 0.8, 1.0, 2.3, 3.9, 4.7, 4.7, 4.5, 4.6,
    4.8, 4.8, 5.1, 5.2, 4.9, 5.5, 6.4, 6.5, 6.0, 5.9, 5.5, 4.3,
)  # fmt: skip
# Weekends: later, flatter days and busy nights (the same records' Saturday/Sunday profile).
WEEKEND_SHARE = (
    4.8, 4.1, 3.3, 2.5, 1.6, 1.0, 0.9, 1.2, 1.9, 2.8, 3.8, 4.5,
    5.0, 5.2, 5.3, 5.3, 5.2, 5.2, 5.3, 5.2, 5.0, 5.0, 5.3, 5.4,
)  # fmt: skip
SPEED_KMH = (
    30, 32, 33, 33, 33, 30, 24, 18, 16, 17, 19, 19,
    19, 19, 18, 17, 16, 15, 16, 18, 21, 23, 25, 27,
)  # fmt: skip
# Time-of-use price of public DC charging, base units per kWh (night cheap, evening peak).
TOU_PER_KWH = (
    *(200_000,) * 6, *(380_000,) * 10, *(580_000,) * 5, *(320_000,) * 3,
)  # fmt: skip
# How busy a charging station is by hour: mean queue minutes (taxis charge between shifts).
QUEUE_MIN = (
    2, 1, 1, 1, 1, 3, 8, 6, 4, 4, 5, 6, 8, 8, 10, 14, 18, 16, 12, 10, 8, 6, 4, 3,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Physics:
    """The vehicle: battery, consumption, charging power, wear (a mid-size electric sedan)."""

    battery_wh: int = 60_000
    wh_per_km: int = 170
    charge_w: int = 50_000  # a 50 kW DC charger
    wear_per_km: int = 80_000  # tyres, brakes, servicing: 0.08 USDC per km


@dataclass(frozen=True, slots=True)
class City:
    """One seeded world: the same for every policy run on it."""

    seed: int
    days: int
    zones: tuple[str, ...]  # H3 cells
    ring: tuple[int, ...]
    dist_m: tuple[tuple[int, ...], ...]  # street metres between zone centres
    stations: tuple[int, ...]  # zones with a charging station
    home: int  # where the taxi starts
    # The requests, by arrival time:
    arrival_s: tuple[int, ...]
    origin: tuple[int, ...]
    dest: tuple[int, ...]
    wtp_bp: tuple[int, ...]  # the most a rider pays, in basis points of the plain tariff
    # Per hour of the simulation (index = second // 3600):
    demand_bp: npt.NDArray[np.int64]  # [hour, zone] requests per free car (the surge signal)
    emergency: npt.NDArray[np.bool_]  # [hour, zone] an emergency is declared there
    queue_s: npt.NDArray[np.int64]  # [hour, station] queue at the station
    expected: npt.NDArray[np.float64]  # [weekend, hour of day, zone] mean requests per hour
    physics: Physics

    @property
    def horizon_s(self) -> int:
        return self.days * 86_400

    def hour(self, t: int) -> int:
        return min(t // 3600, self.days * 24 - 1)

    def travel_s(self, metres: int, t: int) -> int:
        """Driving time at the congestion of the hour it starts in."""
        return travel_s(metres, (t // 3600) % 24)

    def weekend(self, t: int) -> int:
        return int((t // 86_400) % 7 >= 5)  # the year starts on a Monday

    def energy_wh(self, metres: int, t: int) -> int:
        """Energy to drive ``metres``: more in winter (heating) and high summer (cooling)."""
        month = (t // 86_400) * 12 // 365
        season = 125 if month in (0, 1, 11) else 110 if month in (6, 7) else 100
        return metres * self.physics.wh_per_km * season // 100_000


def _spatial(ring: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[np.float64]]:
    centre = np.exp(-ring / 2.2)
    outer = 0.3 + ring / RINGS
    night = np.where((ring >= 1) & (ring <= 2), 3.0, 0.4) * centre
    return {k: v / v.sum() for k, v in {"centre": centre, "outer": outer, "night": night}.items()}


def _mix(
    hour: int, spatial: dict[str, npt.NDArray[np.float64]], *, pickup: bool
) -> npt.NDArray[np.float64]:
    """Where trips start (or end) at this hour of the day: commuting in, out, nightlife."""
    centre, outer, night = spatial["centre"], spatial["outer"], spatial["night"]
    if 6 <= hour < 10:
        weights = (0.25, 0.75, 0.0) if pickup else (0.8, 0.2, 0.0)
    elif 16 <= hour < 20:
        weights = (0.8, 0.2, 0.0) if pickup else (0.25, 0.75, 0.0)
    elif hour >= 22 or hour < 3:
        weights = (0.3, 0.1, 0.6) if pickup else (0.2, 0.7, 0.1)
    else:
        weights = (0.55, 0.45, 0.0)
    mix: npt.NDArray[np.float64] = weights[0] * centre + weights[1] * outer + weights[2] * night
    mix /= mix.sum()
    return mix


def build_city(
    seed: int, days: int = 365, *, requests_per_day: int = 800, physics: Physics | None = None
) -> City:
    """Draw a whole world from ``seed``; the same seed gives the same world, bit for bit."""
    rng = np.random.default_rng(np.random.SeedSequence([0x7A11, seed]))
    centre = h3.latlng_to_cell(*CENTRE, RESOLUTION)
    zones = sorted(h3.grid_disk(centre, RINGS))
    ring = np.array([h3.grid_distance(centre, z) for z in zones], dtype=np.int64)
    latlng = [h3.cell_to_latlng(z) for z in zones]
    n = len(zones)
    dist = [
        [
            INTRA_ZONE_M if i == j else int(DETOUR * distance_m(*latlng[i], *latlng[j]))
            for j in range(n)
        ]
        for i in range(n)
    ]
    spatial = _spatial(ring)
    airport = int(rng.choice(np.flatnonzero(ring == RINGS)))
    weekday_share = np.array(HOURLY_SHARE) / sum(HOURLY_SHARE)
    weekend_share = np.array(WEEKEND_SHARE) / sum(WEEKEND_SHARE)
    pick = np.stack([_mix(h, spatial, pickup=True) for h in range(24)])
    drop = np.stack([_mix(h, spatial, pickup=False) for h in range(24)])
    pick[:, airport] += 0.02  # flights land all day
    drop[:, airport] += 0.02
    pick /= pick.sum(axis=1, keepdims=True)
    drop /= drop.sum(axis=1, keepdims=True)
    expected = np.stack(
        [
            requests_per_day * weekday_share[:, None] * pick,
            requests_per_day * 1.1 * weekend_share[:, None] * pick,
        ]
    )  # [weekend, hour, zone]

    hours = days * 24
    hod = np.arange(hours) % 24
    is_weekend = ((np.arange(hours) // 24) % 7 >= 5).astype(np.int64)
    season = 1.0 + 0.1 * np.cos(2 * np.pi * (np.arange(hours) / 24 - 15) / 365)  # busier winter
    rate = expected[is_weekend, hod] * season[:, None]  # [hour, zone]

    # Emergencies: a few a year (storms, transit strikes): demand x4 around one zone for hours.
    emergency = np.zeros((hours, n), dtype=np.bool_)
    for _ in range(max(1, days * 4 // 365)):
        start = int(rng.integers(0, max(1, hours - 12)))
        length = int(rng.integers(4, 10))
        around = set(h3.grid_disk(zones[int(rng.integers(0, n))], 2))
        cols = [i for i, z in enumerate(zones) if z in around]
        emergency[start : start + length, cols] = True
    rate = np.where(emergency, rate * 4.0, rate)

    # The surge signal: requests per free car, scarce in the rush hours and in emergencies.
    scarcity = np.array(
        [1.3, 1.2, 1.0, 0.8, 0.7, 0.8, 1.1, 1.6, 1.7, 1.3, 1.0, 1.0,
         1.0, 1.0, 1.1, 1.2, 1.5, 1.8, 1.9, 1.6, 1.3, 1.2, 1.3, 1.4]
    )  # fmt: skip
    pressure = scarcity[hod][:, None] * (0.8 + 0.4 * spatial["centre"] / spatial["centre"].max())
    pressure = pressure * rng.lognormal(0.0, 0.25, size=(hours, n))
    pressure = np.where(emergency, pressure * 3.0, pressure)
    demand_bp = np.rint(pressure * 10_000).astype(np.int64)

    counts = rng.poisson(rate)
    hour_of = np.repeat(np.repeat(np.arange(hours), n), counts.ravel())
    origin = np.repeat(np.tile(np.arange(n), hours), counts.ravel())
    arrival = hour_of * 3600 + rng.integers(0, 3600, size=hour_of.size)
    dest = np.empty_like(origin)
    cdf = np.cumsum(drop, axis=1)
    u = rng.random(origin.size)
    for h in range(24):
        sel = (hour_of % 24) == h
        dest[sel] = np.minimum(np.searchsorted(cdf[h], u[sel]), n - 1)
    # Willingness to pay over the plain tariff: everyone pays the tariff; fewer pay more,
    # more of them when cars are scarce (the scarcity surge pricing feeds on).
    scarce = np.sqrt(np.maximum(1.0, pressure[hour_of, origin]))
    wtp = 1.0 + rng.lognormal(np.log(0.35), 0.7, size=origin.size) * scarce
    order = np.argsort(arrival, kind="stable")

    stations = tuple(int(s) for s in rng.choice(n, size=6, replace=False))
    queue_s = np.rint(
        rng.exponential(1.0, size=(hours, len(stations))) * np.array(QUEUE_MIN)[hod][:, None] * 60
    ).astype(np.int64)
    return City(
        seed=seed,
        days=days,
        zones=tuple(zones),
        ring=tuple(int(r) for r in ring),
        dist_m=tuple(tuple(row) for row in dist),
        stations=stations,
        home=int(np.argmin(ring)),
        arrival_s=tuple(arrival[order].tolist()),
        origin=tuple(origin[order].tolist()),
        dest=tuple(dest[order].tolist()),
        wtp_bp=tuple(np.minimum(np.rint(wtp[order] * 10_000), 10**6).astype(np.int64).tolist()),
        demand_bp=demand_bp,
        emergency=emergency,
        queue_s=queue_s,
        expected=expected,
        physics=physics or Physics(),
    )


@overload
def travel_s(metres: int, hour_of_day: int) -> int: ...


@overload
def travel_s(metres: npt.NDArray[np.int64], hour_of_day: int) -> npt.NDArray[np.int64]: ...


def travel_s(metres: int | npt.NDArray[np.int64], hour_of_day: int) -> int | npt.NDArray[np.int64]:
    """Driving ``metres`` (one distance, or many at once) at that hour's congestion, plus a
    minute to stop and start."""
    return metres * 36 // (10 * SPEED_KMH[hour_of_day % 24]) + 60


def tou_per_kwh(t: int) -> int:
    return TOU_PER_KWH[(t // 3600) % 24]


def charge_cost(wh: int, start: int, power_w: int) -> tuple[int, int]:
    """(seconds, base units) to put ``wh`` into the battery from ``start``, hour by hour at its price."""
    t, cost, left = start, 0, wh
    while left > 0:
        room = 3600 - t % 3600
        chunk = min(left, math.ceil(power_w * room / 3600))
        cost += chunk * tou_per_kwh(t) // 1000
        t += max(1, chunk * 3600 // power_w)
        left -= chunk
    return t - start, cost
