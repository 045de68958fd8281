"""Arbitrary bodies against a live negotiation: never a 5xx, and a refused one changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplier.app import create_app
from supplier.keys import Signer
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread
from tests.supplier.conftest import key, make_config, rfq_body

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
field_values = st.one_of(
    st.integers(-(2**70), 2**260), st.booleans(), st.text(max_size=12), st.none(), st.floats()
)
counters = st.one_of(
    json_values,
    st.fixed_dictionaries({"round": field_values, "price": field_values}),
    st.fixed_dictionaries(
        {"round": st.just(0), "price": field_values},
        optional={"counter_key": st.sampled_from([key(0), key(1), "0x" + "00" * 32])}
        | {"final": field_values, "protocol": st.text(max_size=12), "x": field_values},
    ),
)


@dataclass
class Live:
    url: str
    store: SupplierStore
    rfq_id: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp: Path = tmp_path_factory.mktemp("state")
    config = make_config(tmp)
    store = SupplierStore(config.database)
    app = create_app(config, Signer.from_key(Account.create().key), store)
    with serve_in_thread(app) as url:
        body = rfq_body()
        assert httpx.post(f"{url}/rfq", json=body).status_code == 200
        yield Live(url, store, body["rfq_id"])
    store.close()


def snapshot(live: Live) -> tuple[str, str, str, str, bool]:
    session = live.store.rfq_session(live.rfq_id)
    assert session is not None
    return (
        session.offers_json,
        session.counters_json,
        session.last_request_json,
        session.last_answer_json,
        session.closed,
    )


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(body=counters)
def test_a_refused_counter_changes_nothing(live: Live, body: Any) -> None:
    before = snapshot(live)
    nonces = live.store.issued_nonces()
    response = httpx.post(
        f"{live.url}/rfq/{live.rfq_id}/counter",
        content=json.dumps(body, allow_nan=True).encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code < 500, response.text
    assert response.json()["kind"] in {"offer", "decline", "error"}
    if response.status_code >= 400:
        assert snapshot(live) == before
        assert live.store.issued_nonces() == nonces


@settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(body=json_values | st.fixed_dictionaries({}, optional={k: field_values for k in rfq_body()}))
def test_a_refused_rfq_records_nothing(live: Live, body: Any) -> None:
    nonces = live.store.issued_nonces()
    response = httpx.post(
        f"{live.url}/rfq",
        content=json.dumps(body, allow_nan=True).encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert live.store.issued_nonces() == nonces
        if isinstance(body, dict) and isinstance(body.get("rfq_id"), str):
            assert live.store.rfq_session(body["rfq_id"]) is None or body["rfq_id"] == live.rfq_id
