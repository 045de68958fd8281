"""Perishable stock as the buying loop sees it: which items expire first, from the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from device.settings import load_settings
from device.store import repo
from device.store.db import open_store
from device.store.models import RecountSource
from device.vending.planning.planner import SlotStock
from device.vending.restock import with_expiry

NOW = datetime(2026, 5, 8, 12, tzinfo=UTC)


def test_a_perishable_slot_knows_when_its_items_expire(tmp_path: Path) -> None:
    settings = load_settings(None)
    sandwich = next(s for s in settings.slots if s.shelf_life_days == 3)
    cola = next(s for s in settings.slots if s.id != sandwich.id)
    store = open_store(tmp_path / "machine.db")
    try:
        with store.write() as session:
            repo.record_recount(
                session, sandwich.id, 0, RecountSource.SENSOR, NOW - timedelta(days=5)
            )
            repo.record_recount(
                session, sandwich.id, 4, RecountSource.RESTOCK, NOW - timedelta(hours=70)
            )
            repo.record_recount(
                session, sandwich.id, 6, RecountSource.RESTOCK, NOW - timedelta(hours=20)
            )
        stock = {
            sandwich.id: SlotStock(sandwich.id, 6),
            cola.id: SlotStock(cola.id, 6),
            99: SlotStock(99, 1),
        }
        with store.read() as session:
            seen = with_expiry(session, settings.slots, stock, NOW)
    finally:
        store.close()
    # Four came 70 h ago (2 h of their 3 days left), two more 20 h ago.
    assert seen[sandwich.id].expiring == ((2.0, 4), (52.0, 2))
    assert seen[99] == stock[99]  # not a configured slot: left as it was
    # Cola keeps for months: taken to sell before it expires, not tracked lot by lot.
    assert seen[cola.id] == stock[cola.id]
