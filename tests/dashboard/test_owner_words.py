"""Pages speak the owner's language: what an order bought, money in USDC, times in hours
and days, supplier names, the negotiation in plain words; the overview says whether the
machine is OK and making money (stock-outs, customers turned away, margin, alerts)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
from gpiozero.pins.mock import MockFactory

from dashboard.formatting import duration, money_label, short_id, utc
from dashboard.machine import LiveMachineView
from dashboard.story import plain_detail
from device.procurement.models import OrderState
from device.settings import Settings
from device.store import repo
from device.store.db import Store
from device.store.models import RecountSource
from device.vending.sim.customers import Arrival
from device.vending.sim.policies import World, make_policy
from device.vending.sim.scenarios import SCENARIOS
from device.vending.vend import SoldOutError, VendFlow
from tests.dashboard.chain import USDC, Chain
from tests.dashboard.machine_data import SUPPLIER, record_order, stock_and_sales
from tests.device.vending.vend.machine import MockPinMachine


def text_of(html: str) -> str:
    """What a person reads: the page without tags, scripts and attributes."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_an_order_page_lists_what_it_bought_and_tells_the_negotiation_in_plain_words(
    logged_in: httpx.Client, chain: Chain, store: Store, settings: Settings
) -> None:
    order_id = chain.placed[0]  # 60 USDC, deliver by a week from its placing
    cola, water = settings.slot(1), settings.slot(2)
    record_order(store, chain, order_id, [(cola.gtin, 8, 5 * USDC), (water.gtin, 4, 5 * USDC)])
    page = logged_in.get(f"/orders/{order_id}").text
    shown = text_of(page)
    lines = re.search(r'<table class="lines" id="order-lines">(.*?)</table>', page, re.S)
    assert lines, "the order page has no item table"
    rows = text_of(lines.group(1))
    assert f"{cola.name} 8 5.00 USDC 40.00 USDC" in rows
    assert f"{water.name} 4 5.00 USDC 20.00 USDC" in rows
    assert "total 60.00 USDC" in rows
    # Named by a short id and its supplier; the address and hashes one click or hover away.
    assert f"<title>Order {short_id(order_id)} · {SUPPLIER}" in page
    assert f'title="{chain.supplier.address}"' in page
    # "Deliver by" in the header is the deadline the chain holds for the order.
    deadline = chain.pc.order(bytes.fromhex(order_id[2:])).time
    assert f'id="order-deliver-by">{utc(deadline)}<' in page
    # The negotiation in plain words; numbers (utility, urgency) behind a <details>.
    asked = re.search(r'id="story-asked">(.*?)</p>', page, re.S)
    assert asked
    assert f"8 × {cola.name}, 4 × {water.name}" in asked.group(1)
    assert "paying at most 70.00 USDC" in asked.group(1)
    why = re.search(r'id="story-why">(.*?)</p>', page, re.S)
    assert why
    assert f"{SUPPLIER} won with 60.00 USDC, 10.00 USDC under the most" in why.group(1)
    assert "Slowco declined: it could not deliver in time" in shown
    plain = page.split('<details class="technical"')[0]
    assert "utility" not in plain
    assert "urgency" not in plain
    technical = page.split('<details class="technical"')[1]
    assert "urgency 0.99" in technical
    assert "lead time 18 h is too long" in technical
    assert "beat 61.94 USDC" in technical
    assert "64800" not in page
    assert "61944000" not in page


def test_the_order_list_and_approvals_name_orders_by_short_id_and_supplier(
    logged_in: httpx.Client, chain: Chain, store: Store, settings: Settings
) -> None:
    order_id = chain.placed[0]
    record_order(store, chain, order_id, [(settings.slot(1).gtin, 12, 5 * USDC)])
    for path in ("/orders", "/approvals"):
        row = re.search(
            rf'id="(?:order|approval)-{order_id}">(.*?)</(?:tr|li)>', logged_in.get(path).text, re.S
        )
        assert row, path
        assert short_id(order_id) in row.group(1), path
        assert SUPPLIER in row.group(1), path
        assert "60.00 USDC" in row.group(1), path
    approval = logged_in.get("/approvals").text
    assert f"Buys 12 × {settings.slot(1).name} at 5.00 USDC." in approval


def test_policy_names_the_allowed_suppliers_beside_their_addresses(
    logged_in: httpx.Client, chain: Chain, store: Store, settings: Settings
) -> None:
    record_order(store, chain, chain.placed[0], [(settings.slot(1).gtin, 12, 5 * USDC)])
    page = logged_in.get("/policy").text
    allowed = re.search(r'<ul class="allowed">(.*?)</ul>', page, re.S)
    assert allowed
    assert f"{SUPPLIER} <code" in allowed.group(1)
    assert chain.supplier.address in allowed.group(1)
    assert "Dispute window</dt><dd>2 days<" in page
    assert "per 7 days" in page


def test_a_wrong_parameter_or_page_gets_a_page_for_people_with_the_security_headers(
    logged_in: httpx.Client,
) -> None:
    bad = logged_in.get("/sales", params={"window": "week"})
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("text/html")
    assert "window: 'week' is not understood; expected '24h', '7d' or '30d'" in unescape(bad.text)
    assert bad.headers["content-security-policy"].startswith("default-src 'self'")
    assert bad.headers["x-frame-options"] == "DENY"
    missing = logged_in.get("/no-such-page")
    assert missing.status_code == 404
    assert "Page not found" in missing.text
    assert 'href="/"' in missing.text
    assert missing.headers["x-content-type-options"] == "nosniff"
    # Programs keep FastAPI's JSON answer.
    api = logged_in.get("/api/sales", params={"window": "week"})
    assert api.status_code == 422
    assert api.headers["content-type"] == "application/json"


