"""Meeting the configured suppliers at start: every one at once, a dead one skipped."""

from __future__ import annotations

import socket
from pathlib import Path

from device.negotiation import Buyer, HttpLimits
from device.settings import SupplierEndpoint, load_settings
from device.vending.runtime import SUPPLIER_RELIABILITY_PRIOR, meet_suppliers
from tests.device.negotiation.conftest import reference_supplier


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_supplier_that_does_not_answer_is_skipped(
    tmp_path: Path, fast_limits: HttpLimits
) -> None:
    with reference_supplier(tmp_path, "acme", strategy={"kind": "fixed"}) as acme:
        settings = load_settings(None).model_copy(
            update={
                "suppliers": [
                    SupplierEndpoint(name="gone", url=f"http://127.0.0.1:{_closed_port()}"),
                    SupplierEndpoint(name="acme", url=acme.base_url),
                ]
            }
        )
        known = meet_suppliers(Buyer(limits=fast_limits), settings)
    (met,) = known
    assert met.ref.name == "acme"
    assert met.ref.signing_address == acme.signing_address  # pinned from its discovery
    assert met.ref.reliability == SUPPLIER_RELIABILITY_PRIOR
    assert met.option.prices  # its catalog, as the planner prices from it
