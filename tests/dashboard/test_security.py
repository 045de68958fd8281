"""Mutations need a session and its CSRF token; no secret ever leaves in a page, answer or log."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlmodel import Session, select

from contracts.profit_center import OrderStatus
from dashboard.app import ROUTERS
from dashboard.models import Owner
from device.logs import configure_logging
from device.store.db import Store
from tests.dashboard.chain import Chain
from tests.dashboard.conftest import OwnerLogin, csrf_from, login

MUTATING = {
    "/login",
    "/logout",
    "/approvals/{order_id}/{action}",
    "/api/orders/{order_id}/{action}",
}
AWAITING = OrderStatus.AWAITING_APPROVAL


def _mutating_routes() -> set[str]:
    return {
        route.path
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and (route.methods or set()) - {"GET", "HEAD", "OPTIONS"}
    }


def _attempts(order_id: str) -> list[tuple[str, str]]:
    return [
        (f"/approvals/{order_id}/approve", "form"),
        (f"/approvals/{order_id}/reject", "form"),
        (f"/api/orders/{order_id}/approve", "header"),
        (f"/api/orders/{order_id}/reject", "header"),
        ("/logout", "form"),
    ]


def test_the_mutating_routes_are_the_ones_checked_here() -> None:
    assert _mutating_routes() == MUTATING


def test_mutations_without_a_session_are_refused(
    client: httpx.Client, chain: Chain, owner: OwnerLogin
) -> None:
    order_id = chain.placed[0]
    for path, _ in _attempts(order_id):
        response = client.post(path, data={"csrf_token": "x"}, headers={"X-CSRF-Token": "x"})
        assert response.status_code in (303, 401, 403), path
        if response.status_code == 303:
            assert response.headers["location"] == "/login"
    # Logging in without the form's CSRF token is refused even with the right credentials.
    response = client.post(
        "/login", data={"name": owner.name, "password": owner.password, "code": owner.code()}
    )
    assert response.status_code == 403
    assert client.get("/api/status").status_code == 401
    assert chain.state(order_id) is AWAITING


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_mutations_without_the_csrf_token_are_refused(
    logged_in: httpx.Client, chain: Chain, token: str | None
) -> None:
    order_id = chain.placed[0]
    for path, kind in _attempts(order_id):
        if token is None:
            response = logged_in.post(path)
        elif kind == "form":
            response = logged_in.post(path, data={"csrf_token": token})
        else:
            response = logged_in.post(path, headers={"X-CSRF-Token": token})
        assert response.status_code == 403, path
    assert chain.state(order_id) is AWAITING
    assert logged_in.get("/api/status").status_code == 200  # logout was refused too


def test_a_csrf_token_from_another_session_is_refused(
    logged_in: httpx.Client, chain: Chain, server_url: str
) -> None:
    order_id = chain.placed[0]
    with httpx.Client(base_url=server_url) as other:
        foreign = csrf_from(other.get("/login").text)
    response = logged_in.post(f"/approvals/{order_id}/approve", data={"csrf_token": foreign})
    assert response.status_code == 403
    assert chain.state(order_id) is AWAITING


@pytest.fixture
def server_url(client: httpx.Client) -> str:
    return str(client.base_url)


def test_no_secret_in_any_page_answer_or_log_line(
    client: httpx.Client,
    owner: OwnerLogin,
    chain: Chain,
    store: Store,
    secret_file: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging("debug")
    order_id = chain.placed[0]
    bodies: list[str] = [client.get("/login").text]
    login(client, owner, code="000000")  # a failed login is logged too
    assert login(client, owner).status_code == 303
    paths = ["/", "/stock", "/sales", "/orders", "/approvals", "/policy", "/suppliers"]
    paths += ["/members", f"/orders/{order_id}", "/metrics", "/api/openapi.json"]
    paths += [f"/fragments/{p}" for p in ("overview", "stock", "approvals", "members")]
    paths += [f"/api/{p}" for p in ("status", "slots", "sales", "orders", "approvals")]
    paths += [f"/api/{p}" for p in ("policy", "suppliers", "members")]
    paths.append(f"/api/orders/{order_id}")
    paths += ["/api/orders/0x12", "/does-not-exist"]
    for path in paths:
        response = client.get(path)
        bodies.append(response.text)
        bodies.append(str(response.headers))
    token = csrf_from(client.get("/approvals").text)
    decided = client.post(f"/api/orders/{order_id}/approve", headers={"X-CSRF-Token": token})
    bodies.append(decided.text)
    assert decided.status_code == 200
    with Session(store.engine) as session:
        row = session.exec(select(Owner)).one()
    secrets = {
        "governor key": chain.governor.key.hex().removeprefix("0x"),
        "TOTP seed": owner.totp.secret,
        "password hash": row.password_hash,
        "password": owner.password,
        "session secret": secret_file.read_text().strip(),
    }
    logs = capfd.readouterr()
    everything = "\n".join([*bodies, logs.out, logs.err])
    assert "http_request" in everything  # the log lines were captured
    for what, value in secrets.items():
        assert value.lower() not in everything.lower(), f"{what} leaked"
    assert not re.search(r"\$argon2", everything)
