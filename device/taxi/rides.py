"""Selling rides: a rider's request becomes a stored quote, a paid quote a booked trip.

The price comes only from ``device.taxi.fares.quote`` on the tariff, the trip between
the two points and the pickup zone's market at that moment, so two riders asking for
the same trip at the same time get the same quote, line for line. Every quote is stored
with its breakdown before the rider sees it; quotes nobody accepted are deleted a grace
after they are past accepting (``PRUNE_AFTER_S``), and at most ``max_live_quotes`` are
live at once.

Accepting needs the fare paid on-chain (``device.taxi.payments``): the signature names
the rider (the paying address) without the chain, a rider with an open trip is refused
(409) before anything else, then the transfer is checked on-chain, and one ``BEGIN
IMMEDIATE`` transaction books the trip with its fare. Accepting is idempotent: a replay
answers the same trip, and the store's constraints keep a second fare, a second use of a
payment and a second open trip per rider out whatever races. A payment mined before the
quote expired is honoured for ``ACCEPT_GRACE_S`` after it; one mined more than that
before the quote was made paid something else. A refused request writes nothing.

Before pricing, the desk asks whether the taxi can serve the ride at all
(``device.taxi.decide.refusal``, the rule the simulated agent accepts by): the fare must
cover the energy and wear of the drive, pickup included, and the battery must still reach
a charging station with the reserve left after the drop-off. An unknown or stale battery
reading serves nobody. The answer reads the ride and the battery, never the rider, and an
accepted ride's price is the tariff's as before.
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
from sqlmodel import Session, col, select

from device.store.db import write_session
from device.taxi.city import CENTRE, DETOUR, INTRA_ZONE_M, RESOLUTION, RINGS, Physics, travel_s
from device.taxi.decide import Margins, RideCost, refusal
from device.taxi.errors import (
    BatteryUnknownError,
    CannotServeError,
    OutsideServiceAreaError,
    PaymentError,
    PaymentUsedError,
    QuoteExpiredError,
    RideError,
    RidesBusyError,
    TripOpenError,
    UnknownQuoteError,
)
from device.taxi.fares import CITY_TARIFF, Market, Tariff, Trip, quote
from device.taxi.gps import distance_m
from device.taxi.payments import FarePayments, Paid, payer_of
from device.taxi.store import (
    OPEN_STATES,
    TaxiFare,
    TaxiQuote,
    TaxiTrip,
    TripState,
)

log = structlog.get_logger()
ACCEPT_GRACE_S = 600
"""How long after its expiry a quote paid in time may still be accepted (blocks take time)."""
PRUNE_AFTER_S = 2 * ACCEPT_GRACE_S
"""How long after its expiry a quote nobody took is deleted: a grace later than accepting
ends, so an accept still reading the chain finds the quote its trip refers to."""
LatLon = tuple[float, float]
MarketSource = Callable[[str, int], Market]
"""The pickup zone's market at a unix time: demand factor, the owners' cap, an emergency
(``device.taxi.fares.OwnersMarket`` reads the owners' part from the chain)."""
BatterySource = Callable[[int], int | None]
"""The energy in the pack (Wh) at a unix time, ``None`` when unknown or stale
(``device.taxi.agent.TaxiAgent.battery_wh`` reads the loop's vehicle snapshot)."""
_CAR = Physics()
CAR_MARGINS = Margins(capacity_wh=_CAR.battery_wh, wear_per_km=_CAR.wear_per_km)
"""The simulated city's car and the agent's reserve; a ride must at least cover its costs."""


@dataclass(frozen=True, slots=True)
class Serving:
    """What the desk judges a ride by: the owners' margins, the car's consumption, where it charges."""

    margins: Margins = CAR_MARGINS
    wh_per_km: int = _CAR.wh_per_km
    station: LatLon = CENTRE


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


_NEXT: dict[TripState, TripState] = {
    TripState.BOOKED: TripState.PICKED_UP,
    TripState.PICKED_UP: TripState.COMPLETED,
}


class RideDesk:
    """Quotes, accepts and looks up rides on the taxi's store (``device.taxi.store``)."""

    def __init__(
        self,
        engine: sa.Engine,
        payments: FarePayments,
        *,
        market: MarketSource,
        battery: BatterySource,
        serving: Serving | None = None,
        tariff: Tariff = CITY_TARIFF,
        area: ServiceArea | None = None,
        position: Callable[[], LatLon] = lambda: CENTRE,
        quote_ttl_s: int = 120,
        max_live_quotes: int = 10_000,
    ) -> None:
        self.engine = engine
        self.payments = payments
        self.max_live_quotes = max_live_quotes
        self.tariff = tariff
        self.area = area or ServiceArea()
        self.market = market
        self.battery = battery
        self.serving = serving or Serving()
        self.position = position
        self.quote_ttl_s = quote_ttl_s
        self.token = payments.symbol  # the settlement token, as people read it
        self.decimals = payments.decimals

    def quote(self, pickup: LatLon, dropoff: LatLon, now: int, rider: str | None) -> TaxiQuote:
        """Price the trip now and store the quote; ``rider`` is recorded, never priced on."""
        pickup_zone = self.area.zone(pickup, "pickup")
        dropoff_zone = self.area.zone(dropoff, "drop-off")
        q = quote(self.tariff, self.area.trip(pickup, dropoff, now), self.market(pickup_zone, now))
        to_pickup = self.area.trip(self.position(), pickup, now)
        self._refuse_unservable(q.price, to_pickup.distance_m + q.trip.distance_m, dropoff, now)
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
            rules_source=q.rules_source,
            lines_json=json.dumps([[label, amount] for label, amount in q.lines]),
            notice=q.notice,
            created_at=_utc(now),
            expires_at=_utc(now) + timedelta(seconds=self.quote_ttl_s),
        )
        with write_session(self.engine) as session:
            self._prune(session, now)
            live = session.exec(
                select(sa.func.count())
                .select_from(TaxiQuote)
                .where(col(TaxiQuote.expires_at) > _utc(now))
            ).one()
            if live >= self.max_live_quotes:
                raise RidesBusyError(f"{live} quotes are live: ask again in a minute")
            session.add(row)
        log.info("taxi_quote", quote=row.id, price=row.price, factor_bp=row.factor_bp)
        return row

    def _refuse_unservable(self, price: int, metres: int, dropoff: LatLon, now: int) -> None:
        """Refuse a ride the battery or the fare cannot carry (the simulated agent's rule)."""
        wh = self.battery(now)
        if wh is None:
            log.warning("taxi_quote_battery_unknown")
            raise BatteryUnknownError(
                "the taxi has no fresh battery reading and cannot promise a ride now: "
                "ask again in a minute"
            )
        serving = self.serving
        back_m = self.area.trip(dropoff, serving.station, now).distance_m
        ride = RideCost(
            price=price,
            metres=metres,
            energy_wh=metres * serving.wh_per_km // 1000,
            to_station_wh=back_m * serving.wh_per_km // 1000,
        )
        why = refusal(ride, wh, serving.margins)
        if why is not None:
            log.info("taxi_quote_refused", reason=why, battery_wh=wh, metres=metres)
            raise CannotServeError(f"this taxi cannot take the ride: {why}")

    @staticmethod
    def _prune(session: Session, now: int) -> None:
        """Delete quotes long past accepting that no trip refers to (the table stays bounded)."""
        accepted = select(TaxiTrip.quote_id)
        session.execute(
            sa.delete(TaxiQuote).where(
                col(TaxiQuote.expires_at) < _utc(now - PRUNE_AFTER_S),
                col(TaxiQuote.id).not_in(accepted),
            )
        )

    def get_quote(self, quote_id: str) -> TaxiQuote:
        with Session(self.engine) as session:
            row = session.get(TaxiQuote, quote_id)
        if row is None:
            raise UnknownQuoteError(f"no quote {quote_id}")
        return row

    def accept(self, quote_id: str, payment_tx: str, signature: str, now: int) -> Accepted:
        """Book the quote paid by ``payment_tx`` (signed for it by the payer) once.

        A replay of the same accept returns the same trip and fare.
        """
        q = self.get_quote(quote_id)
        rider = payer_of(quote_id, payment_tx, signature)
        with Session(self.engine) as session:
            done = self._accepted(session, q, payment_tx, rider)
            if done is not None:
                return done
            self._refuse_open_trip(session, rider)
        if now >= _utc_s(q.expires_at) + ACCEPT_GRACE_S:
            raise QuoteExpiredError(f"quote {quote_id} expired at {q.expires_at.isoformat()}")
        paid = self.payments.verify(payment_tx, rider, q.price)
        if paid.mined_at < _utc_s(q.created_at) - ACCEPT_GRACE_S:  # clocks may differ a little
            raise PaymentError(
                f"transaction {paid.tx} was mined at {_utc(paid.mined_at).isoformat()}, "
                f"before quote {quote_id} was made: it paid something else"
            )
        # Late by both clocks: the block's, and the taxi's (which may run behind the
        # chain's); a payment seen before the quote expired by the taxi's clock is in time.
        expired = _utc_s(q.expires_at)
        if paid.mined_at > expired and now > expired:
            log.error(
                "taxi_paid_too_late", quote=quote_id, tx=paid.tx, payer=rider, refund=paid.amount
            )
            raise QuoteExpiredError(
                f"quote {quote_id} expired at {q.expires_at.isoformat()} before the payment was mined"
            )
        return self._book(q, rider, paid, now)

    def _book(self, q: TaxiQuote, rider: str, paid: Paid, now: int) -> Accepted:
        with write_session(self.engine) as session:
            done = self._accepted(session, q, paid.tx, rider)
            if done is not None:
                return done
            if session.exec(select(TaxiFare).where(TaxiFare.payment_tx == paid.tx)).first():
                raise PaymentUsedError(f"transaction {paid.tx} already paid another quote")
            self._refuse_open_trip(session, rider)
            trip = TaxiTrip(
                id=secrets.token_urlsafe(16),
                quote_id=q.id,
                rider=rider,
                state=TripState.BOOKED,
                accepted_at=_utc(now),
                updated_at=_utc(now),
            )
            session.add(trip)
            session.flush()  # the fare refers to the trip
            fare = TaxiFare(
                quote_id=q.id,
                trip_id=trip.id,
                amount=paid.amount,
                token=self.token,
                payment_tx=paid.tx,
                block=paid.block,
                created_at=_utc(now),
            )
            session.add(fare)
        log.info("taxi_trip_booked", trip=trip.id, quote=q.id, fare=fare.amount, tx=paid.tx)
        return Accepted(q, trip, fare, created=True)

    @staticmethod
    def _accepted(session: Session, q: TaxiQuote, payment_tx: str, rider: str) -> Accepted | None:
        """The quote's trip if it was accepted already (with this payment, signed by the
        trip's rider: the payment is public, the trip's id is not), else None."""
        trip = session.exec(select(TaxiTrip).where(TaxiTrip.quote_id == q.id)).first()
        if trip is None:
            return None
        fare = session.exec(select(TaxiFare).where(TaxiFare.quote_id == q.id)).one()
        if fare.payment_tx != payment_tx.lower():
            raise PaymentUsedError(f"quote {q.id} was paid and accepted with another payment")
        if trip.rider != rider:
            raise PaymentError(
                f"transaction {fare.payment_tx} did not pay quote {q.id} from {rider}"
            )
        return Accepted(q, trip, fare, created=False)

    @staticmethod
    def _refuse_open_trip(session: Session, rider: str) -> None:
        open_trip = session.exec(
            select(TaxiTrip.id).where(TaxiTrip.rider == rider, col(TaxiTrip.state).in_(OPEN_STATES))
        ).first()
        if open_trip is not None:
            raise TripOpenError(f"{rider} has a trip booked or under way: one at a time")

    def advance(self, trip_id: str, to: TripState, now: int) -> TaxiTrip:
        """Move a trip on (booked → picked up → completed); a completed trip is closed."""
        with write_session(self.engine) as session:
            trip = session.get(TaxiTrip, trip_id)
            if trip is None:
                raise UnknownQuoteError(f"no trip {trip_id}")
            if _NEXT.get(trip.state) is not to:
                raise RideError(
                    f"trip {trip_id} is {trip.state.value}, it cannot become {to.value}"
                )
            trip.state = to
            trip.updated_at = _utc(now)
            session.add(trip)
        log.info("taxi_trip_moved", trip=trip_id, state=to.value)
        return trip

    def trip(self, trip_id: str) -> Accepted:
        with Session(self.engine) as session:
            trip = session.get(TaxiTrip, trip_id)
            if trip is None:
                raise UnknownQuoteError(f"no trip {trip_id}")
            q = session.get(TaxiQuote, trip.quote_id)
            fare = session.exec(select(TaxiFare).where(TaxiFare.trip_id == trip_id)).one()
        assert q is not None
        return Accepted(q, trip, fare, created=False)


def _utc_s(when: datetime) -> int:
    return int(when.timestamp())
