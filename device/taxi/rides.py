"""Selling rides: a rider's request becomes a stored quote, an accepted quote a paid trip.

The price comes only from ``device.taxi.fares.quote`` on the tariff, the trip between
the two points and the pickup zone's market at that moment, so two riders asking for
the same trip at the same time get the same quote, line for line. Every quote is stored
with its breakdown before the rider sees it. Accepting is idempotent: one
``BEGIN IMMEDIATE`` transaction finds the quote's trip or creates it together with its
fare, and the store's unique ``quote_id`` keeps a second fare out whatever races.
A refused request (outside the area, unknown or expired quote) writes nothing.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import h3
import sqlalchemy as sa
import structlog
from sqlmodel import Session, select

from device.store.db import write_session
from device.taxi.city import CENTRE, DETOUR, INTRA_ZONE_M, RESOLUTION, RINGS, travel_s
from device.taxi.errors import OutsideServiceAreaError, QuoteExpiredError, UnknownQuoteError
from device.taxi.fares import CITY_TARIFF, ONE, Market, Tariff, Trip, quote
from device.taxi.gps import distance_m
from device.taxi.policies import AGENT_CAP_BP
from device.taxi.store import TaxiFare, TaxiQuote, TaxiTrip, TripState

log = structlog.get_logger()
LatLon = tuple[float, float]
MarketSource = Callable[[str, int], Market]
"""The pickup zone's market at a unix time: demand factor, the owners' cap, an emergency."""


def calm_market(cap_bp: int | None = AGENT_CAP_BP) -> MarketSource:
    """No demand signal yet: the plain tariff under the owners' cap (the default)."""

    def market(zone: str, t: int) -> Market:
        return Market(demand_bp=ONE, cap_bp=cap_bp)

    return market


@dataclass(frozen=True, slots=True)
class ServiceArea:
    """The H3 cells the taxi serves: ``rings`` around ``centre`` (the simulated city's grid)."""

    centre: LatLon = CENTRE
    resolution: int = RESOLUTION
    rings: int = RINGS
    utc_offset_s: int = -5 * 3600  # the city's clock, for the hour's congestion
    zones: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        cells = h3.grid_disk(h3.latlng_to_cell(*self.centre, self.resolution), self.rings)
        object.__setattr__(self, "zones", frozenset(cells))

    def zone(self, point: LatLon, what: str) -> str:
        cell = h3.latlng_to_cell(point[0], point[1], self.resolution)
        if cell not in self.zones:
            raise OutsideServiceAreaError(
                f"{what} {point[0]:.5f},{point[1]:.5f} is outside the service area "
                f"({self.rings} H3 rings around {self.centre[0]:.4f},{self.centre[1]:.4f})"
            )
        return str(cell)

    def trip(self, a: LatLon, b: LatLon, t: int) -> Trip:
        """Street distance (the grid's detour over the straight line) and time at the hour's speed."""
        metres = max(INTRA_ZONE_M, int(DETOUR * distance_m(*a, *b)))
        return Trip(metres, travel_s(metres, self.hour(t)))

    def hour(self, t: int) -> int:
        return ((t + self.utc_offset_s) // 3600) % 24


@dataclass(frozen=True, slots=True)
class Accepted:
    """An accepted quote's trip and fare; ``created`` is False for a replayed accept."""

    quote: TaxiQuote
    trip: TaxiTrip
    fare: TaxiFare
    created: bool


def _utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class RideDesk:
    """Quotes, accepts and looks up rides on the taxi's store (``device.taxi.store``)."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        tariff: Tariff = CITY_TARIFF,
        area: ServiceArea | None = None,
        market: MarketSource | None = None,
        position: Callable[[], LatLon] = lambda: CENTRE,
        quote_ttl_s: int = 120,
        token: str = "USDC",  # noqa: S107 - the settlement token's symbol, no secret
        decimals: int = 6,
    ) -> None:
        self.engine = engine
        self.tariff = tariff
        self.area = area or ServiceArea()
        self.market = market or calm_market()
        self.position = position
        self.quote_ttl_s = quote_ttl_s
        self.token = token
        self.decimals = decimals

    def quote(self, pickup: LatLon, dropoff: LatLon, now: int, rider: str | None) -> TaxiQuote:
        """Price the trip now and store the quote; ``rider`` is recorded, never priced on."""
        pickup_zone = self.area.zone(pickup, "pickup")
        dropoff_zone = self.area.zone(dropoff, "drop-off")
        q = quote(self.tariff, self.area.trip(pickup, dropoff, now), self.market(pickup_zone, now))
        to_pickup = self.area.trip(self.position(), pickup, now)
        row = TaxiQuote(
            id=secrets.token_hex(16),
            rider=rider,
            pickup_lat=pickup[0],
            pickup_lon=pickup[1],
            dropoff_lat=dropoff[0],
            dropoff_lon=dropoff[1],
            pickup_zone=pickup_zone,
            dropoff_zone=dropoff_zone,
            distance_m=q.trip.distance_m,
            duration_s=q.trip.duration_s,
            eta_s=to_pickup.duration_s,
            price=q.price,
            metered=q.metered,
            factor_bp=q.factor_bp,
            cap_bp=q.cap_bp,
            emergency=q.emergency,
            lines_json=json.dumps([[label, amount] for label, amount in q.lines]),
            notice=q.notice,
            created_at=_utc(now),
            expires_at=_utc(now) + timedelta(seconds=self.quote_ttl_s),
        )
        with write_session(self.engine) as session:
            session.add(row)
        log.info("taxi_quote", quote=row.id, price=row.price, factor_bp=row.factor_bp)
        return row

    def get_quote(self, quote_id: str) -> TaxiQuote:
        with Session(self.engine) as session:
            row = session.get(TaxiQuote, quote_id)
        if row is None:
            raise UnknownQuoteError(f"no quote {quote_id}")
        return row

    def accept(self, quote_id: str, now: int) -> Accepted:
        """Book and charge the quote once; a replay returns the same trip and fare."""
        with write_session(self.engine) as session:
            q = session.get(TaxiQuote, quote_id)
            if q is None:
                raise UnknownQuoteError(f"no quote {quote_id}")
            trip = session.exec(select(TaxiTrip).where(TaxiTrip.quote_id == quote_id)).first()
            if trip is not None:
                fare = session.exec(select(TaxiFare).where(TaxiFare.quote_id == quote_id)).one()
                return Accepted(q, trip, fare, created=False)
            if _utc(now) >= q.expires_at:
                raise QuoteExpiredError(f"quote {quote_id} expired at {q.expires_at.isoformat()}")
            trip = TaxiTrip(quote_id=quote_id, state=TripState.BOOKED, accepted_at=_utc(now))
            session.add(trip)
            session.flush()
            assert trip.id is not None
            fare = TaxiFare(
                quote_id=quote_id,
                trip_id=trip.id,
                amount=q.price,
                token=self.token,
                created_at=_utc(now),
            )
            session.add(fare)
        log.info("taxi_trip_booked", trip=trip.id, quote=quote_id, fare=fare.amount)
        return Accepted(q, trip, fare, created=True)

    def trip(self, trip_id: int) -> Accepted:
        with Session(self.engine) as session:
            trip = session.get(TaxiTrip, trip_id)
            if trip is None:
                raise UnknownQuoteError(f"no trip {trip_id}")
            q = session.get(TaxiQuote, trip.quote_id)
            fare = session.exec(select(TaxiFare).where(TaxiFare.trip_id == trip_id)).one()
        assert q is not None
        return Accepted(q, trip, fare, created=False)
