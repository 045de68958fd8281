"""No page shows a token base-unit integer where money is meant (issue 18).

Every dashboard page reachable by links from the overview, in a populated state
(sales, a stock-out, customers turned away, a negotiated order with its items,
a settled delivery, members and a payout), is read as text; a bare integer of
10,000 or more that is not an item's GTIN fails the test: money must read as
``12.34 USDC``, never ``12340000``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from html import unescape
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from device.procurement.models import OrderState
from device.settings import Settings
from device.store import repo
from device.store.db import Store
from device.store.models import AlertSeverity, RecountSource
from tests.dashboard.chain import USDC, Chain
from tests.dashboard.machine_data import record_order, stock_and_sales

# An integer with thousands commas or of five digits or more, standing alone: not part
# of a word, hex string, date, decimal number or id (``0x…``, ``2026-12-07``, ``#12f3``).
_BARE = re.compile(r"(?<![\w.,:/#…-])(\d{1,3}(?:,\d{3})+|\d{5,})(?![\w,]|\.\d)")
_HREF = re.compile(r'href="([^"#]+)"')
_HIDDEN = re.compile(r"<(script|style)\b.*?</\1>", re.S)


def page_text(html: str) -> str:
    """What a person reads: tags (and their attributes), scripts and styles removed."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", _HIDDEN.sub(" ", html))))


def base_units_in(text: str, identifiers: frozenset[str]) -> list[str]:
    """Bare integers ≥ 10,000 (with some context) that are not known identifiers."""
    found = []
    for m in _BARE.finditer(text):
        raw = m.group(1)
        if int(raw.replace(",", "")) >= 10_000 and raw not in identifiers:
            found.append(text[max(0, m.start() - 40) : m.end() + 20])
    return found


def test_the_check_catches_base_units_and_passes_money_dates_and_hashes() -> None:
    gtins = frozenset({"05449000000996"})
    for bad in ("beat 6944000", "amount 70662360 paid", "12,345 owed", "paid 10000"):
        assert base_units_in(bad, gtins), bad
    for fine in (
        "6.94 USDC",
        "1,234.56 USDC",
        "2026-12-07 15:48 UTC",
        "0xE840A7bae63a0C8710caf4e7e4670d82cAB27332",
        "order #12f31072",
        "tx 0x8f8582…fca8f7",
        "tx 0xa1e7b8…471730",  # an abbreviated hash whose tail is all digits
        "catalog: 05449000000996",
        "9999 items",
        "lead time 18 h",
    ):
        assert not base_units_in(fine, gtins), fine


@pytest.fixture
def populated(chain: Chain, store: Store, settings: Settings) -> Chain:
    """A machine with every kind of row the pages show."""
    now = stock_and_sales(store, settings)
    water = settings.slot(2)
    with store.write() as session:
        repo.record_recount(session, water.id, 0, RecountSource.SENSOR, now)
        repo.record_turned_away(
            session, slot_id=water.id, gtin=water.gtin, price=water.retail_price, now=now
        )
        # As the buying loop words it (device/procurement/cycle.py) when the budget is short.
        repo.raise_alert(
            session,
            kind="budget_short",
            severity=AlertSeverity.WARNING,
            message=f"budget left {30 * USDC} is below the {45 * USDC} this restock may cost; "
            "buying within it (slot 1 below par)",
            now=now,
        )
    cola = settings.slot(1)
    pending, delivered = chain.placed
    record_order(store, chain, pending, [(cola.gtin, 12, 5 * USDC)])
    record_order(
        store,
        chain,
        delivered,
        [(cola.gtin, 9, 5 * USDC)],
        state=OrderState.SETTLED,
        delivered={cola.gtin: 8},
    )
    key = bytes.fromhex(delivered[2:])
    chain.pc.approve_order(key, sender=chain.governor)
    chain.pc.confirm_delivery(key, 40 * USDC, sender=chain.agent)
    chain.pc.set_members({chain.governor.address: 3, chain.agent.address: 1}, sender=chain.governor)
    chain.pc.distribute(sender=chain.governor)
    chain.pc.claim(sender=chain.agent)
    assert datetime.now(UTC) >= now
    return chain


def crawl(get: Callable[[str], tuple[int, str]]) -> dict[str, str]:
    """Every page reachable by links from the overview (path -> HTML); each must answer 200.

    ``get`` fetches a path as a logged-in owner: (status code, body)."""
    seen: dict[str, str] = {}
    queue = ["/"]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        code, html = get(path)
        assert code == 200, (path, code)
        seen[path] = html
        for href in _HREF.findall(html):
            url = urlsplit(urljoin(path, unescape(href)))
            if url.netloc or url.path.startswith("/static/"):
                continue
            queue.append(url.path + (f"?{url.query}" if url.query else ""))
    return seen


def test_no_dashboard_page_shows_a_base_unit_integer(
    logged_in: httpx.Client, populated: Chain, settings: Settings
) -> None:
    gtins = frozenset(s.gtin for s in settings.slots)

    def get(path: str) -> tuple[int, str]:
        response = logged_in.get(path)
        return response.status_code, response.text

    seen = crawl(get)
    problems = {
        path: found
        for path, html in seen.items()
        if (found := base_units_in(page_text(html), gtins))
    }
    # Every page was reached: the eight in the menu, the sales windows and both orders.
    for expected in ("/stock", "/sales?window=30d", "/members", "/policy", "/suppliers"):
        assert expected in seen
    assert {f"/orders/{o}" for o in populated.placed} <= seen.keys()
    assert not problems, problems
