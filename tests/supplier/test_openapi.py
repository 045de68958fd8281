"""The committed OpenAPI document is the one the code serves."""

from __future__ import annotations

from supplier.openapi import OPENAPI_FILE, openapi_document, render


def test_committed_openapi_matches_the_code() -> None:
    committed = OPENAPI_FILE.read_text(encoding="utf-8")
    assert committed == render(), "supplier/openapi.json is stale: run python -m supplier.openapi"


def test_document_covers_the_protocol() -> None:
    document = openapi_document()
    assert set(document["paths"]) == {
        "/.well-known/custobot",
        "/catalog",
        "/rfq",
        "/rfq/{rfq_id}/counter",
    }
    rfq = document["components"]["schemas"]["Rfq"]
    assert rfq["properties"]["machine_customer"]["const"] is True
    assert "machine_customer" in rfq["required"]
    assert rfq["additionalProperties"] is False
    for status in ("400", "413", "415", "422"):
        assert status in document["paths"]["/rfq"]["post"]["responses"]
