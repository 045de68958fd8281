"""Fair fares: a published tariff, a bounded demand factor, no personal prices.

A quote is a pure function of the tariff, the trip (distance and expected time) and
the market at that time (the zone's demand factor, the owners' cap, an emergency):
there is no rider in its signature, so the same trip at the same time costs every
rider the same. The demand factor never exceeds the cap the owners set (later read
from the on-chain policy) and is exactly 1 (surge zero) in an emergency. Every quote
carries its breakdown, adding up to the price, and says that the taxi is a machine.
Money is integer token base units (USDC: 6 decimals); factors are basis points.

The owners' rules come from the chain (``ProfitCenter.fareRules``: the cap and the
governor's emergency flag, read by ``ChainFareRules``) and from an optional public alert
feed (``AlertFeed``) that can only hold fares to the tariff. Whatever goes wrong on the
way, the answer is the safe one: a chain that cannot be read or is stale means no surge
(factor 1.0); a feed that is down or sends garbage is logged and changes nothing.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from device.money import money
from device.taxi.errors import FareError

if TYPE_CHECKING:
    from contracts.profit_center import ProfitCenter

log = structlog.get_logger()

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
    rules_source: str = "fixed"  # where the cap and emergency came from, for the rider

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
    rules_source: str = "fixed"

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
        rules_source=market.rules_source,
    )


# ---------------------------------------------------------------- the owners' rules


class FareSettings(BaseModel):
    """Where the taxi reads the owners' fare rules (the ``[taxi.fares]`` part of a config)."""

    model_config = ConfigDict(extra="forbid")

    alert_feed_url: HttpUrl | None = Field(
        default=None,
        description="a public alert feed (JSON): {'emergency': bool}, or CAP alerts as "
        "GeoJSON (api.weather.gov/alerts/active): a Severe or Extreme one holds fares",
    )
    alert_feed_poll_s: float = Field(default=60, gt=0)
    alert_feed_timeout_s: float = Field(default=3, gt=0, le=30)
    chain_poll_s: float = Field(default=5, ge=0)
    chain_max_age_s: int = Field(default=300, gt=0, description="an older latest block is stale")


@dataclass(frozen=True, slots=True)
class OwnersRules:
    """The cap and emergency a quote is given under, and where they came from (for people)."""

    cap_bp: int
    emergency: bool
    source: str


NO_SURGE = OwnersRules(cap_bp=ONE, emergency=False, source="fallback")


class ChainFareRules:
    """The owners' cap and emergency from the ProfitCenter, re-read at most every ``poll_s``.

    A failed read or a latest block older than ``max_age_s`` (or as far ahead of the
    taxi's clock, which then cannot tell a stale chain) gives the safe fallback,
    factor 1.0 (no surge), and says so in the log and in the rules' ``source``.
    """

    def __init__(self, pc: ProfitCenter, *, poll_s: float = 5, max_age_s: int = 300) -> None:
        self.pc = pc
        self.poll_s = poll_s
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._rules = NO_SURGE

    def __call__(self, now: int) -> OwnersRules:
        with self._lock:
            if self._read_at is None or not 0 <= now - self._read_at < self.poll_s:
                self._rules = self._read(now)
                self._read_at = now
            return self._rules

    def _read(self, now: int) -> OwnersRules:
        try:
            block = self.pc.w3.eth.get_block("latest")
            rules = self.pc.fare_rules()
        except Exception as exc:  # any failure of the node or the call: no surge
            # The type only: a node's error repeats the RPC URL, a hosted one's API key.
            log.error("fare_rules_unreadable", error=type(exc).__name__, fallback="factor 1.0")
            return OwnersRules(ONE, False, "chain unreachable: no surge (factor 1.0)")
        age = now - int(block["timestamp"])
        if abs(age) > self.max_age_s:  # stale, or the taxi's clock too far behind to tell
            log.error("fare_rules_stale", block=int(block["number"]), age_s=age)
            why = f"chain stale ({age // 60} min)" if age > 0 else f"clock {-age // 60} min behind"
            return OwnersRules(ONE, False, f"{why}: no surge (factor 1.0)")
        return OwnersRules(
            rules.cap_bp, rules.emergency, f"on-chain policy, block {block['number']}"
        )


class AlertFeedError(FareError):
    """The alert feed answered something that is not an alert document."""


_SEVERE = frozenset({"Severe", "Extreme"})


def feed_emergency(document: Any) -> bool:
    """Whether a feed document declares an emergency: ``{"emergency": bool}``, or a GeoJSON
    collection of CAP alerts in which an actual one is Severe or Extreme."""
    if isinstance(document, dict) and isinstance(document.get("emergency"), bool):
        return bool(document["emergency"])
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list):
        raise AlertFeedError("neither {'emergency': true|false} nor a GeoJSON list of alerts")
    for feature in features:
        properties = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(properties, dict):
            raise AlertFeedError("an alert without properties")
        if properties.get("status", "Actual") == "Actual" and properties.get("severity") in _SEVERE:
            return True
    return False


