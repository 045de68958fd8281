"""Whatever a supplier answers, the buyer refuses it with a reason or holds a quote that
passes every check; it never crashes and never accepts a broken one (real HTTP)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.negotiation import Buyer, HttpLimits, SupplierRef, SupplierStatus, check_quote
from supplier.desk import Desk
from supplier.keys import Signer
from supplier.protocol import WELL_KNOWN_PATH, offer_lines, sign_offer
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread
from tests.device.negotiation.conftest import CHIPS, COLA, make_need, supplier_settings

RFQ_ID = "fuzz-rfq-0000000000"
KEY = bytes(Account.create().key)
NEED = make_need(deliver_by=int(time.time()) + 3 * 86400)


def template() -> dict[str, Any]:
    """A valid, correctly signed first offer for ``NEED``: the seed the fuzzer mutates."""
    offer = sign_offer(
        private_key=KEY,
        rfq_id=RFQ_ID,
        round=0,
        final=True,
        chain_id=NEED.chain_id,
        buyer=NEED.profit_center,
        token=NEED.token,
        lines=offer_lines([(COLA, 48, 300_000), (CHIPS, 24, 400_000)]),
        deliver_by=NEED.deliver_by - 3600,
        expiry=int(time.time()) + 3600,
        nonce=1,
    )
    body: dict[str, Any] = offer.model_dump(mode="json")
    return body


TEMPLATE = template()
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**260)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@st.composite
def mutated_offer(draw: st.DrawFn) -> bytes:
    body = json.loads(json.dumps(TEMPLATE))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(body)))
        if draw(st.booleans()):
            body[key] = draw(JSON)
        else:
            del body[key]
    return json.dumps(body).encode()


@dataclass
class Answer:
    body: bytes = b""
    status: int = 200


@pytest.fixture(scope="module")
def fuzz_supplier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SupplierRef, Answer]]:
    """A supplier with honest discovery and catalog whose RFQ answer the test sets."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    config = supplier_settings(tmp, "fuzz", strategy={"kind": "fixed"})
    store = SupplierStore(config.database)
    desk = Desk(config, Signer.from_key(KEY), store)
    answer = Answer()
    app = FastAPI()

    @app.get(WELL_KNOWN_PATH)
    def discovery() -> Response:
        return JSONResponse(desk.discovery().model_dump(mode="json"))

    @app.get("/catalog")
    def catalog() -> Response:
        return JSONResponse(desk.catalog().model_dump(mode="json"))

    @app.post("/rfq")
    def rfq() -> Response:
        return Response(answer.body, status_code=answer.status, media_type="application/json")

    try:
        with serve_in_thread(app) as url:
            yield (
                SupplierRef(name="fuzz", base_url=url, signing_address=desk.signer.address),
                answer,
            )
    finally:
        store.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=st.one_of(
        mutated_offer(), st.binary(max_size=200), st.just(json.dumps(TEMPLATE).encode())
    ),
    status=st.sampled_from([200, 200, 200, 404, 422, 500]),
)
def test_any_answer_is_refused_with_a_reason_or_is_a_valid_quote(
    fuzz_supplier: tuple[SupplierRef, Answer], body: bytes, status: int
) -> None:
    ref, answer = fuzz_supplier
    answer.body, answer.status = body, status
    buyer = Buyer(
        limits=HttpLimits(connect_timeout_s=1.0, read_timeout_s=1.0, request_timeout_s=2.0),
        new_rfq_id=lambda: RFQ_ID,
    )
    result = asyncio.run(buyer.negotiate(NEED, [ref]))
    (standing,) = result.transcript.decision.standings
    if result.offer is None:
        assert standing.status in {SupplierStatus.REFUSED, SupplierStatus.DECLINED}
        assert standing.status is SupplierStatus.DECLINED or standing.reason is not None
        return
    offer = result.offer
    assert standing.status is SupplierStatus.WON
    assert status == 200
    assert offer.amount <= NEED.reservation
    refusal = check_quote(
        NEED,
        ref.signing_address,
        offer.to_quote(),
        offer.signature_bytes(),
        offer.item_lines(),
        chain_id=offer.chain_id,
        now=int(time.time()),
        min_validity_s=0,
    )
    assert refusal is None
