"""The rider API over real HTTP (uvicorn on 127.0.0.1) on a real SQLite file.

Quotes are stored with their breakdown, the same trip at the same time costs every
rider the same, an accept sent 40 times at once charges once, and bad input gets a
clear 4xx and writes nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from device import http_serving
from device.taxi.app import create_app, server_config
from device.taxi.fares import MACHINE_NOTICE, Market
from device.taxi.rides import RideDesk
from device.taxi.store import TaxiFare, TaxiQuote, counts, daily_revenue, open_store

NOW = 1_780_000_000  # a fixed unix time
MIDTOWN = {"lat": 40.7540, "lon": -73.9840}
UPTOWN = {"lat": 40.7800, "lon": -73.9650}
LONDON = {"lat": 51.5072, "lon": -0.1276}
TIMEOUT = httpx.Timeout(20.0)


@dataclass
class Served:
    url: str
    db: Path
    clock: list[int]

    def counts(self) -> dict[str, int]:
        with Session(open_store(self.db)) as session:
            return counts(session)


def busy_market(zone: str, t: int) -> Market:
    """Demand 1.4x under an owners' cap of 1.25x: the quote carries a demand line."""
    return Market(demand_bp=14_000, cap_bp=12_500)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    db = tmp_path / "taxi.sqlite"
    clock = [NOW]
    desk = RideDesk(open_store(db), market=busy_market, quote_ttl_s=120)
    app = create_app(desk, clock=lambda: clock[0])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    with http_serving.serve_in_thread(server_config(app, "127.0.0.1", port), sock):
        yield Served(f"http://127.0.0.1:{port}", db, clock)


def ask(served: Served, body: Any) -> httpx.Response:
    return httpx.post(f"{served.url}/quotes", json=body, timeout=TIMEOUT)


def test_a_quote_has_price_eta_breakdown_notice_expiry_and_is_stored(served: Served) -> None:
    r = ask(served, {"pickup": MIDTOWN, "dropoff": UPTOWN})
    assert r.status_code == 201, r.text
    q = r.json()
    assert q["price"]["amount"] == sum(line["amount"] for line in q["breakdown"])
    assert q["price"]["display"].endswith(" USDC")
    assert [line["label"] for line in q["breakdown"]] == ["base", "distance", "time", "demand"]
    assert q["factor_bp"] == 12_500  # capped
    assert q["notice"] == MACHINE_NOTICE
    assert q["expires_at"] == NOW + 120
    assert q["eta_s"] > 0
    assert q["distance_m"] > 3000
    with Session(open_store(served.db)) as session:
        row = session.get(TaxiQuote, q["id"])
    assert row is not None
    assert row.price == q["price"]["amount"]
    assert row.lines == [(line["label"], line["amount"]) for line in q["breakdown"]]


def test_the_same_trip_at_the_same_time_is_quoted_the_same_to_every_rider(served: Served) -> None:
    a = ask(served, {"pickup": MIDTOWN, "dropoff": UPTOWN, "rider": "alice"}).json()
    b = ask(served, {"pickup": MIDTOWN, "dropoff": UPTOWN, "rider": "bob"}).json()
    assert a["id"] != b["id"]
    for key in ("price", "breakdown", "factor_bp", "eta_s", "expires_at", "notice"):
        assert a[key] == b[key]


