"""The reference supplier over real HTTP (uvicorn on 127.0.0.1, port 0) with httpx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from contracts.quote import recover_signer
from supplier.app import create_app
from supplier.keys import Signer
from supplier.protocol import MAX_BODY_BYTES, Answer, Catalog, Decline, Discovery, Offer
from supplier.settings import SupplierSettings
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread
from tests.supplier.conftest import (
    BISCUITS,
    CHAIN_ID,
    COLA,
    DAY,
    SODA,
    TOKEN,
    Clock,
    counter_body,
    rfq_body,
)

ANSWER: TypeAdapter[Offer | Decline] = TypeAdapter(Answer)


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        yield client


def answer(response: httpx.Response) -> Offer | Decline:
    assert response.status_code == 200, response.text
    return ANSWER.validate_json(response.content)


def offer(response: httpx.Response) -> Offer:
    result = answer(response)
    assert isinstance(result, Offer), result
    return result


def decline(response: httpx.Response) -> Decline:
    result = answer(response)
    assert isinstance(result, Decline), result
    return result


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["kind"] == "error"
    assert body["code"] == code
    return body


def test_discovery_names_the_signing_key_and_chains(http: httpx.Client, signer: Signer) -> None:
    found = Discovery.model_validate_json(http.get("/.well-known/custobot").content)
    assert found.signing_address == signer.address
    assert found.chain_ids == [CHAIN_ID]
    assert [t.address for t in found.tokens] == [TOKEN]
    assert found.protocol_versions == ["custobot/2"]


def test_catalog_shows_list_prices_but_never_floors_or_stock(http: httpx.Client) -> None:
    response = http.get("/catalog")
    catalog = Catalog.model_validate_json(response.content)
    assert [(i.gtin, i.list_price, i.min_quantity) for i in catalog.items] == [
        (SODA, 600_000, 12),
        (COLA, 450_000, 24),
        (BISCUITS, 380_000, 1),
    ]
    assert "310000" not in response.text
    assert "stock" not in response.text


def test_rfq_is_answered_with_an_offer_signed_for_this_machine(
    http: httpx.Client, signer: Signer, clock: Clock, config: SupplierSettings
) -> None:
    body = rfq_body(items=[{"gtin": COLA, "quantity": 96}, {"gtin": SODA, "quantity": 12}])
    got = offer(http.post("/rfq", json=body))
    assert recover_signer(got.to_quote(), CHAIN_ID, got.signature_bytes()) == signer.address
    assert (got.supplier, got.buyer, got.token, got.chain_id) == (
        signer.address,
        body["buyer"],
        TOKEN,
        CHAIN_ID,
    )
    assert [(line.gtin, line.quantity) for line in got.lines] == [(SODA, 12), (COLA, 96)]
    assert got.amount == 12 * 600_000 + 96 * (450_000 * 95 // 100)  # list, volume discount
    assert got.round == 0
    assert not got.final
    assert got.deliver_by == body["deliver_by"]
    assert got.expiry == clock.now + config.quote_ttl_seconds


def test_negotiation_concedes_to_the_floor_then_ends(http: httpx.Client) -> None:
    body = rfq_body(items=[{"gtin": COLA, "quantity": 48}])
    rfq_id = body["rfq_id"]
    current = offer(http.post("/rfq", json=body))
    amounts = [current.amount]
    while not current.final:
        current = offer(http.post(f"/rfq/{rfq_id}/counter", json=counter_body(current.round, 1)))
        amounts.append(current.amount)
    assert amounts == sorted(amounts, reverse=True)
    assert amounts[0] == 48 * 450_000
    assert amounts[-1] == 48 * 310_000  # floor, never below
    assert len(amounts) == 6  # max_rounds
    last = counter_body(current.round, 2)
    assert decline(http.post(f"/rfq/{rfq_id}/counter", json=last)).reason == "no_agreement"
    # the same counter again is a retry and gets the same answer; anything else: closed
    assert decline(http.post(f"/rfq/{rfq_id}/counter", json=last)).reason == "no_agreement"
    again = counter_body(current.round, 3)
    assert decline(http.post(f"/rfq/{rfq_id}/counter", json=again)).reason == "session_closed"


def test_a_counter_the_supplier_can_live_with_is_signed_as_is(http: httpx.Client) -> None:
    body = rfq_body(items=[{"gtin": COLA, "quantity": 48}])
    first = offer(http.post("/rfq", json=body))
    price = first.amount - 48  # one base unit per can below list
    accepted = offer(http.post(f"/rfq/{body['rfq_id']}/counter", json=counter_body(0, price)))
    assert accepted.amount == price
    assert accepted.final


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"items": [{"gtin": "12345670", "quantity": 24}]}, "unknown_item"),
        ({"items": [{"gtin": COLA, "quantity": 12}]}, "below_min_quantity"),
        ({"items": [{"gtin": SODA, "quantity": 500}]}, "out_of_stock"),
        ({"items": [{"gtin": BISCUITS, "quantity": 5}], "deliver_by_days": 1}, "lead_time"),
        ({"chain_id": 1}, "unsupported_chain"),
        ({"token": "0x000000000000000000000000000000000000dEaD"}, "unsupported_token"),
        ({"answer_by_days": -1}, "answer_by_passed"),
    ],
)
def test_rfqs_the_supplier_cannot_serve_get_a_clear_decline(
    http: httpx.Client, clock: Clock, overrides: dict[str, Any], reason: str
) -> None:
    days = overrides.pop("deliver_by_days", 3)
    answer_days = overrides.pop("answer_by_days", None)
    body = rfq_body(deliver_by=clock.now + days * DAY, **overrides)
    if answer_days is not None:
        body["answer_by"] = clock.now + answer_days * DAY
    got = decline(http.post("/rfq", json=body))
    assert got.reason == reason
    assert got.message
    # a declined negotiation is over
    counter = http.post(f"/rfq/{body['rfq_id']}/counter", json=counter_body(0, 1))
    assert decline(counter).reason == "session_closed"


def test_a_non_machine_customer_is_refused_and_nothing_is_recorded(http: httpx.Client) -> None:
    body = rfq_body(machine_customer=False)
    refused = error(http.post("/rfq", json=body), 422, "invalid_message")
    assert refused["details"][0]["loc"] == "body.machine_customer"
    # the id was not taken: the same RFQ from a machine is answered normally
    offer(http.post("/rfq", json={**body, "machine_customer": True}))


def test_malformed_json_is_a_400(http: httpx.Client) -> None:
    response = http.post(
        "/rfq", content=b'{"rfq_id": "abc', headers={"content-type": "application/json"}
    )
    error(response, 400, "invalid_message")


def test_a_body_that_is_not_json_media_is_a_415(http: httpx.Client) -> None:
    error(
        http.post("/rfq", content=b"rfq_id=x", headers={"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    )


def test_an_oversized_body_is_refused_before_parsing(http: httpx.Client) -> None:
    padding = "x" * MAX_BODY_BYTES
    error(http.post("/rfq", json=rfq_body(pad=padding)), 413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"rfq_id": "'
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b"y" * 1024
        yield b'"}'

    response = http.post("/rfq", content=chunks(), headers={"content-type": "application/json"})
    error(response, 413, "body_too_large")


def test_an_rfq_id_cannot_be_reused_for_another_request(http: httpx.Client) -> None:
    body = rfq_body()
    first = offer(http.post("/rfq", json=body))
    retried = offer(http.post("/rfq", json=body))
    assert retried == first  # an identical retry gets the same signed offer
    error(http.post("/rfq", json={**body, "target_price": 1}), 409, "duplicate_rfq")


def test_out_of_sequence_counters_are_refused_and_change_nothing(http: httpx.Client) -> None:
    body = rfq_body()
    rfq_id = body["rfq_id"]
    offer(http.post("/rfq", json=body))
    error(http.post(f"/rfq/{rfq_id}/counter", json=counter_body(3, 1)), 409, "stale_round")
    error(http.post(f"/rfq/{'z' * 20}/counter", json=counter_body(0, 1)), 404, "not_found")
    error(http.post(f"/rfq/{rfq_id}/counter", json=counter_body(0, -1)), 422, "invalid_message")
    second = offer(http.post(f"/rfq/{rfq_id}/counter", json=counter_body(0, 1)))
    assert second.round == 1
    retried = offer(http.post(f"/rfq/{rfq_id}/counter", json=counter_body(0, 1)))
    assert retried == second
    error(http.post(f"/rfq/{rfq_id}/counter", json=counter_body(0, 2)), 409, "stale_round")


def test_a_negotiation_expires(http: httpx.Client, clock: Clock, config: SupplierSettings) -> None:
    body = rfq_body()
    offer(http.post("/rfq", json=body))
    clock.now += config.session_ttl_seconds + 1
    late = http.post(f"/rfq/{body['rfq_id']}/counter", json=counter_body(0, 1))
    assert decline(late).reason == "session_expired"


def test_unknown_paths_and_methods_get_protocol_errors(http: httpx.Client) -> None:
    error(http.get("/nothing"), 404, "not_found")
    error(http.get("/rfq"), 405, "method_not_allowed")


def test_nonces_are_never_reused_across_a_restart(
    config: SupplierSettings, signer: Signer, clock: Clock
) -> None:
    seen: list[int] = []
    for _ in range(2):  # two lives of the supplier on the same database file
        store = SupplierStore(config.database)
        with serve_in_thread(create_app(config, signer, store, clock=clock)) as url:
            for _ in range(3):
                seen.append(offer(httpx.post(f"{url}/rfq", json=rfq_body())).nonce)
        store.close()
    assert len(set(seen)) == len(seen)
    assert seen == sorted(seen)  # one counter under one random epoch, never rewound
    assert SupplierStore(config.database).issued_nonces() == sorted(seen)
