"""Misbehaving suppliers over real HTTP: each is refused with its reason, honest ones still sell."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import pytest

from device.negotiation import (
    Buyer,
    EventKind,
    HttpLimits,
    NegotiationResult,
    Reason,
    SupplierError,
    SupplierRef,
    SupplierStatus,
    UsedQuote,
)
from tests.device.negotiation.conftest import make_need, reference_supplier
from tests.device.negotiation.hostile import EXPECTED, NEGOTIATES, hostile_supplier

# Hostile suppliers undercut the honest one, so taking their offer would have been tempting.
CHEAP = {"cola": (300_000, 200_000), "chips": (400_000, 300_000)}
FIXED = {"kind": "fixed"}
BOULWARE = {"kind": "boulware", "beta": 0.2}


def refusals(result: NegotiationResult) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for event in result.transcript.events:
        if event.kind is EventKind.REJECTION:
            assert event.reason is not None
            out.setdefault(event.supplier, []).append(event.reason.value)
    return out


def negotiate(
    limits: HttpLimits, suppliers: list[SupplierRef], used: UsedQuote | None = None
) -> NegotiationResult:
    need = make_need(reservation=30_000_000, urgency=0.2)
    return asyncio.run(Buyer(limits=limits).negotiate(need, suppliers, used=used))


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_misbehaviour_is_refused_and_the_honest_supplier_wins(
    kind: str, tmp_path: Path, fast_limits: HttpLimits
) -> None:
    strategy = BOULWARE if kind in NEGOTIATES else FIXED
    with (
        hostile_supplier(tmp_path, kind, strategy=strategy, **CHEAP) as hostile,
        reference_supplier(tmp_path, "honest", strategy=BOULWARE, max_rounds=4) as honest,
    ):
        result = negotiate(fast_limits, [hostile, honest])
    assert refusals(result) == {kind: [EXPECTED[kind].value]}
    assert result.supplier == honest
    assert result.offer is not None
    assert result.offer.amount <= 30_000_000
    standing = {s.supplier: s for s in result.transcript.decision.standings}
    assert standing[kind].status is SupplierStatus.REFUSED
    assert standing[kind].reason is EXPECTED[kind]
    assert f"{kind} no offer (refused: {EXPECTED[kind].value})" in (
        result.transcript.decision.summary
    )


def test_all_misbehaviours_at_once_with_two_honest_suppliers(tmp_path: Path) -> None:
    """With the machine's own limits: two dozen servers in this one process answer more
    slowly than one does (and CI runs another worker beside it), so the short test limits
    would refuse honest answers as timeouts."""
    with contextlib.ExitStack() as stack:
        suppliers = [
            stack.enter_context(
                hostile_supplier(
                    tmp_path,
                    kind,
                    strategy=BOULWARE if kind in NEGOTIATES else FIXED,
                    **CHEAP,
                )
            )
            for kind in sorted(EXPECTED)
        ]
        suppliers.append(
            stack.enter_context(reference_supplier(tmp_path, "honest_boulware", strategy=BOULWARE))
        )
        suppliers.append(
            stack.enter_context(
                reference_supplier(
                    tmp_path, "honest_conceder", strategy={"kind": "conceder", "beta": 3.0}
                )
            )
        )
        result = negotiate(HttpLimits(), suppliers)
    assert refusals(result) == {kind: [reason.value] for kind, reason in EXPECTED.items()}
    assert result.supplier is not None
    assert result.supplier.name in {"honest_boulware", "honest_conceder"}
    assert result.offer is not None
    assert result.offer.amount <= 30_000_000


def test_a_supplier_that_is_not_there_is_unreachable(
    tmp_path: Path, fast_limits: HttpLimits
) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and now is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with reference_supplier(tmp_path, "honest", strategy=BOULWARE) as honest:
        gone = honest.model_copy(update={"name": "gone", "base_url": f"http://127.0.0.1:{port}"})
        result = negotiate(fast_limits, [gone, honest])
    assert refusals(result) == {"gone": ["unreachable"]}
    assert result.supplier == honest
    with pytest.raises(SupplierError) as raised:
        asyncio.run(Buyer(limits=fast_limits).discover("gone", gone.base_url))
    assert raised.value.reason is Reason.UNREACHABLE


def test_a_quote_replayed_in_a_later_negotiation_is_refused_once_placed(
    tmp_path: Path, fast_limits: HttpLimits
) -> None:
    """The second negotiation gets the first one's quote, byte for byte: refused as a replay."""
    placed: set[tuple[str, int]] = set()

    def used(supplier: str, nonce: int) -> bool:
        return (supplier, nonce) in placed

    kind = "replays_across_negotiations"
    with (
        hostile_supplier(tmp_path, kind, strategy=FIXED, **CHEAP) as hostile,
        reference_supplier(tmp_path, "honest", strategy=BOULWARE, max_rounds=4) as honest,
    ):
        first = negotiate(fast_limits, [hostile, honest], used)
        assert first.supplier == hostile
        assert first.offer is not None
        placed.add((first.offer.supplier, first.offer.nonce))
        second = negotiate(fast_limits, [hostile, honest], used)
    assert refusals(second) == {kind: [Reason.REPLAYED_QUOTE.value]}
    assert second.supplier == honest


def test_an_error_while_dealing_with_one_supplier_is_contained_to_it(
    tmp_path: Path, fast_limits: HttpLimits
) -> None:
    """Whatever raises while one supplier's answer is handled refuses that supplier only."""
    with (
        reference_supplier(
            tmp_path, "troubled", strategy=FIXED, cola=CHEAP["cola"], chips=CHEAP["chips"]
        ) as troubled,
        reference_supplier(tmp_path, "honest", strategy=BOULWARE, max_rounds=4) as honest,
    ):

        def used(supplier: str, nonce: int) -> bool:
            if supplier == troubled.signing_address:
                raise RuntimeError("lookup broke on this supplier's quote")
            return False

        result = negotiate(fast_limits, [troubled, honest], used)
    assert refusals(result) == {"troubled": [Reason.FAULT.value]}
    assert result.supplier == honest
