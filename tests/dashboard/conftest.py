"""The dashboard on real parts: a migrated SQLite file, a ProfitCenter on eth-tester, uvicorn."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from dashboard.app import RunningServer, create_app, start_in_thread
from dashboard.auth import LoginThrottle, add_owner
from dashboard.machine import LiveMachineView
from device.settings import Settings, load_settings
from device.store.db import Store, open_store
from tests.dashboard.chain import USDC, Chain, deploy_chain

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class OwnerLogin:
    """An owner created through the real ``add_owner``; codes come from its TOTP seed."""

    name: str
    password: str
    totp: pyotp.TOTP
    _last_step: int = field(default=-1)

    def code(self) -> str:
        """A code the server has not seen yet (each TOTP step is accepted once).

        The current step first: it stays valid if the clock crosses into the next
        step before the server checks it (the server accepts one step of drift).
        """
        now = time.time()
        current = int(now) // self.totp.interval
        step = max(current, self._last_step + 1)
        if step > current + 1:  # both usable codes are spent: wait for the next step
            time.sleep((step - 1) * self.totp.interval - now + 0.05)
        self._last_step = step
        return self.totp.generate_otp(step)


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: httpx.Client, owner: OwnerLogin, *, code: str | None = None) -> httpx.Response:
    """Log in through the form, exactly as a browser does (CSRF from the login page)."""
    token = csrf_from(client.get("/login").text)
    return client.post(
        "/login",
        data={
            "name": owner.name,
            "password": owner.password,
            "code": code or owner.code(),
            "csrf_token": token,
        },
    )


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path / "machine.db")
    yield store
    store.close()


@pytest.fixture(scope="session")
def deployed() -> Chain:
    """Deployed once per worker with 250 USDC revenue and two orders awaiting approval
    (60 and 45 USDC); each test runs on a snapshot of it and reverts it afterwards."""
    chain = deploy_chain()
    chain.deposit_revenue(250 * USDC)
    chain.place_order(60 * USDC)
    chain.place_order(45 * USDC)
    return chain


@pytest.fixture
def chain(deployed: Chain) -> Iterator[Chain]:
    tester = deployed.w3.provider.ethereum_tester
    snapshot = tester.take_snapshot()
    yield dataclasses.replace(deployed, placed=list(deployed.placed))
    tester.revert_to_snapshot(snapshot)


def make_owner(store: Store, name: str) -> OwnerLogin:
    """An owner made through the real ``add_owner``, with its TOTP seed for codes."""
    created = add_owner(store.engine, name, PASSWORD)
    totp = pyotp.parse_uri(created.provisioning_uri)
    assert isinstance(totp, pyotp.TOTP)
    return OwnerLogin(name, PASSWORD, totp)


@pytest.fixture
def owner(store: Store) -> OwnerLogin:
    return make_owner(store, "alice")


@pytest.fixture
def view(settings: Settings, store: Store, chain: Chain) -> LiveMachineView:
    return LiveMachineView(settings, store, chain.pc, governor=chain.governor)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    return tmp_path / "dashboard-session.key"


@pytest.fixture
def throttle(store: Store) -> LoginThrottle:
    return LoginThrottle(store.engine, max_failures=5, window_s=900, lockout_s=900)


@pytest.fixture
def app(
    settings: Settings,
    view: LiveMachineView,
    store: Store,
    secret_file: Path,
    throttle: LoginThrottle,
) -> FastAPI:
    return create_app(
        settings, view, engine=store.engine, secret_file=secret_file, throttle=throttle
    )


@pytest.fixture
def server(app: FastAPI) -> Iterator[RunningServer]:
    running = start_in_thread(app)
    yield running
    running.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as c:
        yield c


@pytest.fixture
def logged_in(client: httpx.Client, owner: OwnerLogin) -> httpx.Client:
    response = login(client, owner)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    return client
