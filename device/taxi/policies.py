"""How a robotaxi decides, in the simulated city: the agent, the baselines, the oracle.

Every policy answers three questions at the same moments on the same world: accept
this request at this quote? (``accept``); free now — wait, move, or charge? (``idle``);
and what price rule it sells by (``cap_bp``: ``ONE`` is the fixed tariff, ``None``
uncapped surge). The agent only knows what an operator can know: the expected demand by
hour and zone (the city's published profile), today's time-of-use prices and its own
battery — never the riders to come. The oracle sees them (an upper reference, not a
proven bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from device.taxi.city import QUEUE_MIN, City, tou_per_kwh, travel_s
from device.taxi.decide import RESERVE_PERMILLE, Margins, RideCost, refusal
from device.taxi.fares import ONE, Quote

DISPATCH_M = 2_500  # the platform offers a request to a free car this close to the pickup
AGENT_CAP_BP = 15_000  # the owners' cap on the demand factor (on-chain policy later): 1.5x


@dataclass(slots=True)
class Taxi:
    """Where the taxi is, when it is free, how much energy it has."""

    t: int
    zone: int
    wh: int


@dataclass(frozen=True, slots=True)
class Action:
    kind: Literal["wait", "move", "charge"]
    zone: int = -1  # move: where to; charge: the station's zone
    target_wh: int = 0  # charge: up to this


WAIT = Action("wait")


class Policy(Protocol):
    name: str
    cap_bp: int | None
    honours_emergency: bool
    foresight: bool

    def accept(self, city: City, taxi: Taxi, quote: Quote, pickup_m: int, dest: int) -> bool: ...

    def idle(self, city: City, taxi: Taxi) -> Action: ...


def nearest_station(city: City, zone: int) -> int:
    return min(city.stations, key=lambda s: city.dist_m[zone][s])


def trip_energy_to_station(city: City, zone: int, t: int) -> int:
    return city.energy_wh(city.dist_m[zone][nearest_station(city, zone)], t)


@dataclass
class DriverRules:
    """What a human taxi driver does: take every fare, wait where dropped, charge below 20 %."""

    name: str = "driver-rules"
    cap_bp: int | None = ONE
    honours_emergency: bool = True
    foresight: bool = False

    def accept(self, city: City, taxi: Taxi, quote: Quote, pickup_m: int, dest: int) -> bool:
        return True

    def idle(self, city: City, taxi: Taxi) -> Action:
        if taxi.wh < city.physics.battery_wh // 5:
            return Action(
                "charge", nearest_station(city, taxi.zone), city.physics.battery_wh * 9 // 10
            )
        return WAIT


@dataclass(frozen=True, slots=True)
class AgentTuning:
    """The agent's knobs (tuned on seeds 1-3 only)."""

    max_pickup_m: int = 2_500
    min_profit: int = 2_000_000  # base units a ride must earn after energy and wear
    reserve_permille: int = RESERVE_PERMILLE  # never plan below this battery share
    move_gain_s: int = 120  # a move must bring the next rider this much sooner
    move_per_km_s: int = 60  # a km of deadhead counts as this much waiting (energy, wear)
    move_max_m: int = 15_000
    cheap_per_kwh: int = 200_000
    night_below_permille: int = 900  # top up at the cheapest price below this
    must_below_permille: int = 150
    night_target_permille: int = 1000
    quiet_charge: bool = True  # charge in the quietest cheap hour that can still finish
    lookahead_s: int = 900  # expected demand is read this far ahead
    own_cap_bp: int = 12_500  # the agent's own demand-factor ceiling, under the owners' cap


