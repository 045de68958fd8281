"""``custobot demo`` with its output going to a file (CI, journald, ``> demo.log``): the
newcomer learns where the dashboard is and how to log in at once, not when it is gone."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx

from tests.dashboard.conftest import csrf_from
from tests.device.test_cli import CUSTOBOT, _env

LOGIN = re.compile(r"log in as '(\w+)' with password '([^']+)' and the one-time code \(now (\d{6})")


def _wait_for(path: Path, pattern: str, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        text = path.read_text()
        if re.search(pattern, text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} not written while the demo ran:\n{path.read_text()}")


def test_demo_tells_where_and_how_to_log_in_first_then_its_progress(tmp_path: Path) -> None:
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [*CUSTOBOT, "demo", "--for", "5", "--speed", "17280"],
            stdout=stdout,
            stderr=stderr,
            env=_env(),
        )
        try:
            text = _wait_for(out, r"one-time code \(now \d{6}", proc)
            assert text.startswith("custobot demo: ")  # the first thing written
            url = re.search(r"dashboard: (http://127\.0\.0\.1:\d+) ", text)
            found = LOGIN.search(text)
            assert url
            assert found
            owner, password, code = found.groups()
            with httpx.Client(base_url=url.group(1), timeout=30) as client:
                token = csrf_from(client.get("/login").text)
                form = {"name": owner, "password": password, "code": code, "csrf_token": token}
                assert client.post("/login", data=form).status_code == 303  # logged in
                assert client.get("/").status_code == 200
            assert proc.wait(timeout=300) == 0, err.read_text()
        finally:
            proc.kill()
    # Off a terminal a progress line every 10 s, and one at the end.
    assert re.search(
        r"progress: simulated .* \(day 1\.0 of 1\.0\) · \d+ s elapsed", out.read_text()
    )
    logs = err.read_text()
    assert "order_negotiated" in logs
    assert " USDC'" in logs
    # No base units, no enum reprs, no 32-byte order ids in the lines for people.
    assert not re.search(r"\b(amount|paid|reservation|price)=\d", logs)
    assert "<OrderState" not in logs
    assert "<OrderStatus" not in logs
    assert not re.search(r"order=0x[0-9a-f]{64}", logs)