def test_an_accept_sent_40_times_at_once_books_and_charges_once(served: Served) -> None:
    q = ask(served, {"pickup": MIDTOWN, "dropoff": UPTOWN}).json()

    def accept(_: int) -> httpx.Response:
        return httpx.post(f"{served.url}/trips", json={"quote_id": q["id"]}, timeout=TIMEOUT)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(accept, range(40)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 39 + [201]
    trips = {r.json()["id"] for r in answers}
    assert len(trips) == 1
    replay = accept(0)  # and once more, later
    assert replay.status_code == 200
    assert replay.json()["id"] in trips
    assert served.counts() == {"taxi_quote": 1, "taxi_trip": 1, "taxi_fare": 1}
    trip = httpx.get(f"{served.url}/trips/{trips.pop()}", timeout=TIMEOUT).json()
    assert trip["state"] == "booked"
    assert trip["payment"]["amount"] == q["price"]["amount"]
    with Session(open_store(served.db)) as session:
        day = datetime.fromtimestamp(NOW, UTC).date()
        assert daily_revenue(session, day) == q["price"]["amount"]
        fare = session.get(TaxiFare, 1)
    assert fare is not None
    assert fare.token == "USDC"


def test_payments_are_revenue_in_base_units(served: Served) -> None:
    prices = []
    for dropoff in (UPTOWN, {"lat": 40.7300, "lon": -73.9950}):
        q = ask(served, {"pickup": MIDTOWN, "dropoff": dropoff}).json()
        t = httpx.post(f"{served.url}/trips", json={"quote_id": q["id"]}, timeout=TIMEOUT)
        assert t.status_code == 201
        pay = httpx.get(f"{served.url}/trips/{t.json()['id']}/payment", timeout=TIMEOUT).json()
        assert pay["amount"] == q["price"]["amount"]
        assert pay["currency"] == "USDC"
        prices.append(pay["amount"])
    with Session(open_store(served.db)) as session:
        assert daily_revenue(session, datetime.fromtimestamp(NOW, UTC).date()) == sum(prices)


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"pickup": LONDON, "dropoff": UPTOWN}, 422, "outside_service_area"),
        ({"pickup": MIDTOWN, "dropoff": LONDON}, 422, "outside_service_area"),
        ({"pickup": {"lat": 999, "lon": 0}, "dropoff": UPTOWN}, 422, "invalid_request"),
        ({"pickup": {"lat": "north", "lon": 0}, "dropoff": UPTOWN}, 422, "invalid_request"),
        ({"pickup": MIDTOWN}, 422, "invalid_request"),
        ({"pickup": MIDTOWN, "dropoff": UPTOWN, "price": 1}, 422, "invalid_request"),
        ({"pickup": MIDTOWN, "dropoff": UPTOWN, "rider": "x" * 65}, 422, "invalid_request"),
        ([1, 2], 422, "invalid_request"),
    ],
)
def test_a_bad_request_gets_a_clear_error_and_stores_nothing(
    served: Served, body: Any, status: int, error: str
) -> None:
    before = served.counts()
    r = ask(served, body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
    assert r.json()["message"]
    assert served.counts() == before


def test_garbage_json_and_nan_coordinates_are_refused(served: Served) -> None:
    before = served.counts()
    headers = {"content-type": "application/json"}
    for raw in (
        b"{not json",
        b'{"pickup": {"lat": NaN, "lon": 0}, "dropoff": {"lat": 0, "lon": 0}}',
    ):
        r = httpx.post(f"{served.url}/quotes", content=raw, headers=headers, timeout=TIMEOUT)
        assert r.status_code in (400, 422), r.text
        assert r.json()["error"] in ("invalid_json", "invalid_request")
    assert served.counts() == before


def test_an_unknown_or_expired_quote_is_refused_and_charges_nothing(served: Served) -> None:
    q = ask(served, {"pickup": MIDTOWN, "dropoff": UPTOWN}).json()
    before = served.counts()
    unknown = httpx.post(f"{served.url}/trips", json={"quote_id": "0" * 32}, timeout=TIMEOUT)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"
    garbage = httpx.post(f"{served.url}/trips", json={"quote_id": "'; drop"}, timeout=TIMEOUT)
    assert garbage.status_code == 422
    served.clock[0] = NOW + 120  # the quote's last second has passed
    late = httpx.post(f"{served.url}/trips", json={"quote_id": q["id"]}, timeout=TIMEOUT)
    assert late.status_code == 410
    assert late.json()["error"] == "quote_expired"
    assert httpx.get(f"{served.url}/trips/1", timeout=TIMEOUT).status_code == 404
    assert served.counts() == before
