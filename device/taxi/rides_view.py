"""A taxi's rides, battery and profit and loss for the dashboard (and the demo's
terminal view): read from the taxi's ride store, its purchase orders and the vehicle
poller's latest snapshot."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dashboard.view import RideRow, RidesView
from device.procurement.models import OrderState, PurchaseOrder
from device.store.db import Store
from device.taxi.fares import ONE
from device.taxi.store import TaxiFare, TaxiQuote, TaxiTrip
from device.taxi.vehicle import BATTERY, VehicleSnapshot

RECENT = 20
# The fare's parts as riders and owners read them (device/taxi/fares.py names them).
LINE_WORDS = {
    "base": "base fare",
    "distance": "distance",
    "time": "time",
    "minimum fare": "up to the minimum fare",
    "demand": "demand surcharge",
}
FEED_EMERGENCY = "; public alert feed: emergency"
_STATIC_RULES = {
    "fixed": "the published tariff only (no owners' rules configured)",
    "fallback": "no-surge fallback (the owners' rules not read yet)",
    "chain unreachable: no surge (factor 1.0)": "no-surge fallback: the chain could not be read",
}
_ON_CHAIN = re.compile(r"on-chain policy, block (\d+)")


def rules_words(source: str) -> str:
    """Where a quote's cap and emergency came from, in plain words."""
    feed = source.endswith(FEED_EMERGENCY)
    source = source.removesuffix(FEED_EMERGENCY)
    words = _STATIC_RULES.get(source)
    if words is None and (block := _ON_CHAIN.fullmatch(source)):
        words = f"the owners' cap on-chain (policy read at block #{block.group(1)})"
    if words is None and source.startswith("chain stale"):
        words = "no-surge fallback: the chain's latest block is too old"
    if words is None and source.startswith("clock"):
        words = "no-surge fallback: the taxi's clock is too far behind the chain"
    if words is None:
        words = source
    return words + (" · emergency on the public alert feed: no surge" if feed else "")


def surge_words(quote: TaxiQuote) -> str:
    """The demand factor applied, or why there is none."""
    if quote.emergency:
        return "no surge (emergency)"
    if quote.factor_bp <= ONE:
        return "no surge"
    return f"demand × {quote.factor_bp / ONE:.2f}"


def breakdown(quote: TaxiQuote) -> list[tuple[str, int]]:
    """The fare's parts in words; a demand line only when there is a surcharge."""
    return [
        (LINE_WORDS.get(label, label), amount)
        for label, amount in quote.lines
        if label != "demand" or amount
    ]


def rides_view(
    rides: sa.Engine, store: Store, snapshot: Callable[[], VehicleSnapshot | None]
) -> Callable[[], RidesView]:
    """The ``rides`` source of :class:`dashboard.machine.LiveMachineView` for a taxi."""

    def read() -> RidesView:
        latest = snapshot()
        # "Today" on the taxi's own clock (its latest reading), which a demo accelerates.
        now = latest.taken_at if latest else datetime.now(UTC)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        with Session(rides) as session:
            rows = session.exec(
                select(TaxiTrip, TaxiQuote)
                .where(TaxiTrip.quote_id == TaxiQuote.id)
                .order_by(col(TaxiTrip.accepted_at).desc(), col(TaxiTrip.id))
                .limit(RECENT)
            ).all()
            trips = int(session.exec(select(sa.func.count()).select_from(TaxiTrip)).one())
            trips_today = int(
                session.exec(
                    select(sa.func.count())
                    .select_from(TaxiTrip)
                    .where(col(TaxiTrip.accepted_at) >= midnight)
                ).one()
            )
            fares = int(
                session.exec(select(sa.func.coalesce(sa.func.sum(TaxiFare.amount), 0))).one()
            )
        with store.read() as session:
            paid = sum(
                o.paid or 0
                for o in session.exec(
                    select(PurchaseOrder).where(PurchaseOrder.state == OrderState.SETTLED)
                ).all()
            )
        return RidesView(
            rides=[
                RideRow(
                    trip_id=trip.id,
                    state=trip.state.value,
                    accepted_at=int(trip.accepted_at.timestamp()),
                    distance_m=q.distance_m,
                    price=q.price,
                    lines=breakdown(q),
                    surge=surge_words(q),
                    rules=rules_words(q.rules_source),
                )
                for trip, q in rows
            ],
            trips=trips,
            trips_today=trips_today,
            battery_permille=latest.soc_permille if latest else None,
            battery_stale=latest is None or not latest.healthy(BATTERY),
            fares=fares,
            upkeep_paid=paid,
            profit=fares - paid,
        )

    return read
