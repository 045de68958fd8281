"""Every page, fragment, API answer and metric shows the machine's real state."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from eth_utils import keccak
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from contracts.profit_center import OrderStatus
from dashboard.app import create_app, start_in_thread
from dashboard.formatting import money_label
from dashboard.machine import LiveMachineView
from device.negotiation.transcript import Decision as NegotiationDecision
from device.negotiation.transcript import Transcript
from device.procurement.models import OrderState, PurchaseOrder
from device.settings import Settings
from device.store import repo
from device.store.db import Store
from device.store.models import PriceChange
from tests.dashboard.chain import USDC, Chain
from tests.dashboard.conftest import OwnerLogin, csrf_from, login
from tests.dashboard.machine_data import stock_and_sales

PAGES = ["/", "/stock", "/sales", "/orders", "/approvals", "/policy", "/suppliers", "/members"]


@pytest.fixture
def busy(chain: Chain, store: Store, settings: Settings) -> Chain:
    """Revenue in the treasury and two orders waiting (from the chain fixture), sales in the store."""
    stock_and_sales(store, settings)
    return chain


def test_every_page_and_fragment_renders_for_an_owner(logged_in: httpx.Client, busy: Chain) -> None:
    for path in PAGES:
        page = logged_in.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        name = "overview" if path == "/" else path[1:]
        fragment = logged_in.get(f"/fragments/{name}")
        assert fragment.status_code == 200
        assert "<html" not in fragment.text
    assert logged_in.get("/fragments/nope").status_code == 404
    assert logged_in.get("/nope").status_code == 404


def test_overview_shows_chain_balance_and_todays_sales(
    logged_in: httpx.Client, busy: Chain, settings: Settings
) -> None:
    page = logged_in.get("/").text
    reserved = 105 * USDC
    assert f'id="treasury-balance">{money_label(250 * USDC)}<' in page
    assert f'id="treasury-reserved">{money_label(reserved)}<' in page
    today = 3 * settings.slot(1).retail_price
    assert f'id="revenue-today">{money_label(today)}<' in page
    assert "2 waiting for approval" in page
    status = logged_in.get("/api/status").json()
    assert status["treasury"]["balance"] == busy.treasury() == 250 * USDC
    assert status["treasury"]["reserved"] == reserved
    assert status["revenue_today"] == today
    assert status["units_sold_today"] == 3


def test_stock_page_counts_from_recounts_minus_sales(
    logged_in: httpx.Client, busy: Chain, settings: Settings
) -> None:
    slots = {s["slot_id"]: s for s in logged_in.get("/api/slots").json()}
    one = settings.slot(1)
    assert slots[1]["count"] == one.capacity - 3
    assert slots[1]["fill_pct"] == pytest.approx(100 * (one.capacity - 3) / one.capacity)
    assert slots[1]["days_to_empty"] == pytest.approx((one.capacity - 3) / (3 / 7))
    assert slots[3]["days_to_empty"] is None  # nothing sold: no rate
    page = logged_in.get("/stock").text
    assert re.search(rf'id="slot-1".*?{one.capacity - 3} / {one.capacity}', page, re.S)


def test_sales_windows_bucket_revenue(
    logged_in: httpx.Client, busy: Chain, settings: Settings
) -> None:
    day = logged_in.get("/api/sales", params={"window": "24h"}).json()
    assert len(day["buckets"]) == 24
    revenue = sum(b["revenue"] for b in day["buckets"])
    assert revenue == 3 * settings.slot(1).retail_price  # yesterday's sale is 24 h back, outside
    month = logged_in.get("/api/sales", params={"window": "30d"}).json()
    assert len(month["buckets"]) == 30
    assert sum(b["units"] for b in month["buckets"]) == 4
    page = logged_in.get("/sales", params={"window": "7d"}).text
    assert page.count("<svg") == 3  # revenue, margin, cash flow
    assert page.count('class="axis-label"') == 6  # both axes named on every chart
    assert page.count('text-anchor="middle">USDC</text>') == 3
    assert 'class="active">7d<' in page
    assert logged_in.get("/api/sales", params={"window": "1y"}).status_code == 422


def test_orders_list_links_to_detail_with_tx_hashes(logged_in: httpx.Client, busy: Chain) -> None:
    orders = logged_in.get("/api/orders").json()
    assert {o["order_id"] for o in orders} == set(busy.placed)
    first = busy.placed[0]
    page = logged_in.get("/orders").text
    assert f'href="/orders/{first}"' in page
    detail = logged_in.get(f"/orders/{first}").text
    api = logged_in.get(f"/api/orders/{first}").json()
    assert api["order"]["state"] == "AwaitingApproval"
    assert api["order"]["placed_tx"] in detail
    assert api["transcript"] is None
    assert 'id="no-transcript"' in detail
    missing = "0x" + "ab" * 32
    assert logged_in.get(f"/orders/{missing}").status_code == 404
    assert logged_in.get(f"/api/orders/{missing}").status_code == 404


def test_approve_and_reject_from_the_page_change_the_order_on_chain(
    logged_in: httpx.Client, busy: Chain
) -> None:
    approve_id, reject_id = busy.placed
    page = logged_in.get("/approvals").text
    token = csrf_from(page)
    done = logged_in.post(f"/approvals/{approve_id}/approve", data={"csrf_token": token})
    assert done.status_code == 303
    assert busy.state(approve_id) is OrderStatus.OPEN
    logged_in.post(f"/approvals/{reject_id}/reject", data={"csrf_token": token})
    assert busy.state(reject_id) is OrderStatus.REJECTED
    page = logged_in.get("/approvals").text
    assert "Nothing is waiting for approval." in page
    again = logged_in.post(f"/approvals/{approve_id}/approve", data={"csrf_token": token})
    assert again.status_code == 303
    assert "is Open, not awaiting approval" in logged_in.get("/approvals").text
    orders = {o["order_id"]: o for o in logged_in.get("/api/orders").json()}
    assert orders[reject_id]["settled_tx"] is not None


def test_api_decision_needs_csrf_header_and_reports_the_new_state(
    logged_in: httpx.Client, busy: Chain
) -> None:
    order_id = busy.placed[0]
    token = csrf_from(logged_in.get("/").text)
    response = logged_in.post(f"/api/orders/{order_id}/approve", headers={"X-CSRF-Token": token})
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["state"] == "Open"
    assert busy.w3.eth.get_transaction_receipt(decision["tx_hash"])["status"] == 1
    conflict = logged_in.post(f"/api/orders/{order_id}/reject", headers={"X-CSRF-Token": token})
    assert conflict.status_code == 409


def test_without_governor_key_the_exact_wallet_call_is_shown(
    settings: Settings, store: Store, busy: Chain, owner: OwnerLogin, tmp_path: object
) -> None:
    view = LiveMachineView(settings, store, busy.pc)
    app: FastAPI = create_app(
        settings, view, engine=store.engine, secret_file=store_dir(store) / "s.key"
    )
    running = start_in_thread(app)
    try:
        with httpx.Client(base_url=running.url) as client:
            login(client, owner)
            order_id = busy.placed[0]
            page = client.get("/approvals").text
            selector = keccak(text="approveOrder(bytes32)")[:4].hex()
            assert f"0x{selector}{order_id[2:]}" in page
            assert "approveOrder(bytes32)" in page
            assert busy.pc.address in page
            assert 'action="/approvals/' not in page  # no buttons without the key
            token = csrf_from(page)
            refused = client.post(
                f"/api/orders/{order_id}/approve", headers={"X-CSRF-Token": token}
            )
            assert refused.status_code == 409
            assert "no governor key" in refused.json()["detail"]
            assert busy.state(order_id) is OrderStatus.AWAITING_APPROVAL
    finally:
        running.stop()


def store_dir(store: Store) -> Path:
    return Path(str(store.engine.url.database)).parent


def test_policy_suppliers_members_come_from_the_contract(
    logged_in: httpx.Client, busy: Chain
) -> None:
    policy = logged_in.get("/api/policy").json()
    assert policy["autonomy"] == "bound"
    assert policy["order_cap"] == 1_000 * USDC
    assert policy["allowed_suppliers"] == [busy.supplier.address]
    suppliers = logged_in.get("/api/suppliers").json()
    ours = next(s for s in suppliers if s["address"] == busy.supplier.address)
    assert ours["orders"] == 2
    assert ours["allowed"] is True
    members = logged_in.get("/api/members").json()
    assert members["members"] == []
    assert members["distributable"] == 250 * USDC - 105 * USDC - 50 * USDC


def test_metrics_report_stock_treasury_and_orders(
    logged_in: httpx.Client, busy: Chain, settings: Settings
) -> None:
    text = httpx.get(str(logged_in.base_url) + "/metrics").text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("custobot_treasury_balance_base_units", ())] == 250 * USDC
    assert samples[("custobot_treasury_reserved_base_units", ())] == 105 * USDC
    assert samples[("custobot_open_orders", ())] == 2
    assert samples[("custobot_pending_approvals", ())] == 2
    assert samples[("custobot_sales_units_24h", ())] == 3
    stock_key = ("custobot_slot_stock_items", (("gtin", settings.slot(1).gtin), ("slot", "1")))
    assert samples[stock_key] == settings.slot(1).capacity - 3
    assert samples[("custobot_sensor_faults", ())] == 0
    assert samples[("custobot_chain_up", ())] == 1


def test_an_order_still_in_the_outbox_is_listed_with_its_transcript(
    logged_in: httpx.Client, chain: Chain, store: Store
) -> None:
    now = datetime.now(UTC)
    order_id = "0x" + "7e" * 32
    transcript = Transcript(
        started_at=now.timestamp() - 5,
        finished_at=now.timestamp(),
        reservation=30 * USDC,
        deliver_by=int(now.timestamp()) + 86_400,
        urgency=0.4,
        rounds=1,
        events=[],
        decision=NegotiationDecision(
            winner="Acme Wholesale",
            amount=25 * USDC,
            deliver_by=int(now.timestamp()) + 86_400,
            utility=0.8,
            reservation=30 * USDC,
            standings=[],
            summary="bought from Acme Wholesale at 25 USDC; no alternatives",
        ),
    )
    with store.write() as session:
        session.add(
            PurchaseOrder(
                need_key="slot-1:test",
                order_id=order_id,
                supplier_name="Acme Wholesale",
                supplier_address=chain.supplier.address,
                amount=25 * USDC,
                reservation_price=30 * USDC,
                lines="[]",
                quote="{}",
                signature="00" * 65,
                transcript=transcript.model_dump_json(),
                state=OrderState.PLACING,
                deliver_by=now + timedelta(days=1),
                created_at=now,
                updated_at=now,
            )
        )
    orders = logged_in.get("/api/orders").json()
    assert orders[0]["order_id"] == order_id
    assert orders[0]["state"] == "Placing"
    assert orders[0]["placed_tx"] is None
    assert len(orders) == 1 + len(chain.placed)
    detail = logged_in.get(f"/orders/{order_id}").text
    assert "bought from Acme Wholesale at 25 USDC; no alternatives" in detail


def test_a_paid_supplier_counts_as_cost_in_the_profit(
    logged_in: httpx.Client, busy: Chain, settings: Settings
) -> None:
    order_id = busy.placed[0]
    key = bytes.fromhex(order_id[2:])
    busy.pc.approve_order(key, sender=busy.governor)
    busy.pc.confirm_delivery(key, 50 * USDC, sender=busy.agent)  # a partial delivery
    status = logged_in.get("/api/status").json()
    revenue = 3 * settings.slot(1).retail_price
    assert status["revenue_today"] == revenue
    assert status["cash_flow_today"] == revenue - 50 * USDC
    # No record of what the items sold cost yet: the margin counts none, and says so.
    assert status["profit_today"] == revenue
    assert status["cost_unknown_units"] == 3
    day = logged_in.get("/api/sales", params={"window": "24h"}).json()
    assert sum(b["cost"] for b in day["buckets"]) == 50 * USDC
    assert sum(b["profit"] for b in day["buckets"]) == revenue - 50 * USDC
    order = logged_in.get(f"/api/orders/{order_id}").json()["order"]
    assert order["state"] == "Settled"
    assert order["amount"] == 50 * USDC
    assert order["settled_tx"] is not None
    supplier = next(
        s for s in logged_in.get("/api/suppliers").json() if s["address"] == busy.supplier.address
    )
    assert supplier["delivered"] == 1
    assert supplier["reliability"] == 1.0


def test_a_change_on_chain_reaches_the_dashboard_without_a_decision(
    logged_in: httpx.Client, busy: Chain
) -> None:
    """The background poll picks up blocks it did not cause (here: more revenue)."""
    before = logged_in.get("/api/status").json()["treasury"]["balance"]
    busy.deposit_revenue(7 * USDC)
    deadline = time.monotonic() + 30
    balance = before
    while balance == before and time.monotonic() < deadline:
        time.sleep(0.2)
        balance = logged_in.get("/api/status").json()["treasury"]["balance"]
    assert balance == before + 7 * USDC == busy.treasury()


def test_stock_page_shows_each_slots_price_and_every_markdown_with_its_reason(
    logged_in: httpx.Client, busy: Chain, store: Store, settings: Settings
) -> None:
    six = settings.slot(6)
    floor = settings.pricing.floor(six)
    reason = "3 unit(s) expire within 20 h, 1.0 expected to sell at list: 40% off"
    with store.write() as session:
        repo.record_price_change(
            session,
            PriceChange(
                at=datetime.now(UTC),
                slot_id=6,
                price=six.retail_price * 60 // 100,
                list_price=six.retail_price,
                floor_price=floor,
                units=3,
                reason=reason,
            ),
        )
    page = logged_in.get("/stock").text
    row = re.search(r'<tr id="price-6" class="marked-down">(.*?)</tr>', page, re.S)
    assert row is not None
    assert money_label(six.retail_price * 60 // 100) in row.group(1)
    assert money_label(six.retail_price) in row.group(1)
    assert reason in row.group(1)
    assert re.search(r'<tr id="price-1">.*?list price', page, re.S)
    assert 'id="markdowns">off<' in page
    policy = logged_in.get("/policy").text
    assert 'id="pricing-markdowns">off<' in policy
    assert f'id="waste-penalty">{settings.agent.waste_policy()}<' in policy
    assert "counts 8 times its cost" in policy
    assert f"{settings.pricing.max_markdown_pct}% below list" in policy
    assert money_label(floor) in policy
