"""An owner in a real Chromium follows the taxi demo: the overview (battery, rides, P&L),
rides with each fare's breakdown in words, a charging order with its negotiation, and no
page about slots, stock or in base units.

The taxi demo runs for real (virtual CAN bus, pty GPS, sellers and the rider API over
HTTP, the in-process dev chain) for some simulated minutes before the owner logs in.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from dashboard.formatting import money_label
from device.demo_shell import DEMO_POLICY, DemoDashboard
from device.devchain import DevChain
from device.procurement.models import PurchaseOrder
from device.taxi.demo import TaxiDemo
from device.taxi.upkeep import UpkeepKind
from tests.dashboard.conftest import OwnerLogin
from tests.dashboard.test_browser import browser, log_in, page, shot
from tests.dashboard.test_no_base_units import crawl
from tests.dashboard.test_taxi_pages import assert_a_taxis_pages

__all__ = ["browser", "page"]  # the browser fixtures, shared with the vending test
pytestmark = pytest.mark.browser
MINUTES = 150


@pytest.fixture
def taxi(tmp_path: Path) -> Iterator[tuple[TaxiDemo, DemoDashboard]]:
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    with TaxiDemo(tmp_path, start, DevChain.in_process(DEMO_POLICY), seed=3) as demo:
        demo.car.truth.soc_permille = 240  # low enough to buy a charge within the run

        # In a thread of its own: Playwright's sync API keeps an event loop running in
        # this one, and the taxi's negotiations run theirs.
        def drive() -> None:
            for _ in range(MINUTES):
                demo.tick()

        ran = threading.Thread(target=drive)
        ran.start()
        ran.join()
        yield demo, demo.serve_dashboard(tmp_path)


def charging_order(demo: TaxiDemo) -> PurchaseOrder:
    stations = {p.ref.name for p in demo.providers if p.kind is UpkeepKind.CHARGING}
    return next(o for o in demo.procurement.orders() if o.supplier_name in stations)


def test_owner_sees_rides_with_their_fares_and_a_charging_order_with_its_negotiation(
    page: Page, taxi: tuple[TaxiDemo, DemoDashboard]
) -> None:
    demo, dashboard = taxi
    owner = OwnerLogin(dashboard.owner, dashboard.password, dashboard.totp)
    log_in(page, dashboard.url, owner, owner.code())
    expect(page).to_have_url(dashboard.url + "/")
    seen = demo.rides_view()
    assert seen.trips >= 3
    nav = page.get_by_role("navigation")
    for vending in ("Stock", "Sales and P&L"):
        expect(nav.get_by_role("link", name=vending, exact=True)).to_have_count(0)
    expect(page.locator("#battery")).to_contain_text("%")
    expect(page.locator("#rides-today")).to_have_text(str(seen.trips_today))
    expect(page.locator("#profit")).to_have_text(money_label(seen.profit))
    expect(page.locator("#fares")).to_have_text(money_label(seen.fares))
    shot(page, "taxi-overview")

    nav.get_by_role("link", name="Rides and fares").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rides and fares")
    first = seen.rides[-1]
    row = page.locator(f"#ride-{first.trip_id}")
    expect(row).to_contain_text(money_label(first.price))
    for label, amount in first.lines:
        expect(row).to_contain_text(f"{label} {money_label(amount)}")
    expect(row.locator(".surge")).to_have_text(first.surge)
    expect(row.locator(".rules")).to_have_text(first.rules)
    if first.surge.startswith("no surge"):
        expect(row).not_to_contain_text("demand")
    expect(page.locator("#trips")).to_have_text(str(seen.trips))
    expect(page.locator("#battery")).to_contain_text("%")
    shot(page, "taxi-rides")

    order = charging_order(demo)
    page.get_by_role("navigation").get_by_role("link", name="Orders", exact=True).click()
    page.locator(f'a[href="/orders/{order.order_id}"]').click()
    expect(page).to_have_url(f"{dashboard.url}/orders/{order.order_id}")
    section = page.locator("#transcript")
    expect(section.locator("table.standings")).to_contain_text(order.supplier_name)
    bought = json.loads(order.lines)[0]
    kwh = Decimal(bought["quantity"]) / 1000
    expect(page.locator("main")).to_contain_text(f"{format(kwh.normalize(), 'f')} kWh")
    expect(page.locator("main")).to_contain_text(
        f"{money_label(int(bought['unit_price']) * 1000)} per kWh"
    )
    expect(page.locator("header")).to_contain_text("demo-taxi-01")
    shot(page, "taxi-charging-order")

    def get(path: str) -> tuple[int, str]:
        response = page.request.get(dashboard.url + path)
        return response.status, response.text()

    assert_a_taxis_pages(crawl(get))
