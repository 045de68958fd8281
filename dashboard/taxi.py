"""A taxi's rides, battery and profit and loss for the dashboard (and the demo's
terminal view): read from the taxi's ride store, its purchase orders and the vehicle
poller's latest snapshot."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dashboard.view import RideRow, RidesView
from device.procurement.models import OrderState, PurchaseOrder
from device.store.db import Store
from device.taxi.store import TaxiFare, TaxiQuote, TaxiTrip
from device.taxi.vehicle import BATTERY, VehicleSnapshot

RECENT = 20


def rides_view(
    rides: sa.Engine, store: Store, snapshot: Callable[[], VehicleSnapshot | None]
) -> Callable[[], RidesView]:
    """The ``rides`` source of :class:`dashboard.machine.LiveMachineView` for a taxi."""

    def read() -> RidesView:
        with Session(rides) as session:
            rows = session.exec(
                select(TaxiTrip, TaxiQuote)
                .where(TaxiTrip.quote_id == TaxiQuote.id)
                .order_by(col(TaxiTrip.accepted_at).desc(), col(TaxiTrip.id))
                .limit(RECENT)
            ).all()
            trips = int(session.exec(select(sa.func.count()).select_from(TaxiTrip)).one())
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
        latest = snapshot()
        return RidesView(
            rides=[
                RideRow(
                    trip_id=trip.id,
                    state=trip.state.value,
                    accepted_at=int(trip.accepted_at.timestamp()),
                    distance_m=q.distance_m,
                    price=q.price,
                    lines=q.lines,
                )
                for trip, q in rows
            ],
            trips=trips,
            battery_permille=latest.soc_permille if latest else None,
            battery_stale=latest is None or not latest.healthy(BATTERY),
            fares=fares,
            upkeep_paid=paid,
            profit=fares - paid,
        )

    return read
