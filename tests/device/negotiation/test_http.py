"""The buyer over real HTTP against several reference suppliers at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from device.negotiation import (
    Buyer,
    EventKind,
    HttpLimits,
    SupplierStatus,
    Transcript,
    check_quote,
)
from tests.device.negotiation.conftest import make_need, reference_supplier


def test_buys_the_best_signed_quote_from_several_reference_suppliers(
    tmp_path: Path, fast_limits: HttpLimits
) -> None:
    need = make_need(reservation=30_000_000, urgency=0.2)
    with (
        reference_supplier(tmp_path, "boulware", strategy={"kind": "boulware", "beta": 0.2}) as a,
        reference_supplier(
            tmp_path,
            "conceder",
            strategy={"kind": "conceder", "beta": 4.0},
            cola=(470_000, 330_000),
            chips=(640_000, 450_000),
        ) as b,
        reference_supplier(tmp_path, "fixed", strategy={"kind": "fixed"}) as c,
        reference_supplier(tmp_path, "tit_for_tat", strategy={"kind": "tit_for_tat"}) as d,
    ):
        result = asyncio.run(Buyer(limits=fast_limits).negotiate(need, [a, b, c, d]))
    transcript = result.transcript
    assert result.offer is not None, transcript.decision.summary
    assert result.supplier is not None
    assert result.offer.amount <= need.reservation
    # The winner's quote passes every check again, independently.
    offer = result.offer
    assert (
        check_quote(
            need,
            result.supplier.signing_address,
            offer.to_quote(),
            offer.signature_bytes(),
            offer.item_lines(),
            chain_id=offer.chain_id,
            now=int(transcript.finished_at),
            min_validity_s=30,
        )
        is None
    )
    # Every supplier got an RFQ and made offers; the winner is the best by price here
    # (same reliability, same delivery date), and the fixed-price list is beaten.
    assert {e.supplier for e in transcript.events if e.kind is EventKind.RFQ} == {
        "boulware",
        "conceder",
        "fixed",
        "tit_for_tat",
    }
    standings = {s.supplier: s for s in transcript.decision.standings}
    assert standings[result.supplier.name].status is SupplierStatus.WON
    others = [s.amount for s in standings.values() if s.amount is not None]
    assert offer.amount == min(others)
    list_total = 48 * 450_000 + 24 * 600_000
    assert offer.amount < list_total
    assert not [e for e in transcript.events if e.kind is EventKind.REJECTION]
    assert Transcript.model_validate_json(transcript.model_dump_json()) == transcript


def test_no_supplier_within_reservation_means_no_deal(
    tmp_path: Path, fast_limits: HttpLimits
) -> None:
    need = make_need(reservation=5_000_000)  # far below every floor
    with (
        reference_supplier(tmp_path, "a", strategy={"kind": "boulware", "beta": 0.5}) as a,
        reference_supplier(tmp_path, "b", strategy={"kind": "fixed"}) as b,
    ):
        result = asyncio.run(Buyer(limits=fast_limits).negotiate(need, [a, b]))
    assert result.offer is None
    assert result.supplier is None
    statuses = {s.supplier: s.status for s in result.transcript.decision.standings}
    assert statuses == {"a": SupplierStatus.OVER_RESERVATION, "b": SupplierStatus.OVER_RESERVATION}


def test_a_supplier_that_cannot_serve_is_skipped_from_its_catalog(
    tmp_path: Path, fast_limits: HttpLimits
) -> None:
    need = make_need(reservation=40_000_000)  # the list price (36 USDC) is acceptable
    with (
        reference_supplier(
            tmp_path, "other_chain", strategy={"kind": "fixed"}, chain_id=5
        ) as other,
        reference_supplier(tmp_path, "ok", strategy={"kind": "fixed"}) as ok,
    ):
        result = asyncio.run(Buyer(limits=fast_limits).negotiate(need, [other, ok]))
    assert result.supplier is not None
    assert result.supplier.name == "ok"
    declines = [e for e in result.transcript.events if e.kind is EventKind.DECLINE]
    assert [e.supplier for e in declines] == ["other_chain"]
    assert "does not take token" in declines[0].detail
    assert not [
        e
        for e in result.transcript.events
        if e.kind is EventKind.RFQ and e.supplier == "other_chain"
    ]


def test_discover_pins_the_advertised_signing_address(
    tmp_path: Path, fast_limits: HttpLimits
) -> None:
    with reference_supplier(tmp_path, "new", strategy={"kind": "fixed"}, reliability=0.7) as ref:
        found = asyncio.run(
            Buyer(limits=fast_limits).discover("new", ref.base_url, reliability=0.7)
        )
    assert found == ref
