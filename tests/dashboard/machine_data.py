"""Put real rows in the machine's store: recounts and completed sales, as the vend flow does,
and purchase orders with their lines and negotiation, as the buying loop records them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from device.negotiation.transcript import (
    Decision,
    Event,
    EventKind,
    Reason,
    Standing,
    SupplierStatus,
    Transcript,
)
from device.procurement.models import OrderState, PurchaseOrder
from device.settings import Settings
from device.store import repo
from device.store.db import Store
from device.store.models import PaymentMethod, RecountSource
from tests.dashboard.chain import USDC, Chain


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


SUPPLIER = "Acme Wholesale"


def record_order(
    store: Store,
    chain: Chain,
    order_id: str,
    lines: list[tuple[str, int, int]],
    *,
    state: OrderState = OrderState.AWAITING_APPROVAL,
    delivered: dict[str, int] | None = None,
    transcript: Transcript | None = None,
) -> None:
    """The buying loop's row for ``order_id``: its lines (gtin, quantity, unit price)."""
    now = datetime.now(UTC)
    amount = sum(q * p for _, q, p in lines)
    t = transcript or negotiation(now, amount)
    with store.write() as session:
        session.add(
            PurchaseOrder(
                need_key=f"need:{order_id}",
                order_id=order_id,
                supplier_name=SUPPLIER,
                supplier_address=chain.supplier.address,
                amount=amount,
                reservation_price=t.reservation,
                lines=json.dumps(
                    [{"gtin": g, "slot_id": 1, "quantity": q, "unit_price": p} for g, q, p in lines]
                ),
                quote="{}",
                signature="00" * 65,
                transcript=t.model_dump_json(),
                state=state,
                deliver_by=now + timedelta(days=2),
                delivered=json.dumps(delivered) if delivered is not None else None,
                paid=amount if state is OrderState.SETTLED else None,
                created_at=now,
                updated_at=now,
            )
        )


def negotiation(now: datetime, amount: int) -> Transcript:
    """Two suppliers: one too slow (its lead time in seconds), Acme haggled down and won."""
    t = now.timestamp()
    by = int(t) + 2 * 86_400
    return Transcript(
        started_at=t - 90,
        finished_at=t,
        reservation=amount + 10 * USDC,
        deliver_by=by,
        urgency=0.99,
        rounds=2,
        events=[
            Event(at=t - 90, kind=EventKind.RFQ, supplier=SUPPLIER, round=0, detail="rfq 1"),
            Event(at=t - 90, kind=EventKind.RFQ, supplier="Slowco", round=0, detail="rfq 2"),
            Event(
                at=t - 80,
                kind=EventKind.DECLINE,
                supplier="Slowco",
                round=0,
                reason=Reason.DELIVERY_OUTSIDE_WINDOW,
                detail="catalog: 05449000000996 lead time 64800 s is too long",
            ),
            Event(
                at=t - 60,
                kind=EventKind.OFFER,
                supplier=SUPPLIER,
                round=1,
                amount=amount + 2 * USDC,
                deliver_by=by,
            ),
            Event(
                at=t - 50,
                kind=EventKind.COUNTER,
                supplier=SUPPLIER,
                round=1,
                amount=amount,
                detail=f"beat {amount + 1_944_000}",
            ),
            Event(
                at=t - 10,
                kind=EventKind.ACCEPT,
                supplier=SUPPLIER,
                round=2,
                amount=amount,
                deliver_by=by,
            ),
        ],
        decision=Decision(
            winner=SUPPLIER,
            amount=amount,
            deliver_by=by,
            utility=1.09,
            reservation=amount + 10 * USDC,
            standings=[
                Standing(
                    supplier=SUPPLIER,
                    status=SupplierStatus.WON,
                    amount=amount,
                    deliver_by=by,
                    reliability=0.9,
                    utility=1.09,
                ),
                Standing(
                    supplier="Slowco",
                    status=SupplierStatus.DECLINED,
                    amount=None,
                    deliver_by=None,
                    reliability=0.5,
                    utility=None,
                    reason=Reason.DELIVERY_OUTSIDE_WINDOW,
                ),
            ],
            summary=f"bought from {SUPPLIER}, utility 1.090",
        ),
    )
