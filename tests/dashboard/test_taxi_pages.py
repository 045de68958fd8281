"""A taxi's dashboard over real parts (the taxi's ride store in SQLite, the ProfitCenter on
eth-tester, uvicorn): the shell shows only what a taxi has, the overview answers "is my
taxi OK and making money?", and each ride's fare reads in words and USDC.

The taxi shares the vending defaults' config here, as the demo does: its slots must not
show up anywhere.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from dashboard.machine import LiveMachineView
from device.settings import Settings
from device.store.db import Store
from device.taxi.fares import MACHINE_NOTICE
from device.taxi.rides_view import rides_view
from device.taxi.store import TaxiFare, TaxiQuote, TaxiTrip, TripState
from device.taxi.store import open_store as open_rides
from device.taxi.vehicle import VehicleSnapshot
from tests.dashboard.chain import USDC, Chain
from tests.dashboard.test_no_base_units import base_units_in, crawl, page_text

NOW = datetime.now(UTC).replace(microsecond=0)
BATTERY_PERMILLE = 612


def book(
    rides: sa.Engine, n: int, lines: list[tuple[str, int]], factor_bp: int, source: str
) -> None:
    """A quote as the taxi stored it, accepted and paid, booked ``n`` minutes ago; today in
    any case (n seconds before the minute after midnight when the day is younger), as the
    page counts today's rides."""
    midnight = NOW.replace(hour=0, minute=0, second=0)
    at = max(NOW - timedelta(minutes=n), min(NOW, midnight + timedelta(seconds=60 - n)))
    price = sum(amount for _, amount in lines)
    quote = TaxiQuote(
        id=f"q{n}",
        pickup_lat=52.52,
        pickup_lon=13.40,
        dropoff_lat=52.50,
        dropoff_lon=13.42,
        pickup_zone="z1",
        dropoff_zone="z2",
        distance_m=3_400,
        duration_s=540,
        eta_s=120,
        price=price,
        metered=price - dict(lines)["demand"],
        factor_bp=factor_bp,
        cap_bp=15_000,
        emergency=source.endswith("emergency"),
        rules_source=source,
        lines_json=json.dumps(lines),
        notice=MACHINE_NOTICE,
        created_at=at,
        expires_at=at + timedelta(minutes=2),
    )
    rider = f"0x{n:040x}"
    trip = TaxiTrip(
        id=f"t{n}",
        quote_id=quote.id,
        rider=rider,
        state=TripState.COMPLETED,
        accepted_at=at,
        updated_at=at,
    )
    fare = TaxiFare(
        quote_id=quote.id,
        trip_id=trip.id,
        amount=price,
        token="USDC",
        payment_tx=f"0x{n:064x}",
        block=n,
        created_at=at,
    )
    with Session(rides) as session:
        session.add(quote)
        session.flush()
        session.add(trip)
        session.flush()
        session.add(fare)
        session.commit()


def assert_a_taxis_pages(pages: dict[str, str]) -> None:
    """Every page of a taxi's dashboard was reached, and none shows slots, stock or a
    base-unit integer."""
    assert {"/", "/rides", "/orders", "/policy", "/suppliers", "/members"} <= pages.keys()
    for path, html in pages.items():
        text = page_text(html)
        assert "slot" not in text.lower(), path
        assert "stock" not in text.lower(), path
        assert not base_units_in(text, frozenset()), path


@pytest.fixture
def view(settings: Settings, store: Store, chain: Chain, tmp_path: Path) -> LiveMachineView:
    """The taxi's view: two paid rides, one at the tariff in an emergency and one with a
    capped surge."""
    rides = open_rides(tmp_path / "rides.db")
    plain = [("base", 3 * USDC), ("distance", 5_100_000), ("time", 1_800_000), ("demand", 0)]
    busy = [("base", 3 * USDC), ("distance", 5_100_000), ("time", 1_800_000)]
    busy.append(("demand", 1_980_000))
    book(rides, 30, plain, 10_000, "fallback; public alert feed: emergency")
    book(rides, 10, busy, 12_000, "on-chain policy, block 123456")
    reading = VehicleSnapshot(
        taken_at=NOW,
        soc_permille=BATTERY_PERMILLE,
        charging=None,
        energy_charged_wh=None,
        energy_used_wh=None,
        odometer_m=None,
        doors_open=None,
        seats_occupied=None,
        cabin_dirty=None,
        cabin_cleanings=None,
        service_tasks_done=None,
        position=None,
        faults=(),
    )
    return LiveMachineView(
        settings,
        store,
        chain.pc,
        governor=chain.governor,
        rides=rides_view(rides, store, lambda: reading),
    )


def test_a_taxi_owner_sees_battery_rides_and_profit_and_no_stock(logged_in: httpx.Client) -> None:
    home = logged_in.get("/").text
    assert "61.2%" in home
    assert 'id="rides-today">2<' in home
    assert 'id="fares">21.78 USDC<' in home  # 9.90 + 11.88 in fares, no upkeep paid yet
    assert "Upkeep orders" in home
    for vending in ("/stock", "/sales"):
        missing = logged_in.get(vending)
        assert missing.status_code == 404
        assert f'href="{vending}"' not in home
        assert f'href="{vending}"' not in missing.text  # nor in the error page's menu

    def get(path: str) -> tuple[int, str]:
        response = logged_in.get(path)
        return response.status_code, response.text

    assert_a_taxis_pages(crawl(get))


def test_each_ride_reads_in_words_with_its_surge_and_rules(logged_in: httpx.Client) -> None:
    rides = logged_in.get("/rides").text  # newest first
    busy = page_text(rides[rides.index('id="ride-t10"') : rides.index('id="ride-t30"')])
    plain = page_text(rides[rides.index('id="ride-t30"') : rides.index("</tbody>")])
    assert "base fare 3.00 USDC + distance 5.10 USDC + time 1.80 USDC" in plain
    assert "demand" not in plain
    assert "no surge (emergency)" in plain
    assert "no-surge fallback" in plain
    assert "emergency on the public alert feed" in plain
    assert "demand surcharge 1.98 USDC" in busy
    assert "demand × 1.20" in busy
    assert "the owners' cap on-chain (policy read at block #123456)" in busy
