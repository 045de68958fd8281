"""The sales desk under generated, valid RFQs and counters: every answer is sound."""

from __future__ import annotations

import itertools
from pathlib import Path

from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplier.desk import Desk
from supplier.keys import Signer
from supplier.protocol import Counter, Decline, Offer, Rfq, RfqLine
from supplier.store import SupplierStore
from tests.supplier.conftest import (
    BISCUITS,
    CHAIN_ID,
    COLA,
    DAY,
    LOCK,
    SODA,
    TOKEN,
    key,
    make_config,
)

NOW = 1_800_000_000
FLOOR = {COLA: 310_000, SODA: 420_000, BISCUITS: 250_000}
ids = itertools.count()

lines = st.lists(
    st.tuples(st.sampled_from([COLA, SODA, BISCUITS]), st.integers(1, 3000)),
    min_size=1,
    max_size=3,
    unique_by=lambda t: t[0],
)
strategies = st.sampled_from(
    [
        {"kind": "fixed"},
        {"kind": "boulware", "beta": 0.1},
        {"kind": "conceder", "beta": 5.0},
        {"kind": "tit_for_tat", "mirror": 1.5},
    ]
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    strategy=strategies,
    items=lines,
    deliver_days=st.integers(0, 5),
    target=st.none() | st.integers(0, 10**10),
    counters=st.lists(st.integers(0, 10**10), max_size=8),
)
def test_every_answer_is_a_sound_offer_or_a_decline(
    tmp_path: Path,
    strategy: dict[str, object],
    items: list[tuple[str, int]],
    deliver_days: int,
    target: int | None,
    counters: list[int],
) -> None:
    signer = Signer.from_key(Account.create().key)
    store = SupplierStore(tmp_path / f"desk{next(ids)}.db")
    desk = Desk(make_config(tmp_path, strategy=strategy), signer, store)
    rfq = Rfq(
        rfq_id=f"rfq-{next(ids):012d}",
        items=[RfqLine(gtin=g, quantity=q) for g, q in items],
        deliver_by=NOW + deliver_days * DAY,
        answer_by=NOW + 60,
        chain_id=CHAIN_ID,
        buyer="0x000000000000000000000000000000000000bEEF",
        token=TOKEN,
        machine_customer=True,
        counter_lock=LOCK,
        target_price=target,
    )
    answer: Offer | Decline = desk.open(rfq, NOW)
    previous: int | None = None
    for price in [*counters, None]:
        if isinstance(answer, Decline):
            break
        assert answer.signer() == signer.address
        assert answer.buyer == rfq.buyer
        assert answer.chain_id == CHAIN_ID
        assert sorted((line.gtin, line.quantity) for line in answer.lines) == sorted(items)
        for line in answer.lines:
            assert line.unit_price >= FLOOR[line.gtin]
        if previous is not None:
            assert answer.amount <= previous
        previous = answer.amount
        if price is None:
            break
        answer = desk.counter(
            rfq.rfq_id,
            Counter(round=answer.round, price=price, counter_key=key(answer.round)),
            NOW + 1,
        )
    store.close()


def test_an_item_dropped_from_the_catalog_mid_negotiation_ends_it_cleanly(tmp_path: Path) -> None:
    signer = Signer.from_key(Account.create().key)
    store = SupplierStore(tmp_path / "desk.db")
    config = make_config(tmp_path)
    before = Desk(config, signer, store)
    rfq = Rfq(
        rfq_id="dropped-item-000001",
        items=[RfqLine(gtin=SODA, quantity=12)],
        deliver_by=NOW + 3 * DAY,
        answer_by=NOW + 60,
        chain_id=CHAIN_ID,
        buyer="0x000000000000000000000000000000000000bEEF",
        token=TOKEN,
        machine_customer=True,
        counter_lock=LOCK,
    )
    assert isinstance(before.open(rfq, NOW), Offer)
    without_soda = [item for item in config.items if item.gtin != SODA]
    after = Desk(make_config(tmp_path, items=without_soda), signer, store)  # a restart
    answer = after.counter(rfq.rfq_id, Counter(round=0, price=1, counter_key=key(0)), NOW + 1)
    assert isinstance(answer, Decline)
    assert (answer.reason, answer.gtin) == ("unknown_item", SODA)
    closed = after.counter(rfq.rfq_id, Counter(round=0, price=2, counter_key=key(0)), NOW + 2)
    assert isinstance(closed, Decline)
    assert closed.reason == "session_closed"


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    strategy=strategies,
    quantity=st.integers(24, 500),
    beat_share=st.floats(0.0, 1.2),
    counter_share=st.floats(0.0, 1.0),
)
def test_a_price_to_beat_gets_a_final_offer_under_it_when_the_floor_allows(
    tmp_path: Path,
    strategy: dict[str, object],
    quantity: int,
    beat_share: float,
    counter_share: float,
) -> None:
    """Best and final (custobot/2's optional ``price_to_beat``): the answer is final, never
    under the floor, the last offer or the buyer's own counter, and under the price to beat
    whenever the floor leaves room."""
    signer = Signer.from_key(Account.create().key)
    store = SupplierStore(tmp_path / f"desk{next(ids)}.db")
    desk = Desk(make_config(tmp_path, strategy=strategy, best_and_final=True), signer, store)
    rfq = Rfq(
        rfq_id=f"rfq-{next(ids):012d}",
        items=[RfqLine(gtin=COLA, quantity=quantity)],
        deliver_by=NOW + DAY,
        answer_by=NOW + 60,
        chain_id=CHAIN_ID,
        buyer="0x000000000000000000000000000000000000bEEF",
        token=TOKEN,
        machine_customer=True,
        counter_lock=LOCK,
    )
    first = desk.open(rfq, NOW)
    assert isinstance(first, Offer)
    if first.final:  # a fixed price: the next counter is declined, as before
        store.close()
        return
    floor = FLOOR[COLA] * quantity
    beat = int(floor + (first.amount - floor) * beat_share)
    counter = int(min(beat, first.amount) * counter_share)
    answer = desk.counter(
        rfq.rfq_id,
        Counter(round=0, price=counter, price_to_beat=beat, counter_key=key(0)),
        NOW + 1,
    )
    store.close()
    assert isinstance(answer, Offer)
    assert answer.final
    assert floor <= answer.amount <= first.amount
    if counter <= answer.amount and floor < beat <= first.amount:
        assert answer.amount < beat
