"""The whole machine customer over a real JSON-RPC node (anvil).

A machine on mock pins sells to a customer stream; its stock falls; the agent
negotiates with two reference suppliers over HTTP, places the winning quote
on-chain through its outbox; the supplier's chain watcher sees the order; the
supplier's van fills the slots; the sensors recount; the machine pays the
supplier exactly once; and the books match the chain to the base unit.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import col, select
from web3 import Web3

from contracts.anvil import run_anvil
from contracts.profit_center import OrderPlaced, OrderSettled, OrderStatus, RevenueDeposited
from device.demo_shell import DEMO_POLICY
from device.devchain import DevChain
from device.negotiation.transcript import EventKind, Transcript
from device.procurement.ledger import Ledger
from device.procurement.models import ChainIntent, IntentState, OrderState, PurchaseOrder
from device.settings import AnalogSensorConfig, DistanceSensorConfig, load_settings
from device.store.models import RecountSource, Sale, SaleState, StockRecount
from device.vending.demo import DEMO_SUPPLIERS, USDC, DemoWorld
from device.vending.sim.scenarios import OFFICE_SNACKS
from supplier.store import OrderState as SupplierOrderState
from tests.clock import midnight_ahead

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.anvil]

SEEDED_TREASURY = 300 * USDC  # what DemoWorld deposits before the machine starts
MAX_DAYS = 6


@pytest.fixture
def start() -> datetime:
    return midnight_ahead(weekday=0)


@pytest.fixture
def anvil_chain(anvil_binary: Path, start: datetime) -> Iterator[DevChain]:
    # Genesis just before the world's start, so the chain's clock can follow simulated time.
    genesis = str(int(start.timestamp()) - 3600)
    with run_anvil(anvil_binary, extra_args=("--timestamp", genesis)) as url:
        yield DevChain(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30})), DEMO_POLICY)


def test_machine_buys_restocks_and_pays_over_anvil(
    tmp_path: Path, anvil_chain: DevChain, start: datetime
) -> None:
    settings = load_settings()
    chain = anvil_chain
    suppliers = DEMO_SUPPLIERS[:2]
    first_block = int(chain.w3.eth.block_number)
    with DemoWorld(
        settings,
        OFFICE_SNACKS,
        scratch=tmp_path,
        start=start,
        seed=3,
        chain=chain,
        suppliers=suppliers,
    ) as world:
        procurement = world.machine.agent.procurement
        assert procurement is not None
        watchers = world.watchers
        assert sorted(watchers) == sorted(s.name for s in suppliers)
        supplier_start = {w.supplier: chain.balance(w.supplier) for w in watchers.values()}

        counting = {
            s.id
            for s in settings.slots
            if isinstance(s.sensor, DistanceSensorConfig | AnalogSensorConfig)
        }

        def sensed_delivery_paid() -> bool:
            """An order settled that filled a slot whose sensor counts items."""
            return any(
                o.state is OrderState.SETTLED
                and any(line["slot_id"] in counting for line in json.loads(o.lines))
                for o in procurement.orders()
            )

        days = 0
        while days < MAX_DAYS and not sensed_delivery_paid():
            world.run(days=days + 1)
            days += 1
        # One more poll so the watchers have seen the last block.
        now = world.driver.now()
        for watcher in watchers.values():
            watcher.poll_once(int(now.timestamp()))

        orders = procurement.orders()
        settled = [o for o in orders if o.state is OrderState.SETTLED]
        assert settled, f"nothing delivered and paid within {days} simulated days: {orders}"
        store = world.machine.store
        with store.read() as session:
            sales = session.exec(select(Sale).where(Sale.state == SaleState.COMPLETED)).all()
            recounts = session.exec(select(StockRecount).order_by(col(StockRecount.id))).all()
            intents = session.exec(select(ChainIntent)).all()

        # Stock fell: customers bought, and the store saw every sale the world made.
        assert len(sales) == world.machine.totals.sales > 0
        assert sum(s.price for s in sales) == world.machine.totals.revenue

        events = chain.pc.events(first_block)
        placed = {"0x" + e.order_id.hex(): e for e in events if isinstance(e, OrderPlaced)}
        settlements = Counter(
            "0x" + e.order_id.hex() for e in events if isinstance(e, OrderSettled)
        )
        paid_on_chain = {
            "0x" + e.order_id.hex(): e.paid for e in events if isinstance(e, OrderSettled)
        }
        confirmed_at = {
            json.loads(i.payload)["order_id"]: i.created_at
            for i in intents
            if i.kind == "confirm_delivery" and i.state is IntentState.MINED
        }
        sensed = 0
        for order in settled:
            # The agent negotiated: a transcript with offers, won by this supplier.
            transcript = Transcript.model_validate_json(order.transcript)
            assert transcript.decision.winner == order.supplier_name
            assert transcript.decision.amount == order.amount
            assert any(
                e.kind is EventKind.OFFER and e.supplier == order.supplier_name
                for e in transcript.events
            )
            # Both suppliers were asked, in parallel, and ranked.
            assert {s.supplier for s in transcript.decision.standings} == set(watchers)
            assert order.amount <= order.reservation_price

            # On-chain: placed once with the quoted amount, settled exactly once.
            assert order.order_id in placed
            assert placed[order.order_id].amount == order.amount
            assert placed[order.order_id].supplier == order.supplier_address
            assert settlements[order.order_id] == 1
            assert paid_on_chain[order.order_id] == order.paid
            assert order.paid is not None
            assert 0 < order.paid <= order.amount
            assert chain.pc.order(bytes.fromhex(order.order_id[2:])).status is OrderStatus.SETTLED

            # The supplier's watcher saw the order and the payment.
            watcher = watchers[order.supplier_name]
            assert watcher.supplier == order.supplier_address
            seen = watcher.store.order_by_chain_id(chain.chain_id, chain.pc.address, order.order_id)
            assert seen is not None
            assert seen.known_quote
            assert seen.amount == order.amount
            assert seen.state == SupplierOrderState.SETTLED.value
            assert seen.paid == order.paid
            assert seen.claimed_tx is None  # paid by the machine's confirmation, not a claim

            # The sensors recounted the delivery in a counting slot the order filled.
            delivered = json.loads(order.delivered or "{}")
            visit = confirmed_at[order.order_id]
            lines = json.loads(order.lines)
            counted_slots = {
                line["slot_id"]
                for line in lines
                if line["slot_id"] in counting and delivered.get(line["gtin"], 0) > 0
            }
            sensed += bool(counted_slots)
            for slot_id in counted_slots:
                last = [r for r in recounts if r.slot_id == slot_id and r.at < visit][-1]
                sold = [
                    s for s in sales if s.slot_id == slot_id and last.at <= s.created_at < visit
                ]
                at_visit = [
                    r
                    for r in recounts
                    if r.slot_id == slot_id and r.at == visit and r.source is RecountSource.SENSOR
                ]
                assert at_visit, f"slot {slot_id}: no sensor recount at the delivery"
                assert at_visit[0].count > last.count - len(sold)  # the van added items

        assert sensed, "no paid order filled a slot whose sensor counts"

        # Every payment on-chain is one of ours, and nothing was paid twice.
        assert set(settlements) == {o.order_id for o in settled}
        assert all(n == 1 for n in settlements.values())

        # Suppliers received exactly what the machine recorded paying them.
        for watcher in watchers.values():
            paid_to = sum(o.paid or 0 for o in settled if o.supplier_address == watcher.supplier)
            assert chain.balance(watcher.supplier) - supplier_start[watcher.supplier] == paid_to

        # The books match the chain to the base unit.
        ledger = Ledger(store, settings.slots, chain.pc, chain.agent.address)
        check = ledger.reconcile(first_block)
        assert check.differences == []
        deposited = sum(
            e.amount
            for e in events
            if isinstance(e, RevenueDeposited) and e.sender == chain.agent.address
        )
        assert check.deposits_local == deposited > 0
        paid_total = sum(o.paid or 0 for o in settled)
        assert check.payments_local == check.payments_chain == paid_total
        treasury = chain.pc.treasury()
        assert treasury == SEEDED_TREASURY + deposited - paid_total
        assert chain.pc.token_balance() == treasury  # nothing distributed, nothing stray
        open_amounts = sum(
            o.amount for o in orders if o.state in (OrderState.OPEN, OrderState.AWAITING_APPROVAL)
        )
        assert chain.pc.reserved() == open_amounts
        assert len({o.need_key for o in orders}) == len(orders)
        with store.read() as session:
            rows = session.exec(select(PurchaseOrder)).all()
        assert len({r.order_id for r in rows}) == len(rows)