MAX_FEED_BYTES = 16 * 1024 * 1024
"""A whole country's CAP alerts as GeoJSON stay well below this."""
MAX_FEED_DEPTH = 64
"""GeoJSON alerts nest about 8 deep. Deeper documents are refused unparsed: web3's
py_ecc raises the recursion limit to 100,000, so ``json.loads`` of a few thousand
nested brackets overflows the C stack and kills the taxi's process."""
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(document: bytes | bytearray) -> int:
    """How deep the arrays and objects of a JSON document nest (brackets in strings aside)."""
    brackets = _BRACKET.findall(_JSON_STRING.sub(b"", document))
    return max(accumulate(1 if b in b"[{" else -1 for b in brackets), default=0)


class AlertFeed:
    """A public alert feed, fetched at most every ``poll_s``; it can only stop surge.

    A feed that cannot be reached, answers garbage, sends more than ``max_bytes`` or
    takes longer than ``timeout_s`` (quotes wait for it) is logged as an error and the
    last answer it gave stands (at first: no emergency), so its failure neither declares
    an emergency nor lifts one. The fetch runs in a reader thread, so a feed that drips
    its head (which no body deadline covers) holds that thread, never the quotes; no
    second reader starts while one is stuck.
    """

    def __init__(
        self,
        url: str,
        *,
        poll_s: float = 60,
        timeout_s: float = 3,
        max_bytes: int = MAX_FEED_BYTES,
    ) -> None:
        self.url = url
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fetched_at: float | None = None
        self._emergency = False
        self._reader: threading.Thread | None = None
        self._answers: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def __call__(self, now: int) -> bool:
        with self._lock:
            if self._fetched_at is None or not 0 <= now - self._fetched_at < self.poll_s:
                self._fetched_at = now
                self._fetch()
            return self._emergency

    def _fetch(self) -> None:
        if self._reader is None or not self._reader.is_alive():
            self._answers = queue.SimpleQueue()
            self._reader = threading.Thread(
                target=self._read, args=(self._answers,), name="alert-feed", daemon=True
            )
            self._reader.start()
        try:
            answer = self._answers.get(timeout=self.timeout_s)
        except queue.Empty:
            answer = AlertFeedError(f"no answer within {self.timeout_s:g} s")
        try:
            if isinstance(answer, Exception):
                raise answer
            emergency = feed_emergency(answer)
        except (httpx.HTTPError, ValueError, AlertFeedError) as exc:
            log.error("alert_feed_failed", url=self.url, error=str(exc)[:300], kept=self._emergency)
            return
        if emergency != self._emergency:
            log.warning("alert_feed_emergency", url=self.url, emergency=emergency)
        self._emergency = emergency

    def _read(self, answers: queue.SimpleQueue[Any]) -> None:
        """The reader thread: the document, or why there is none."""
        try:
            answers.put(self._document())
        except (httpx.HTTPError, ValueError, AlertFeedError) as exc:
            answers.put(exc)

    def _document(self) -> Any:
        """The feed's JSON, read against one deadline (a body that drips would pass every
        per-read timeout and hold the reader), a size limit and a nesting limit."""
        deadline = time.monotonic() + self.timeout_s
        body = bytearray()
        with httpx.stream(
            "GET", self.url, timeout=self.timeout_s, follow_redirects=False
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    raise AlertFeedError(f"more than {self.max_bytes // 1024} KiB")
                if time.monotonic() > deadline:
                    raise AlertFeedError(f"the answer took longer than {self.timeout_s:g} s")
        if json_depth(body) > MAX_FEED_DEPTH:
            raise AlertFeedError(f"JSON nested more than {MAX_FEED_DEPTH} deep")
        return json.loads(body)


DemandSource = Callable[[str, int], int]
"""The pickup zone's demand (requests per free car, basis points) at a unix time."""


def no_demand_signal(zone: str, t: int) -> int:
    """Until the taxi measures demand by zone: 1.0 everywhere, always (the plain tariff)."""
    return ONE


class OwnersMarket:
    """The market a quote is given under: the zone's demand, capped by the owners' rules
    (on-chain), with surge zero while the governor or the alert feed declares an emergency."""

    def __init__(
        self,
        rules: Callable[[int], OwnersRules],
        *,
        feed: Callable[[int], bool] | None = None,
        demand: DemandSource = no_demand_signal,
    ) -> None:
        self.rules = rules
        self.feed = feed
        self.demand = demand

    def __call__(self, zone: str, t: int) -> Market:
        rules = self.rules(t)
        alert = self.feed is not None and self.feed(t)
        source = rules.source + ("; public alert feed: emergency" if alert else "")
        return Market(
            demand_bp=self.demand(zone, t),
            cap_bp=rules.cap_bp,
            emergency=rules.emergency or alert,
            rules_source=source,
        )

    @classmethod
    def from_settings(
        cls, settings: FareSettings, pc: ProfitCenter, demand: DemandSource | None = None
    ) -> OwnersMarket:
        url = settings.alert_feed_url
        feed = None
        if url is not None:
            feed = AlertFeed(
                str(url), poll_s=settings.alert_feed_poll_s, timeout_s=settings.alert_feed_timeout_s
            )
        rules = ChainFareRules(pc, poll_s=settings.chain_poll_s, max_age_s=settings.chain_max_age_s)
        return cls(rules, feed=feed, demand=demand or no_demand_signal)
