"""A supplier that replays a placed quote cannot stop the machine's buying.

The real ``Procurement`` (negotiation over HTTP, purchase orders in SQLite, the
outbox placing orders on an in-process ProfitCenter) buys twice from two
suppliers on 127.0.0.1: a cheap hostile one that answers every later RFQ with
the byte-identical quote of its first negotiation, and an honest reference one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account

from contracts.chain import send
from contracts.profit_center import OrderStatus
from device.demo_shell import DEMO_POLICY
from device.devchain import DevChain
from device.negotiation import Buyer, EventKind, HttpLimits, Reason, Transcript
from device.procurement.cycle import ChainContext
from device.procurement.outbox import Outbox
from device.settings import load_settings
from device.store import repo
from device.store.db import open_store
from device.vending.demo import USDC
from device.vending.planning.planner import PlanLine, RestockNeed
from device.vending.restock import KnownSupplier, Restocking, meet_supplier
from supplier.app import create_app
from supplier.desk import Desk
from supplier.keys import Signer
from supplier.settings import SupplierSettings
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread
from tests.device.negotiation.hostile import Ctx, hostile_app

HOSTILE = "replays_across_negotiations"


def _config(tmp_path: Path, name: str, chain: DevChain, gtin: str, price: int) -> SupplierSettings:
    """A fixed-price supplier of one item whose quotes stay valid for a day."""
    return SupplierSettings.model_validate(
        {
            "name": name,
            "keystore": tmp_path / f"{name}.key.json",
            "database": tmp_path / f"{name}.db",
            "tokens": [{"chain_id": chain.chain_id, "address": chain.token_address}],
            "items": [
                {
                    "gtin": gtin,
                    "name": "Cola",
                    "list_price": price,
                    "floor_price": price,
                    "lead_time_seconds": 3600,
                    "stock": 10_000,
                }
            ],
            "strategy": {"kind": "fixed"},
            "quote_ttl_seconds": 86400,
        }
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Restocking, DevChain, str]]:
    settings = load_settings(None)
    slot = settings.slots[0]
    chain = DevChain.in_process(DEMO_POLICY)
    chain.set_time(int(time.time()))
    chain.mint(chain.governor.address, 500 * USDC)
    send(chain.w3, chain.token.functions.approve(chain.pc.address, 500 * USDC), chain.governor)
    chain.pc.deposit_revenue(500 * USDC, sender=chain.governor)
    store = open_store(tmp_path / "machine.db")
    buyer = Buyer(limits=HttpLimits(connect_timeout_s=2, read_timeout_s=4, request_timeout_s=5))
    with ExitStack() as stack:
        known: list[KnownSupplier] = []
        for name, price in ((HOSTILE, slot.retail_price // 4), ("honest", slot.retail_price // 2)):
            config = _config(tmp_path, name, chain, slot.gtin, price)
            key = bytes(Account.create().key)
            signer = Signer.from_key(key)
            supplier_store = SupplierStore(config.database)
            stack.callback(supplier_store.close)
            desk = Desk(config, signer, supplier_store)
            app = (
                hostile_app(HOSTILE, desk, Ctx(key=key, previous={}))
                if name == HOSTILE
                else create_app(config, signer, supplier_store)
            )
            url = stack.enter_context(serve_in_thread(app))
            chain.allow_supplier(signer.address)
            known.append(asyncio.run(meet_supplier(buyer, name, url, 0.95)))
        outbox = Outbox(store, chain.w3, chain.pc, chain.agent)
        context = ChainContext(chain.chain_id, chain.pc.address, chain.token_address)
        procurement = Restocking(settings, store, outbox, chain.pc, context, buyer, known)
        try:
            yield procurement, chain, slot.gtin
        finally:
            store.close()


def _need(gtin: str, now: datetime, slot_id: int) -> RestockNeed:
    line = PlanLine(slot_id, gtin, 12, 10 * USDC, 10 * USDC, 0.2, True, "test")
    return RestockNeed(
        supplier=HOSTILE,
        alternatives=("honest",),
        lines=(line,),
        deliver_by=now + timedelta(days=2),
        reservation=50 * USDC,
        list_total=50 * USDC,
        urgency=0.2,
        reason="test",
    )


def test_a_replayed_quote_is_refused_and_the_honest_supplier_sells(
    world: tuple[Restocking, DevChain, str],
) -> None:
    procurement, chain, gtin = world
    slot_id = procurement.settings.slots[0].id
    now = datetime.fromtimestamp(chain.now(), UTC)
    first = procurement._buy(now, _need(gtin, now, slot_id))
    assert first is not None
    assert first.supplier_name == HOSTILE  # the cheapest, honest the first time
    procurement.outbox.drain(now)
    assert chain.pc.order(bytes.fromhex(first.order_id[2:])).status is not OrderStatus.NONE

    later = now + timedelta(hours=1)  # another need: another negotiation
    second = procurement._buy(later, _need(gtin, later, slot_id))  # raised IntegrityError before

    assert second is not None
    assert second.supplier_name == "honest"
    assert second.order_id != first.order_id
    events = Transcript.model_validate_json(second.transcript).events
    rejections = [(e.supplier, e.reason) for e in events if e.kind is EventKind.REJECTION]
    assert rejections == [(HOSTILE, Reason.REPLAYED_QUOTE)]
    assert procurement.faults[HOSTILE] == 1
    assert procurement.suppliers[HOSTILE].ref.reliability < 0.1
    with procurement.store.read() as session:
        assert "supplier_unreliable" in [a.kind for a in repo.open_alerts(session)]
