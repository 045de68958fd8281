"""The supplier's chain watcher against the real ProfitCenter on eth-tester."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts.profit_center import OrderStatus, ProfitCenter
from supplier.desk import Desk
from supplier.errors import OrderStateError, UnknownOrderError
from supplier.keys import Signer
from supplier.protocol import Offer, Rfq, RfqLine
from supplier.store import OrderState, SupplierStore
from supplier.watcher import Watcher
from tests.supplier.chainworld import build_chain_world
from tests.supplier.conftest import COLA, DAY, LOCK, SODA, USDC

rfq_ids = itertools.count()


@dataclass
class Market:
    """One machine's ProfitCenter on eth-tester, its agent, and one supplier's desk + watcher."""

    w3: Web3
    tester: Any
    pc: ProfitCenter
    usdc: Any
    governor: str
    agent: LocalAccount
    supplier: LocalAccount
    desk: Desk
    store: SupplierStore
    watcher: Watcher

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        self.tester.time_travel(self.now() + seconds)
        self.tester.mine_blocks(1)

    def offer(self, gtin: str = COLA, quantity: int = 48, desk: Desk | None = None) -> Offer:
        now = self.now()
        rfq = Rfq(
            rfq_id=f"watcher-rfq-{next(rfq_ids):06d}",
            items=[RfqLine(gtin=gtin, quantity=quantity)],
            deliver_by=now + 3 * DAY,
            answer_by=now + 60,
            chain_id=int(self.w3.eth.chain_id),
            buyer=self.pc.address,
            token=self.usdc.address,
            machine_customer=True,
            counter_lock=LOCK,
        )
        answer = (desk or self.desk).open(rfq, now)
        assert isinstance(answer, Offer)
        return answer

    def place(self, offer: Offer) -> bytes:
        placed = self.pc.place_order(offer.to_quote(), offer.signature_bytes(), sender=self.agent)
        return placed.order_id

    def balance(self, who: str) -> int:
        return int(self.usdc.functions.balanceOf(who).call())


@pytest.fixture
def market(tmp_path: Path) -> Market:
    provider = EthereumTesterProvider()
    w3 = Web3(provider)
    supplier: LocalAccount = Account.create()
    chain = build_chain_world(w3, tmp_path, supplier, 500 * USDC)
    tester = provider.ethereum_tester
    return Market(
        w3,
        tester,
        chain.pc,
        chain.usdc,
        chain.governor,
        chain.agent,
        supplier,
        chain.desk,
        chain.store,
        chain.watcher,
    )


def test_an_order_is_seen_delivered_and_claimed_when_the_machine_stays_silent(
    market: Market,
) -> None:
    offer = market.offer()
    order_id = market.place(offer)
    report = market.watcher.poll_once(market.now())
    assert len(report.new_orders) == 1
    local = report.new_orders[0]
    order = market.store.order(local)
    assert order is not None
    assert (order.order_id, order.amount, order.nonce) == (
        "0x" + order_id.hex(),
        offer.amount,
        offer.nonce,
    )
    assert order.known_quote
    assert order.state == OrderState.OPEN
    assert order.deliver_by == offer.deliver_by
    assert market.store.committed_quantities() == {int(COLA): 48}

    delivered = market.watcher.mark_delivered(local, market.now())
    assert delivered.state == OrderState.DELIVERED
    assert delivered.dispute_until == market.now() + DAY
    with pytest.raises(OrderStateError):
        market.watcher.mark_delivered(local, market.now())

    early = market.watcher.poll_once(market.now())
    assert early.claimed == []
    assert market.pc.order(order_id).status is OrderStatus.DELIVERED

    market.advance(DAY)
    before = market.balance(market.supplier.address)
    claimed = market.watcher.poll_once(market.now())
    assert claimed.claimed == [local]
    assert market.balance(market.supplier.address) == before + offer.amount
    settled = market.store.order(local)
    assert settled is not None
    assert settled.state == OrderState.SETTLED
    assert settled.paid == offer.amount
    assert settled.claimed_tx is not None
    assert market.watcher.poll_once(market.now()).claimed == []  # never claimed twice


def test_a_confirmed_order_is_settled_without_a_claim(market: Market) -> None:
    offer = market.offer(SODA, 12)
    order_id = market.place(offer)
    local = market.watcher.poll_once(market.now()).new_orders[0]
    market.watcher.mark_delivered(local, market.now())
    market.pc.confirm_delivery(order_id, offer.amount, sender=market.agent)
    report = market.watcher.poll_once(market.now())
    assert report.claimed == []
    order = market.store.order(local)
    assert order is not None
    assert (order.state, order.paid) == (OrderState.SETTLED, offer.amount)


def test_a_rescan_records_nothing_twice_and_other_suppliers_are_ignored(
    market: Market, tmp_path: Path
) -> None:
    market.place(market.offer())
    other: LocalAccount = Account.create()
    market.pc.set_supplier(other.address, True, sender=market.governor)
    foreign = Desk(market.desk.config, Signer(other), SupplierStore(tmp_path / "other.db"))
    market.place(market.offer(desk=foreign))
    first = market.watcher.poll_once(market.now())
    assert len(first.new_orders) == 1
    market.store.set_cursor(market.watcher.chain_id, market.pc.address, 0)
    again = market.watcher.poll_once(market.now())
    assert again.new_orders == []
    assert len(market.store.orders()) == 1


def test_an_order_released_after_its_deadline_frees_the_stock(market: Market) -> None:
    order_id = market.place(market.offer())
    local = market.watcher.poll_once(market.now()).new_orders[0]
    market.advance(4 * DAY)
    market.pc.release_expired(order_id, sender=market.governor)
    market.watcher.poll_once(market.now())
    order = market.store.order(local)
    assert order is not None
    assert order.state == OrderState.RELEASED
    assert market.store.committed_quantities() == {}


def test_an_unknown_order_cannot_be_marked(market: Market) -> None:
    with pytest.raises(UnknownOrderError):
        market.watcher.mark_delivered(99, market.now())
