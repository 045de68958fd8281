"""Owners log in with password and TOTP; sessions, logout and lockout behave for a user."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pyotp
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from dashboard.app import create_app, start_in_thread
from dashboard.auth import LoginThrottle, add_owner, verify_login
from dashboard.cli import owner_app
from dashboard.errors import (
    InvalidOwnerInputError,
    LoginLockedError,
    LoginRefusedError,
    OwnerExistsError,
    SecretFileError,
)
from dashboard.machine import LiveMachineView
from dashboard.models import LoginFailures
from dashboard.security import DeviceCookies, load_or_create_secret
from device.settings import Settings
from device.store.db import Store, open_store
from tests.dashboard.conftest import PASSWORD, OwnerLogin, csrf_from, login


def test_login_with_password_and_totp_opens_the_dashboard(
    client: httpx.Client, owner: OwnerLogin
) -> None:
    assert client.get("/").headers["location"] == "/login"
    response = login(client, owner)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "secure" not in cookie  # plain HTTP on 127.0.0.1; Secure is set under TLS
    page = client.get("/")
    assert page.status_code == 200
    assert "alice" in page.text


@pytest.mark.parametrize("wrong", ["code", "password", "name"])
def test_a_wrong_factor_is_refused(client: httpx.Client, owner: OwnerLogin, wrong: str) -> None:
    good = owner.code()
    bad_code = f"{(int(good) + 1) % 1_000_000:06d}"
    token = csrf_from(client.get("/login").text)
    form = {"name": owner.name, "password": owner.password, "code": good, "csrf_token": token}
    form[wrong] = {"code": bad_code, "password": PASSWORD + "x", "name": "mallory"}[wrong]
    response = client.post("/login", data=form)
    assert response.status_code == 401
    assert "Wrong name, password or code." in response.text
    assert client.get("/").status_code == 303  # still not logged in


def test_a_totp_code_works_only_once(store: Store, owner: OwnerLogin) -> None:
    code = owner.code()
    verify_login(store.engine, owner.name, owner.password, code)
    with pytest.raises(LoginRefusedError):
        verify_login(store.engine, owner.name, owner.password, code)


def test_logout_ends_the_session_even_for_a_copied_cookie(
    logged_in: httpx.Client, server_url_client: httpx.Client
) -> None:
    server_url_client.cookies = httpx.Cookies(logged_in.cookies)
    assert server_url_client.get("/").status_code == 200
    token = csrf_from(logged_in.get("/").text)
    response = logged_in.post("/logout", data={"csrf_token": token})
    assert response.headers["location"] == "/login"
    assert logged_in.get("/").status_code == 303
    # The copy of the old cookie (e.g. stolen before logout) is dead too.
    assert server_url_client.get("/api/status").status_code == 401


@pytest.fixture
def server_url_client(client: httpx.Client) -> httpx.Client:
    return httpx.Client(base_url=str(client.base_url), follow_redirects=False)


def test_repeated_failed_logins_lock_the_owner_out(
    client: httpx.Client, owner: OwnerLogin, throttle: LoginThrottle
) -> None:
    for _ in range(throttle.max_failures):
        assert login(client, owner, code="000000").status_code == 401
    response = login(client, owner)  # now with the right code
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert client.get("/").status_code == 303


def test_lockout_counts_per_client_address_across_names(
    client: httpx.Client, owner: OwnerLogin, throttle: LoginThrottle
) -> None:
    for i in range(throttle.max_failures):
        guess = OwnerLogin(f"guess{i}", PASSWORD, owner.totp)
        assert login(client, guess).status_code == 401
    assert login(client, owner).status_code == 429


def test_a_lockout_outlasts_a_restart(
    client: httpx.Client,
    owner: OwnerLogin,
    throttle: LoginThrottle,
    settings: Settings,
    view: LiveMachineView,
    secret_file: Path,
    tmp_path: Path,
) -> None:
    for _ in range(throttle.max_failures):
        assert login(client, owner, code="000000").status_code == 401
    # A new process on the same database: the app as `custobot dashboard` builds it.
    reopened = open_store(tmp_path / "machine.db")
    app = create_app(settings, view, engine=reopened.engine, secret_file=secret_file)
    server = start_in_thread(app)
    try:
        with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as fresh:
            response = login(fresh, owner)
            assert response.status_code == 429
            assert 0 < int(response.headers["retry-after"]) <= 901
    finally:
        server.stop()
        reopened.close()


def test_lockout_ends_after_its_time(store: Store) -> None:
    now = [1000.0]
    throttle = LoginThrottle(
        store.engine, max_failures=2, window_s=60, lockout_s=300, clock=lambda: now[0]
    )
    throttle.reserve("owner:a")
    throttle.reserve("owner:a")  # the second attempt is checked, and it locks the key
    with pytest.raises(LoginLockedError) as locked:
        throttle.reserve("owner:a")
    assert locked.value.retry_after == 301
    throttle.reserve("owner:b")  # others are not affected
    now[0] -= 86_400  # the clock set back a day: the wait is still at most the lockout
    with pytest.raises(LoginLockedError) as locked:
        throttle.reserve("owner:a")
    assert locked.value.retry_after == 301
    now[0] += 86_400 + 301
    throttle.reserve("owner:a")
    now[0] += 61  # the window is over: this attempt starts a new count
    throttle.reserve("owner:a")
    throttle.success("owner:b")  # a login takes its reservation back
    with Session(store.engine) as session:  # what is over is forgotten
        assert [row.key for row in session.exec(select(LoginFailures))] == ["owner:a"]
    throttle.success("owner:a")
    throttle.reserve("owner:a")


def test_owner_names_and_passwords_are_checked(store: Store) -> None:
    with pytest.raises(InvalidOwnerInputError, match="name"):
        add_owner(store.engine, "bad name!", PASSWORD)
    with pytest.raises(InvalidOwnerInputError, match="password"):
        add_owner(store.engine, "bob", "short")
    add_owner(store.engine, "bob", PASSWORD)
    with pytest.raises(OwnerExistsError):
        add_owner(store.engine, "bob", PASSWORD)


def test_session_secret_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    first = load_or_create_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first
    os.chmod(path, 0o644)
    with pytest.raises(SecretFileError, match="chmod 600"):
        load_or_create_secret(path)


def test_owner_add_cli_shows_totp_setup_once_and_the_owner_can_log_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "machine.db"
    monkeypatch.setenv("CUSTOBOT_DATABASE", str(db))
    runner = CliRunner()
    result = runner.invoke(owner_app, ["add", "carol", "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    uri = next(line for line in result.output.splitlines() if line.startswith("otpauth://"))
    assert "█" in result.output or "▀" in result.output  # the QR code
    again = runner.invoke(owner_app, ["add", "carol", "--password-stdin"], input=PASSWORD + "\n")
    assert again.exit_code == 2
    assert "already exists" in again.output
    store = open_store(db)
    try:
        totp = pyotp.parse_uri(uri)
        assert isinstance(totp, pyotp.TOTP)
        who = verify_login(store.engine, "carol", PASSWORD, totp.now())
        assert who.name == "carol"
    finally:
        store.close()


def test_under_tls_the_session_cookie_is_secure(
    settings: Settings, view: LiveMachineView, store: Store, owner: OwnerLogin, tmp_path: Path
) -> None:
    app = create_app(settings, view, engine=store.engine, secret_file=tmp_path / "s.key", tls=True)
    running = start_in_thread(app)
    try:
        with httpx.Client(base_url=running.url) as client:
            cookie = client.get("/login").headers["set-cookie"].lower()
            assert "; secure" in cookie
            assert "httponly" in cookie
            # A client honouring Secure does not send it back over plain HTTP: no login.
            assert login(client, owner).status_code == 403
    finally:
        running.stop()


def test_a_device_cookie_names_one_owner_and_cannot_be_forged() -> None:
    devices = DeviceCookies("s" * 64)
    cookie = devices.issue("alice")
    key = devices.key(cookie, "alice")
    assert key is not None
    assert key.startswith("device:")
    assert devices.key(devices.issue("alice"), "alice") != key  # one key per browser
    assert devices.key(cookie, "bob") is None  # alice's browser is unknown for bob
    assert devices.key(cookie[:-2] + "xx", "alice") is None
    assert DeviceCookies("t" * 64).key(cookie, "alice") is None  # another machine's secret
    assert devices.key(None, "alice") is None
    assert devices.key("x" * 600, "alice") is None