class Agent:
    """custobot's taxi: profit after energy and wear, battery margin, cheap charging, repositioning."""

    honours_emergency = True
    foresight = False

    def __init__(
        self,
        city: City,
        *,
        name: str = "agent",
        cap_bp: int | None = AGENT_CAP_BP,
        tuning: AgentTuning | None = None,
    ) -> None:
        self.name = name
        self.tune = tuning or AgentTuning()
        self.margins = Margins(
            capacity_wh=city.physics.battery_wh,
            wear_per_km=city.physics.wear_per_km,
            reserve_permille=self.tune.reserve_permille,
            min_profit=self.tune.min_profit,
        )
        # The owners' cap bounds the factor; the agent may ask less (fewer riders walk away).
        self.cap_bp = None if cap_bp is None else min(cap_bp, self.tune.own_cap_bp)
        dist = np.array(city.dist_m, dtype=np.int64)
        within = (dist <= DISPATCH_M).astype(np.float64)
        # Expected requests per hour in dispatch reach of each zone: [weekend, hour, zone].
        self.reach: npt.NDArray[np.float64] = city.expected @ within.T
        # Waiting places: every zone (a top-30 cut missed good ones), busiest first on ties.
        self._order = [[np.argsort(-self.reach[w, h]) for h in range(24)] for w in range(2)]
        self._dist = dist
        self._wait_s = 3600 / np.maximum(self.reach, 0.05)  # expected seconds to the next rider

    def rate(self, city: City, zone: int, t: int) -> float:
        """Expected requests per hour within reach of ``zone`` over the next half hour."""
        ahead = t + self.tune.lookahead_s
        w, h = city.weekend(ahead), (ahead // 3600) % 24
        return float(self.reach[w, h, zone])

    def accept(self, city: City, taxi: Taxi, quote: Quote, pickup_m: int, dest: int) -> bool:
        if pickup_m > self.tune.max_pickup_m:
            return False
        metres = pickup_m + quote.trip.distance_m
        ride = RideCost(
            price=quote.price,
            metres=metres,
            energy_wh=city.energy_wh(metres, taxi.t),
            to_station_wh=trip_energy_to_station(city, dest, taxi.t),
        )
        return refusal(ride, taxi.wh, self.margins) is None

    def idle(self, city: City, taxi: Taxi) -> Action:
        tune, cap = self.tune, city.physics.battery_wh
        permille = taxi.wh * 1000 // cap
        price = tou_per_kwh(taxi.t)
        if permille < tune.must_below_permille:
            return Action("charge", self._station(city, taxi), cap * 9 // 10)
        if (
            price <= tune.cheap_per_kwh
            and permille < tune.night_below_permille
            and self._quietest_cheap_hour(city, taxi)
        ):
            return Action(
                "charge", self._station(city, taxi), cap * tune.night_target_permille // 1000
            )
        here = self.rate(city, taxi.zone, taxi.t)
        # Where is the next rider soonest? Waiting time 1/rate, plus the drive to get there.
        ahead = taxi.t + tune.lookahead_s
        w, h = city.weekend(ahead), (ahead // 3600) % 24
        stay = 3600 / max(here, 0.05)
        order = self._order[w][h]
        d = self._dist[taxi.zone][order]
        seconds = (
            travel_s(d, (taxi.t // 3600) % 24)
            + self._wait_s[w, h][order]
            + tune.move_per_km_s * d / 1000
        )
        seconds[(d > tune.move_max_m) | (order == taxi.zone)] = np.inf
        i = int(np.argmin(seconds))
        if seconds[i] < stay and stay - seconds[i] >= tune.move_gain_s:
            return Action("move", int(order[i]))
        return WAIT

    def _quietest_cheap_hour(self, city: City, taxi: Taxi) -> bool:
        """Is now the cheap hour with the fewest riders expected that still leaves time to charge?

        A charge takes the taxi off the street for about an hour; at the same price, the
        hour it costs least in lost rides is the one with the fewest riders expected in the city.
        """
        if not self.tune.quiet_charge:
            return True
        cap = city.physics.battery_wh
        need_wh = cap * self.tune.night_target_permille // 1000 - taxi.wh
        need_h = max(1, -(-need_wh // city.physics.charge_w))
        hour = taxi.t // 3600
        cheap: list[int] = []  # the rest of this cheap stretch, hour by hour
        while tou_per_kwh(hour * 3600) <= self.tune.cheap_per_kwh and len(cheap) < 24:
            cheap.append(hour)
            hour += 1
        starts = cheap[: max(1, len(cheap) - need_h + 1)]
        w = city.weekend(taxi.t)
        demand = [float(city.expected[w, h % 24].sum()) for h in starts]
        return demand[0] <= min(demand)

    def _station(self, city: City, taxi: Taxi) -> int:
        """The station that costs least: driving there plus the hour's usual queue (as 2 km per 5 min)."""
        h = (taxi.t // 3600) % 24
        return min(city.stations, key=lambda s: city.dist_m[taxi.zone][s] + QUEUE_MIN[h] * 400)


def make_policy(name: str, city: City, tuning: AgentTuning | None = None) -> Policy:
    """A policy by name, fresh for one run."""
    if name == "driver-rules":
        return DriverRules()
    if name == "agent":
        return Agent(city, tuning=tuning)
    if name == "surge":
        # The same decisions as the agent, priced as ride-hailing does: uncapped, emergencies too.
        surge = Agent(city, name="surge", cap_bp=None, tuning=tuning)
        surge.honours_emergency = False
        return surge
    if name == "oracle":
        oracle = Agent(city, name="oracle", tuning=tuning)
        oracle.foresight = True
        return oracle
    raise KeyError(name)


POLICIES = ("driver-rules", "surge", "agent", "oracle")
