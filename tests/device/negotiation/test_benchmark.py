"""The negotiation benchmark's quality targets, on a smaller seeded sample (speed is not asserted)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from eth_account import Account

from benchmarks.negotiation import (
    DEADLINES,
    LITERATURE_SETS,
    MARKET,
    STRATEGIES,
    TIME_DEPENDENT,
    main,
    run,
    run_literature,
)
from device.negotiation import BuyerPolicy
from supplier.desk import Desk
from supplier.inprocess import InProcessDesk
from supplier.keys import Signer
from supplier.pricing import PriceBook, PricedOrder, make_strategy
from supplier.protocol import Counter, Offer, Rfq, RfqLine
from supplier.store import SupplierStore
from tests.device.negotiation.conftest import make_need, supplier_settings
from tests.supplier.conftest import LOCK, key


@pytest.mark.parametrize("kind", [*sorted(STRATEGIES), MARKET])
def test_buyer_meets_the_targets_against_each_strategy(kind: str) -> None:
    row = run(kind, 200, seed=3, policy=BuyerPolicy())
    assert row.deals_above_reservation == 0
    assert row.deal_zone_cases > 100
    assert row.agreements_in_zone / row.deal_zone_cases >= 0.98
    if kind in TIME_DEPENDENT:
        assert sum(row.shares) / len(row.shares) >= 0.60


def test_json_report_has_one_row_per_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cases", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["strategy"] for row in report["rows"]] == [*STRATEGIES, MARKET]
    assert all(row["cases"] == 20 for row in report["rows"])
    assert all(row["deals_above_reservation"] == 0 for row in report["rows"])


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_in_process_supplier_answers_exactly_like_the_real_desk(kind: str, tmp_path: Path) -> None:
    """The benchmark's supplier must not drift from ``supplier.desk.Desk`` (prices, final flag)."""
    strategy: dict[str, object] = {"kind": kind}
    config = supplier_settings(tmp_path, kind, strategy=strategy, max_rounds=6)
    store = SupplierStore(config.database)
    desk = Desk(config, Signer.from_key(Account.create().key), store)
    need = make_need()
    now = int(time.time())
    rfq = Rfq(
        rfq_id=f"bench-{kind}".ljust(16, "x"),
        items=[RfqLine(gtin=i.gtin, quantity=i.quantity) for i in need.items],
        deliver_by=need.deliver_by,
        answer_by=now + 60,
        chain_id=need.chain_id,
        buyer=need.profit_center,
        token=need.token,
        machine_customer=True,
        counter_lock=LOCK,
    )
    order = PriceBook(config.items).price(rfq.items, deliver_by=rfq.deliver_by, now=now)
    assert isinstance(order, PricedOrder)
    mirror = InProcessDesk(
        kind,
        make_strategy(config.strategy),
        order,
        max_rounds=6,
        deliver_by=need.deliver_by,
        opened_at=now,
    )
    real = desk.open(rfq, now)
    ours = mirror.open(now)
    counters = [order.floor_total // 2, order.floor_total // 2, order.floor_total * 3 // 4]
    counters += [order.floor_total * 9 // 10, order.list_total]
    try:
        for round_, price in enumerate(counters):
            assert isinstance(real, Offer)
            assert ours is not None
            assert (ours.amount, ours.final) == (real.amount, real.final)
            if real.final:
                break
            real = desk.counter(
                rfq.rfq_id, Counter(round=round_, price=price, counter_key=key(round_)), now
            )
            ours = mirror.counter(price, False, now)
        assert isinstance(real, Offer)
        assert ours is not None
        assert (ours.amount, ours.final) == (real.amount, True)
    finally:
        store.close()


@pytest.mark.parametrize("sellers", ["boulware", "linear", "conceder", "boulware+linear+conceder"])
def test_against_time_based_literature_sellers_the_buyer_closes_and_beats_a_plain_boulware_buyer(
    sellers: str,
) -> None:
    """NegMAS-formula sellers (benchmarks/literature.py), 20 rounds, a small seeded sample:
    a deal wherever the seller's own curve reaches the reservation, never above it, and at
    least the agreement and surplus of NegMAS's plain Boulware buyer on the same cases."""
    row = run_literature(sellers, 20, 60, seed=5, policy=BuyerPolicy())
    assert row.above_reservation == 0
    assert row.agreed_reachable >= 0.95 * row.reachable
    assert row.agreed_in_zone >= row.base_agreed["boulware"]
    kept = sum(row.shares) / len(row.shares)
    assert kept >= sum(row.base_shares["boulware"]) / len(row.base_shares["boulware"])


def test_literature_report_has_every_seller_set_and_deadline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--literature", "--cases", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {(r["sellers"], r["deadline_rounds"]) for r in rows} == {
        (name, n) for name in LITERATURE_SETS for n in DEADLINES
    }
    assert all(r["deals_above_reservation"] == 0 for r in rows)