def test_the_overview_says_what_is_sold_out_who_was_turned_away_and_the_margin(
    logged_in: httpx.Client, chain: Chain, store: Store, settings: Settings
) -> None:
    now = stock_and_sales(store, settings)  # slot 1 sold 3 today
    cola, water, bar = settings.slot(1), settings.slot(2), settings.slot(3)
    with store.write() as session:
        repo.record_recount(session, water.id, 0, RecountSource.SENSOR, now)
        repo.record_recount(session, bar.id, 1, RecountSource.SENSOR, now)
    # A customer wants water: the real vend flow refuses it as sold out and keeps the lost sale.
    vend = VendFlow(store, MockPinMachine(MockFactory(), settings.slots), settings.slots)
    with pytest.raises(SoldOutError):
        vend.start(water.id, now)
    with pytest.raises(SoldOutError):
        vend.start(water.id, now - timedelta(days=3))
    # Cola was bought at 0.40 USDC a can (a settled delivery of 12).
    record_order(
        store,
        chain,
        "0x" + "c0" * 32,
        [(cola.gtin, 12, 400_000)],
        state=OrderState.SETTLED,
        delivered={cola.gtin: 12},
    )
    status = logged_in.get("/api/status").json()
    revenue = 3 * cola.retail_price
    assert status["cost_of_goods_today"] == 3 * 400_000
    assert status["profit_today"] == revenue - 3 * 400_000
    assert status["cash_flow_today"] == revenue  # nothing paid on-chain today
    assert status["empty_slots"] == [water.name]
    assert status["low_slots"] == [bar.name]
    assert status["lost_today"] == {"customers": 1, "amount": water.retail_price}
    assert status["lost_week"] == {"customers": 2, "amount": 2 * water.retail_price}
    page = logged_in.get("/").text
    assert f'id="profit-today">{money_label(revenue - 3 * 400_000)}<' in page
    assert f'id="lost-today-amount">{money_label(water.retail_price)}<' in page
    alerts = text_of(re.search(r'<ul class="alerts" id="alerts">(.*?)</ul>', page, re.S).group(1))  # type: ignore[union-attr]
    assert f"{water.name} is sold out" in alerts
    assert f"{bar.name} is running low: 1 of {bar.capacity} left" in alerts


def test_supplier_trouble_outbox_backlog_and_a_low_treasury_raise_alerts(
    settings: Settings, store: Store, chain: Chain
) -> None:
    disputed = chain.placed[1]
    record_order(store, chain, disputed, [(settings.slot(1).gtin, 9, 5 * USDC)])
    key = bytes.fromhex(disputed[2:])
    chain.pc.approve_order(key, sender=chain.governor)
    chain.pc.mark_delivered(key, sender=chain.supplier)
    chain.pc.dispute(key, sender=chain.agent)  # a short delivery
    chain.place_order(100 * USDC)  # 205 of the 250 reserved: 45 free, under the 50 reserve
    view = LiveMachineView(settings, store, chain.pc, outbox_depth=lambda: 9)
    alerts = {a.source: a for a in view.overview().alerts}
    assert alerts["supplier"].message == f"{SUPPLIER}: order {short_id(disputed)} disputed"
    assert alerts["outbox"].message == "9 chain transactions are waiting to be sent"
    assert alerts["treasury"].level == "critical"
    assert "45.00 USDC free" in alerts["treasury"].message


def test_technical_notes_read_in_hours_days_and_usdc() -> None:
    assert duration(64_800) == "18 h"
    assert duration(2 * 86_400) == "2 days"
    assert duration(90) == "2 min"
    assert duration(12) == "under a minute"
    assert plain_detail("lead time 64800 s is too long", 6) == "lead time 18 h is too long"
    assert plain_detail("raised from 6944000", 6) == "raised from 6.94 USDC"
    assert plain_detail("reservation 1000.00", 6) == "reservation 1000.00"  # already money


def test_every_customer_the_simulated_machine_turns_away_is_on_the_owners_books(
    settings: Settings, tmp_path: Path
) -> None:
    """The demo's world: a customer at an empty slot is a lost sale the overview can show.

    Every customer who finds the slot physically empty is recorded, and nothing else is
    (the simulator's lost sales also count items left because they were past their date).
    """
    days = 20
    with World(
        settings, SCENARIOS["office"], database=tmp_path / "sim.db", days=days, seed=1
    ) as world:
        make_policy("route", world).install()
        at_empty = 0
        serve = world.customer

        def counting(arrival: Arrival) -> None:
            nonlocal at_empty
            at_empty += world.physics.stock(arrival.slot_id) == 0
            serve(arrival)

        world.customer = counting  # type: ignore[method-assign]
        world.run(days)
        with world.store.read() as session:
            recorded, value = repo.turned_away_since(session, datetime(2000, 1, 1, tzinfo=UTC))
        lost = world.totals.lost_sales
    assert at_empty > 0
    assert at_empty <= recorded <= lost
    assert value >= recorded * min(s.retail_price for s in settings.slots)
