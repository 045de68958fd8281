"""The owners' dashboard on a trial install, as deploy/README.md tells an operator to reach it.

``custobot owner add`` from the installed venv makes the login (first boot, step 10); the
installed ``custobot-dashboard.service``'s own ExecStart serves the config's [dashboard]
(127.0.0.1:8080); the owner logs in with password and TOTP code. Under TLS (a certificate
in the config) the same unit serves HTTPS with a Secure session cookie.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest

from device.settings import load_settings
from tests.deploy.conftest import Installed

PASSWORD = "a long owner passphrase"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _unit_command(installed: Installed, unit: str) -> list[str]:
    text = (installed.prefix / "etc" / "systemd" / "system" / unit).read_text()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    return shlex.split(exec_start.removeprefix("ExecStart="))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _service(
    installed: Installed, env: dict[str, str], url: str, verify: ssl.SSLContext | bool = True
) -> Iterator[None]:
    """The unit's ExecStart (as systemd runs it: its own env, the data dir as cwd) until SIGTERM."""
    process = subprocess.Popen(
        _unit_command(installed, "custobot-dashboard.service"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=installed.prefix / "var" / "lib" / "custobot",
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the dashboard did not come up"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/login", timeout=5, verify=verify).status_code == 200:
                    break
            time.sleep(0.2)
        yield
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        # uvicorn shuts down gracefully and re-raises SIGTERM: systemd counts that as clean.
        assert process.returncode in (0, -signal.SIGTERM), stderr
        assert '"level": "error"' not in stderr, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _owner_add(installed: Installed, name: str) -> pyotp.TOTP:
    """`custobot owner add NAME --config ...` from the installed venv (deploy/README.md)."""
    config = installed.etc / "custobot.toml"
    done = subprocess.run(
        [
            str(installed.custobot),
            "owner",
            "add",
            name,
            "--password-stdin",
            "--config",
            str(config),
        ],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=False,
        cwd=installed.prefix,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    uri = next(line for line in done.stdout.splitlines() if line.startswith("otpauth://"))
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    return totp


def _log_in(client: httpx.Client, name: str, totp: pyotp.TOTP) -> httpx.Response:
    form = client.get("/login")
    match = _CSRF.search(form.text)
    assert match, form.text[:500]
    data = {"name": name, "password": PASSWORD, "code": totp.now(), "csrf_token": match.group(1)}
    return client.post("/login", data=data)


@pytest.mark.slow
def test_the_installed_unit_serves_the_login_page_and_an_owner_made_by_the_cli_logs_in(
    installed: Installed,
) -> None:
    settings = load_settings(installed.etc / "custobot.toml")
    assert (settings.dashboard.host, settings.dashboard.port) == ("127.0.0.1", 8080)
    assert settings.dashboard.tls_certfile is None
    totp = _owner_add(installed, "operator")
    # The config's own address, on a free port: 8080 may be taken on a test machine.
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        _service(installed, {"CUSTOBOT_DASHBOARD__PORT": str(port)}, url),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        assert "Log in" in client.get("/login").text
        logged = _log_in(client, "operator", totp)
        assert logged.status_code == 303, logged.text[:500]
        page = client.get("/")
        assert page.status_code == 200
        assert "operator" in page.text
        assert client.get("/metrics").status_code == 200  # loopback: no token needed
    # The unit made the session secret itself, private, in the data directory.
    key = installed.prefix / "var" / "lib" / "custobot" / "dashboard-session.key"
    assert key.stat().st_mode & 0o077 == 0


@pytest.mark.slow
def test_with_a_certificate_in_the_config_the_unit_serves_https(
    installed: Installed, tmp_path: Path
) -> None:
    cert, key = tmp_path / "dashboard.crt", tmp_path / "dashboard.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        capture_output=True,
        check=True,
    )
    totp = _owner_add(installed, "tls-operator")
    port = _free_port()
    url = f"https://127.0.0.1:{port}"
    env = {
        "CUSTOBOT_DASHBOARD__PORT": str(port),
        "CUSTOBOT_DASHBOARD__TLS_CERTFILE": str(cert),
        "CUSTOBOT_DASHBOARD__TLS_KEYFILE": str(key),
    }
    trust = ssl.create_default_context(cafile=str(cert))
    with (
        _service(installed, env, url, verify=trust),
        httpx.Client(base_url=url, timeout=30, verify=trust) as client,
    ):
        cookie = client.get("/login").headers["set-cookie"].lower()
        assert "; secure" in cookie
        assert _log_in(client, "tls-operator", totp).status_code == 303
        assert client.get("/").status_code == 200
        with pytest.raises(httpx.TransportError):  # no plain HTTP on that port
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
