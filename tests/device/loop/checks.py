"""What must hold after any history of kills and outages: checked against chain and database."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from sqlmodel import col, select
from web3.types import TxData

from contracts.profit_center import OrderPlaced, OrderSettled, OrderStatus, RevenueDeposited
from device.devchain import DevChain
from device.procurement.models import ChainIntent, IntentState, OrderState, PurchaseOrder
from device.store.db import open_store
from device.store.models import Sale, SaleState

CHAIN_STATE = {
    OrderStatus.AWAITING_APPROVAL: OrderState.AWAITING_APPROVAL,
    OrderStatus.OPEN: OrderState.OPEN,
    OrderStatus.DELIVERED: OrderState.OPEN,
    OrderStatus.DISPUTED: OrderState.DISPUTED,
    OrderStatus.SETTLED: OrderState.SETTLED,
    OrderStatus.REJECTED: OrderState.REJECTED,
    OrderStatus.RELEASED: OrderState.RELEASED,
}


class OnChain(Protocol):
    """What the checks read of a test's world: the chain, the suppliers' addresses by
    name, and the first block of the test (the vending loop's and the taxi's worlds)."""

    @property
    def chain(self) -> DevChain: ...

    @property
    def suppliers(self) -> dict[str, str]: ...

    @property
    def first_block(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Ledger:
    """The machine's database as the checks read it."""

    sales: list[Sale]
    orders: list[PurchaseOrder]
    intents: list[ChainIntent]


def read_ledger(database: Path) -> Ledger:
    store = open_store(database)
    try:
        with store.read() as session:
            return Ledger(
                sales=list(session.exec(select(Sale).order_by(col(Sale.id)))),
                orders=list(session.exec(select(PurchaseOrder).order_by(col(PurchaseOrder.id)))),
                intents=list(session.exec(select(ChainIntent).order_by(col(ChainIntent.id)))),
            )
    finally:
        store.close()


def check_sales(ledger: Ledger, acknowledged: list[int]) -> None:
    """No lost sale: every sale a customer was handed is COMPLETED, once; nothing left PENDING."""
    assert len(acknowledged) == len(set(acknowledged)), "a sale was acknowledged twice"
    state = {sale.id: sale.state for sale in ledger.sales}
    lost = [sale_id for sale_id in acknowledged if state.get(sale_id) != SaleState.COMPLETED]
    assert lost == [], f"acknowledged sales not COMPLETED in the database: {lost}"
    assert [s.id for s in ledger.sales if s.state == SaleState.PENDING] == []


def check_orders(
    world: OnChain,
    ledger: Ledger,
    delivered: Mapping[str, int],
) -> None:
    """No need ordered twice, no order paid twice, every delivered order paid exactly once.

    A need is ordered twice only if the planner, which counts every live order's
    units as stock, missed a live order: an on-chain order without its row, a row
    that says failed/closed while the chain has it open. Both are checked here,
    besides the unique need key.
    """
    chain = world.chain
    events = chain.pc.events(world.first_block)
    placed = [e for e in events if isinstance(e, OrderPlaced)]
    settled = [e for e in events if isinstance(e, OrderSettled)]
    placed_ids = Counter("0x" + e.order_id.hex() for e in placed)
    settled_ids = Counter("0x" + e.order_id.hex() for e in settled)
    assert [oid for oid, n in placed_ids.items() if n > 1] == []
    assert [oid for oid, n in settled_ids.items() if n > 1] == [], "an order was paid twice"

    rows = {order.order_id: order for order in ledger.orders}
    assert len(rows) == len(ledger.orders)
    assert len({o.need_key for o in ledger.orders}) == len(ledger.orders)
    # Every on-chain order has exactly one row, with the same terms, and vice versa.
    for event in placed:
        row = rows.get("0x" + event.order_id.hex())
        assert row is not None, f"order {event.order_id.hex()} on-chain but not in the database"
        assert (row.amount, row.supplier_address) == (event.amount, event.supplier)
    for order in ledger.orders:
        assert order.state is not OrderState.PLACING, f"{order.order_id} still placing"
        on_chain = order.order_id in placed_ids
        assert on_chain == (order.state is not OrderState.FAILED), (order.order_id, order.state)

    # Payments: the database, the settlement events and the suppliers' balances agree.
    paid_by_event = {"0x" + e.order_id.hex(): e.paid for e in settled}
    for order in ledger.orders:
        if order.state is OrderState.SETTLED:
            assert order.paid == paid_by_event[order.order_id], order.order_id
    assert set(paid_by_event) == {
        o.order_id for o in ledger.orders if o.state is OrderState.SETTLED
    }
    received: dict[str, int] = defaultdict(int)
    for settlement in settled:
        received[settlement.supplier] += settlement.paid
    for address in world.suppliers.values():
        assert chain.balance(address) - 1 == received[address], address
    unpaid = [oid for oid, units in delivered.items() if units > 0 and oid not in paid_by_event]
    assert unpaid == [], f"delivered but never paid: {unpaid}"

    # The machine's view of every order is the chain's (nothing live looks closed).
    for order in ledger.orders:
        if order.state is not OrderState.FAILED:
            status = chain.pc.order(bytes.fromhex(order.order_id[2:])).status
            assert CHAIN_STATE[status] is order.state, (order.order_id, order.state, status)


def check_transactions(world: OnChain, ledger: Ledger, nonce_before: int) -> None:
    """Nothing sent twice: every agent transaction on-chain is exactly one intent's."""
    w3 = world.chain.w3
    agent = world.chain.agent.address
    sent = [i for i in ledger.intents if i.block_number is not None]
    assert [
        i.key for i in ledger.intents if i.state in (IntentState.PENDING, IntentState.SIGNED)
    ] == []
    assert int(w3.eth.get_transaction_count(agent)) - nonce_before == len(sent), (
        sent_versus_intents(world, ledger)
    )
    assert sorted(i.nonce or 0 for i in sent) == list(range(nonce_before, nonce_before + len(sent)))
    for intent in sent:
        tx = w3.eth.get_transaction(intent.tx_hash)  # type: ignore[arg-type]
        assert (tx["from"], tx["nonce"]) == (agent, intent.nonce)
    deposits = [
        e
        for e in world.chain.pc.events(world.first_block)
        if isinstance(e, RevenueDeposited) and e.sender == agent
    ]
    mined_deposits = [
        json.loads(i.payload)["amount"]
        for i in ledger.intents
        if i.kind == "deposit_revenue" and i.state is IntentState.MINED
    ]
    assert sorted(e.amount for e in deposits) == sorted(mined_deposits)


def sent_versus_intents(world: OnChain, ledger: Ledger) -> str:
    """The agent's transactions on-chain beside the outbox's intents: what a failed
    "nothing sent twice" check shows, so the odd one out is named (not just counted)."""
    w3 = world.chain.w3
    agent = world.chain.agent.address
    recorded = {i.tx_hash for i in ledger.intents}
    on_chain = []
    for number in range(world.first_block, int(w3.eth.block_number) + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in cast(Sequence[TxData], block["transactions"]):
            if tx["from"] == agent:
                tx_hash = "0x" + bytes(tx["hash"]).hex()
                mark = "" if tx_hash in recorded else "  <- no intent has this hash"
                on_chain.append(f"  nonce {tx['nonce']} block {number} {tx_hash}{mark}")
    intents = [
        f"  {i.key} {i.state.value} nonce={i.nonce} block={i.block_number} tx={i.tx_hash} "
        f"attempts={i.attempts} error={i.last_error}"
        for i in ledger.intents
    ]
    return "\n".join(["agent transactions on-chain:", *on_chain, "intents:", *intents])
