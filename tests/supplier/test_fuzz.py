"""Fuzzing the supplier: schemathesis from the committed OpenAPI against the live server.

Checks that no generated request (valid or not) gets a 5xx or kills the server,
that schema-invalid requests are refused, and that every response conforms to
the document (status, content type, schema). Schema-valid requests may still be
refused: JSON Schema cannot say "each GTIN once" or "EIP-55 checksum".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from eth_account import Account
from hypothesis import HealthCheck, settings

from supplier.app import create_app
from supplier.keys import Signer
from supplier.openapi import OPENAPI_FILE
from supplier.store import SupplierStore
from supplier.testing import serve_in_thread
from tests.supplier.conftest import make_config

schema = schemathesis.openapi.from_path(OPENAPI_FILE)


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    config = make_config(tmp)
    store = SupplierStore(config.database)
    app = create_app(config, Signer.from_key(Account.create().key), store)
    with serve_in_thread(app) as url:
        yield url
    store.close()


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_responses_conform(case: schemathesis.Case[Any], live_url: str) -> None:
    case.call_and_validate(
        base_url=live_url, excluded_checks=[schemathesis.checks.positive_data_acceptance]
    )
    assert httpx.get(f"{live_url}/catalog").status_code == 200  # still alive
