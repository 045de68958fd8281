"""An owner in a real Chromium: 2FA login, live overview, an order's transcript, approvals.

Screenshots of every page go to ``test-artifacts/screenshots/`` (gitignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_utils import keccak
from playwright.sync_api import Browser, Page, expect, sync_playwright

from contracts.profit_center import OrderStatus
from dashboard.app import RunningServer, create_app, start_in_thread
from dashboard.formatting import money_label
from dashboard.machine import LiveMachineView
from device.negotiation.transcript import Transcript
from device.settings import Settings
from device.store import repo
from device.store.db import Store
from device.store.models import RecountSource
from tests.conftest import REPO
from tests.dashboard.chain import Chain
from tests.dashboard.conftest import OwnerLogin, make_owner
from tests.dashboard.machine_data import sell, stock_and_sales
from tests.dashboard.negotiated import SUPPLIER_NAME, negotiate_and_place

pytestmark = pytest.mark.browser
SHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NAV = ["Stock", "Sales and P&L", "Orders", "Approvals", "Policy", "Suppliers"]
NAV += ["Members and distributions"]


@pytest.fixture(scope="module")
def browser(chromium_binary: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_binary), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture
def negotiated(chain: Chain, store: Store, tmp_path: Path) -> tuple[str, Transcript]:
    return negotiate_and_place(chain, store, tmp_path)


@pytest.fixture
def site(
    settings: Settings,
    store: Store,
    chain: Chain,
    negotiated: tuple[str, Transcript],
    tmp_path: Path,
) -> Iterator[RunningServer]:
    """The dashboard holding the governor key, with the negotiation on record."""
    stock_and_sales(store, settings)
    view = LiveMachineView(settings, store, chain.pc, governor=chain.governor)
    app = create_app(settings, view, engine=store.engine, secret_file=tmp_path / "session.key")
    running = start_in_thread(app)
    yield running
    running.stop()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, url: str, owner: OwnerLogin, code: str) -> None:
    page.goto(url + "/")
    expect(page).to_have_url(url + "/login")
    page.get_by_label("Owner").fill(owner.name)
    page.get_by_label("Password").fill(owner.password)
    page.get_by_label("Code from your authenticator").fill(code)
    page.get_by_role("button", name="Log in").click()


def test_owner_logs_in_sees_the_chain_and_follows_an_order_to_its_transcript(
    page: Page,
    site: RunningServer,
    owner: OwnerLogin,
    chain: Chain,
    store: Store,
    settings: Settings,
    negotiated: tuple[str, Transcript],
) -> None:
    good = owner.code()
    wrong = f"{(int(good) + 500_000) % 1_000_000:06d}"
    log_in(page, site.url, owner, wrong)
    expect(page.get_by_role("alert")).to_have_text("Wrong name, password or code.")
    expect(page).to_have_url(site.url + "/login")
    shot(page, "login-refused")

    log_in(page, site.url, owner, good)
    expect(page).to_have_url(site.url + "/")
    expect(page.locator("#treasury-balance")).to_have_text(money_label(chain.treasury()))
    expect(page.locator("#treasury-reserved")).to_have_text(money_label(chain.pc.books().reserved))
    shot(page, "overview")

    # Live: a sale recorded now shows up in today's revenue without a reload.
    before = page.locator("#revenue-today").inner_text()
    sell(store, settings, 3, datetime.now(UTC))
    expect(page.locator("#revenue-today")).not_to_have_text(before, timeout=15_000)
    assert page.evaluate("document.querySelector('#live').dataset.updated") is not None

    for name in NAV:
        page.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        shot(page, name.split()[0].lower())

    order_id, transcript = negotiated
    page.get_by_role("link", name="Orders", exact=True).click()
    page.locator(f'a[href="/orders/{order_id}"]').click()
    expect(page).to_have_url(f"{site.url}/orders/{order_id}")
    section = page.locator("#transcript")
    expect(section).to_contain_text(transcript.decision.summary)
    expect(section.locator("table.standings")).to_contain_text(SUPPLIER_NAME)
    offers = [e for e in transcript.events if e.kind.value == "offer"]
    expect(section.locator("tr.kind-offer")).to_have_count(len(offers))
    expect(page.locator("#order-state")).to_have_text("Awaiting approval")
    shot(page, "order-transcript")


def test_owner_approves_one_order_and_rejects_another_on_chain(
    page: Page,
    site: RunningServer,
    owner: OwnerLogin,
    chain: Chain,
) -> None:
    approve_id, reject_id = chain.placed[0], chain.placed[1]
    log_in(page, site.url, owner, owner.code())
    expect(page).to_have_url(site.url + "/")
    page.get_by_role("link", name="Approvals", exact=True).click()
    shot(page, "approvals-pending")

    page.locator(f"#approval-{approve_id}").get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("approved in transaction")
    assert chain.state(approve_id) is OrderStatus.OPEN
    expect(page.locator(f"#approval-{approve_id}")).to_have_count(0)

    page.locator(f"#approval-{reject_id}").get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_contain_text("rejected in transaction")
    assert chain.state(reject_id) is OrderStatus.REJECTED
    shot(page, "approvals-decided")

    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.locator(f"#order-{approve_id}")).to_contain_text("Open")
    expect(page.locator(f"#order-{reject_id}")).to_contain_text("Rejected")


def test_without_the_governor_key_the_owner_sees_the_exact_wallet_call(
    page: Page,
    settings: Settings,
    store: Store,
    chain: Chain,
    owner: OwnerLogin,
    tmp_path: Path,
) -> None:
    view = LiveMachineView(settings, store, chain.pc)
    app = create_app(settings, view, engine=store.engine, secret_file=tmp_path / "session.key")
    running = start_in_thread(app)
    try:
        log_in(page, running.url, owner, owner.code())
        page.get_by_role("link", name="Approvals", exact=True).click()
        order_id = chain.placed[0]
        card = page.locator(f"#approval-{order_id}")
        expect(card.get_by_role("button")).to_have_count(0)
        card.get_by_text("Approve: approveOrder(bytes32)").click()
        selector = keccak(text="approveOrder(bytes32)")[:4].hex()
        expect(card.locator("code.calldata").first).to_have_text(f"0x{selector}{order_id[2:]}")
        expect(card).to_contain_text(chain.pc.address)
        shot(page, "approvals-wallet-call")
    finally:
        running.stop()


def test_an_owner_walks_through_stock_out_order_items_approval_and_a_members_payout(
    browser: Browser,
    page: Page,
    site: RunningServer,
    owner: OwnerLogin,
    chain: Chain,
    store: Store,
    settings: Settings,
    negotiated: tuple[str, Transcript],
) -> None:
    """The acceptance walk of issue 18, one screenshot per page it passes."""
    water = settings.slot(2)
    now = datetime.now(UTC)
    with store.write() as session:
        repo.record_recount(session, water.id, 0, RecountSource.SENSOR, now)
        repo.record_turned_away(
            session, slot_id=water.id, gtin=water.gtin, price=water.retail_price, now=now
        )

    log_in(page, site.url, owner, owner.code())
    expect(page).to_have_url(site.url + "/")
    expect(page.locator("#empty-slots")).to_have_text(water.name)
    expect(page.locator("#alerts")).to_contain_text(f"{water.name} is sold out")
    expect(page.locator("#lost-today")).to_have_text("1 today")
    expect(page.locator("#lost-today-amount")).to_have_text(money_label(water.retail_price))
    shot(page, "walk-1-overview-stock-out")

    order_id, transcript = negotiated
    page.get_by_role("link", name="Orders", exact=True).click()
    row = page.locator(f"#order-{order_id}")
    expect(row).to_contain_text(SUPPLIER_NAME)
    shot(page, "walk-2-orders")
    row.get_by_role("link").click()
    expect(page).to_have_url(f"{site.url}/orders/{order_id}")
    assert transcript.decision.amount is not None
    cola = settings.slot(1)
    lines = page.locator("#order-lines tbody tr")
    expect(lines).to_have_count(1)
    expect(lines.first).to_contain_text(cola.name)
    expect(lines.first).to_contain_text("USDC")
    expect(page.locator("#order-lines tfoot")).to_contain_text(
        money_label(transcript.decision.amount)
    )
    expect(page.locator("#story-why")).to_contain_text(f"{SUPPLIER_NAME} won with")
    expect(page.locator("#technical")).not_to_have_attribute("open", "")
    shot(page, "walk-3-order-items")
    page.get_by_text("Technical detail").click()
    expect(page.locator("#technical table.standings")).to_be_visible()
    shot(page, "walk-4-order-technical")

    page.get_by_role("link", name="Approvals", exact=True).click()
    card = page.locator(f"#approval-{order_id}")
    expect(card).to_contain_text(SUPPLIER_NAME)
    shot(page, "walk-5-approvals")
    card.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("approved in transaction")
    assert chain.state(order_id) is OrderStatus.OPEN  # seen on-chain
    page.goto(f"{site.url}/orders/{order_id}")
    expect(page.locator("#order-state")).to_have_text("Open")

    # The governor names two members and pays out; a member logs in and sees it.
    member = make_owner(store, "bob")
    chain.pc.set_members({chain.governor.address: 3, chain.agent.address: 1}, sender=chain.governor)
    chain.pc.distribute(sender=chain.governor)
    claimable = chain.pc.claimable(chain.agent.address)
    assert claimable > 0
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        other = context.new_page()
        log_in(other, site.url, member, member.code())
        expect(other).to_have_url(site.url + "/")
        other.get_by_role("link", name="Members and distributions", exact=True).click()
        mine = other.locator(f"#member-{chain.agent.address.lower()}")
        expect(mine).to_contain_text(money_label(claimable), timeout=15_000)
        expect(mine).to_contain_text("25%")
        expect(other.locator("table.distributions")).to_contain_text("paid out to members")
        shot(other, "walk-6-members")
    finally:
        context.close()
