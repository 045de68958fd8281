"""Put real rows in the machine's store: recounts and completed sales, as the vend flow does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from device.settings import Settings
from device.store import repo
from device.store.db import Store
from device.store.models import PaymentMethod, RecountSource


def sell(store: Store, settings: Settings, slot_id: int, at: datetime) -> None:
    slot = settings.slot(slot_id)
    with store.write() as session:
        sale = repo.record_sale(
            session,
            slot_id=slot_id,
            gtin=slot.gtin,
            price=slot.retail_price,
            payment=PaymentMethod.CASHLESS,
            now=at,
        )
        assert sale.id is not None
        repo.complete_sale(session, sale.id, at)


def stock_and_sales(store: Store, settings: Settings, now: datetime | None = None) -> datetime:
    """Every slot counted full a day ago; slot 1 sold 3 items today, slot 2 one yesterday."""
    now = now or datetime.now(UTC)
    counted = now - timedelta(days=1, hours=1)
    with store.write() as session:
        for slot in settings.slots:
            repo.record_recount(session, slot.id, slot.capacity, RecountSource.RESTOCK, counted)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for minutes in (1, 2, 3):
        sell(store, settings, 1, max(midnight, now - timedelta(minutes=minutes)))
    sell(store, settings, 2, now - timedelta(days=1))
    return now
