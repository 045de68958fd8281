"""Fuzzing /api from its own OpenAPI document: no generated request gets a 5xx.

Runs against the live uvicorn server as a logged-in owner (session cookie and CSRF
header), so the fuzzer reaches the handlers instead of bouncing off the login.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from dashboard.app import SESSION_COOKIE, create_app, openapi_document, start_in_thread
from dashboard.auth import add_owner
from dashboard.machine import LiveMachineView
from dashboard.security import CSRF_HEADER
from device.settings import load_settings
from device.store.db import open_store
from tests.dashboard.chain import Chain
from tests.dashboard.conftest import PASSWORD, OwnerLogin, csrf_from, login
from tests.dashboard.machine_data import stock_and_sales


class Live:
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers


@pytest.fixture(scope="module")
def live(deployed: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    settings_ = load_settings()
    store = open_store(tmp / "machine.db")
    stock_and_sales(store, settings_)
    created = add_owner(store.engine, "fuzzer", PASSWORD)
    totp = pyotp.parse_uri(created.provisioning_uri)
    assert isinstance(totp, pyotp.TOTP)
    view = LiveMachineView(settings_, store, deployed.pc, governor=deployed.governor)
    app = create_app(settings_, view, engine=store.engine, secret_file=tmp / "session.key")
    running = start_in_thread(app)
    with httpx.Client(base_url=running.url) as client:
        assert login(client, OwnerLogin("fuzzer", PASSWORD, totp)).status_code == 303
        token = csrf_from(client.get("/").text)
        cookie = client.cookies[SESSION_COOKIE]
    yield Live(running.url, {"Cookie": f"{SESSION_COOKIE}={cookie}", CSRF_HEADER: token})
    running.stop()
    store.close()


schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_has_no_5xx_and_answers_as_documented(case: schemathesis.Case[Any], live: Live) -> None:
    case.call_and_validate(
        base_url=live.url,
        headers=live.headers,
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
    assert httpx.get(f"{live.url}/api/status", headers=live.headers).status_code == 200


def test_the_served_document_is_the_one_fuzzed(live: Live) -> None:
    served = httpx.get(f"{live.url}/api/openapi.json").json()
    assert served == openapi_document()
    assert "/api/orders/{order_id}/{action}" in served["paths"]
