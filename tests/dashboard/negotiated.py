"""A real negotiation behind a real order: the buyer haggles over HTTP with the reference
supplier, and the agent places the winning signed quote on the ProfitCenter."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from device.negotiation.buyer import Buyer
from device.negotiation.need import Need, NeedItem, SupplierRef
from device.negotiation.policy import BuyerPolicy
from device.negotiation.transcript import Transcript
from device.procurement.models import OrderState, PurchaseOrder
from device.store.db import Store
from supplier.app import create_app
from supplier.keys import Signer
from supplier.settings import CatalogEntry, SupplierSettings
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread
from tests.dashboard.chain import USDC, Chain

COLA = "05449000000996"
SUPPLIER_NAME = "Acme Wholesale"


def negotiate_and_place(chain: Chain, store: Store, tmp_path: Path) -> tuple[str, Transcript]:
    """Returns the placed order's id and the transcript of the negotiation that chose it,
    recorded in the machine's ``purchase_order`` table as the buying loop records it."""
    config = SupplierSettings.model_validate(
        {
            "name": SUPPLIER_NAME,
            "keystore": tmp_path / "supplier-key.json",
            "database": tmp_path / "supplier.db",
            "tokens": [
                {"chain_id": chain.w3.eth.chain_id, "address": chain.usdc.address, "decimals": 6}
            ],
            "items": [
                CatalogEntry(
                    gtin=COLA,
                    name="Cola 330ml",
                    list_price=900_000,
                    floor_price=600_000,
                    min_quantity=12,
                    lead_time_seconds=86_400,
                    stock=500,
                )
            ],
            "strategy": {"kind": "boulware", "beta": 0.5},
            "max_rounds": 4,
        }
    )
    supplier_store = SupplierStore(config.database)
    app = create_app(config, Signer.from_key(chain.supplier.key), supplier_store)
    need = Need(
        items=[NeedItem(gtin=COLA, quantity=24)],
        deliver_by=int(time.time()) + 3 * 86_400,
        reservation=20 * USDC,
        urgency=0.5,
        chain_id=chain.w3.eth.chain_id,
        profit_center=chain.pc.address,
        token=chain.usdc.address,
    )
    try:
        with serve_in_thread(app) as url:
            ref = SupplierRef(
                name=SUPPLIER_NAME, base_url=url, signing_address=chain.supplier.address
            )
            buyer = Buyer(BuyerPolicy(max_rounds=4, time_budget_s=20.0))
            # Its own thread and loop: Playwright's sync API owns this thread's loop.
            with ThreadPoolExecutor(max_workers=1) as pool:
                result = pool.submit(asyncio.run, buyer.negotiate(need, [ref])).result()
    finally:
        supplier_store.close()
    assert result.offer is not None, result.transcript.decision.summary
    signature = bytes.fromhex(result.offer.signature[2:])
    placed = chain.pc.place_order(result.offer.to_quote(), signature, sender=chain.agent)
    order_id = "0x" + placed.order_id.hex()
    chain.placed.append(order_id)
    quote = result.offer.to_quote()
    now = datetime.now(UTC)
    with store.write() as session:
        session.add(
            PurchaseOrder(
                need_key=f"slot-1:{now.isoformat()}",
                order_id=order_id,
                supplier_name=SUPPLIER_NAME,
                supplier_address=quote.supplier,
                amount=quote.amount,
                reservation_price=need.reservation,
                lines=json.dumps([line.model_dump() for line in result.offer.lines]),
                quote=json.dumps({"nonce": quote.nonce, "amount": quote.amount}),
                signature=result.offer.signature.removeprefix("0x"),
                transcript=result.transcript.model_dump_json(),
                state=OrderState.AWAITING_APPROVAL,
                deliver_by=datetime.fromtimestamp(quote.deliver_by, UTC),
                created_at=now,
                updated_at=now,
            )
        )
    return order_id, result.transcript
