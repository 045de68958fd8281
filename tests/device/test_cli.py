"""The README's main command and the operator's commands, run as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from device.cli import app
from device.settings import DEFAULTS_FILE
from device.store import repo
from device.store.db import open_store
from device.store.models import PriceChange

CUSTOBOT = [sys.executable, "-m", "device"]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "120", **extra}


def test_demo_sells_negotiates_pays_and_restocks() -> None:
    """The README's first command: within a few simulated days the newcomer sees it all."""
    result = subprocess.run(
        [*CUSTOBOT, "--log-level", "warning", "demo", "--for", "8", "--speed", "43200"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    since = next(line for line in out.splitlines() if line.startswith("since start:"))
    assert int(since.split(":")[1].split()[0]) > 20  # sales
    rows = [line for line in out.splitlines() if line.startswith("│")]
    stocks = [r.split("│")[3].strip() for r in rows if "/" in r.split("│")[3]]
    assert len(stocks) == 6
    assert any(int(s.split("/")[0]) < int(s.split("/")[1]) for s in stocks)  # stock fell
    orders = [r for r in rows if "…" in r.split("│")[1]]
    assert any("settled" in r for r in orders)  # negotiated, placed, delivered, paid
    assert "treasury on-chain:" in out
    assert "http://127.0.0.1:" in out  # the suppliers it negotiated with


def test_run_polls_in_real_time_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "machine.toml"
    db = tmp_path / "machine.db"
    config.write_text(
        DEFAULTS_FILE.read_text().replace('database = "custobot-demo.db"', f'database = "{db}"')
        + "\n[agent]\npoll_interval_s = 5\n"
    )
    proc = subprocess.Popen(
        [*CUSTOBOT, "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stderr is not None
        started = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not started:
            line = proc.stderr.readline()
            started = "agent_started" in line
        assert started
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "agent_stopped" in err
    status = subprocess.run(
        [*CUSTOBOT, "status", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert "Cola 330ml" in status.stdout
    assert "vends awaiting resolution: 0" in status.stdout
    assert "food waste: each perishable thrown away counts 8 times its cost" in status.stdout


def test_status_shows_prices_and_the_markdowns_with_their_reasons(tmp_path: Path) -> None:
    config = tmp_path / "machine.toml"
    db = tmp_path / "machine.db"
    config.write_text(
        DEFAULTS_FILE.read_text()
        .replace('database = "custobot-demo.db"', f'database = "{db}"')
        .replace("markdowns = false", "markdowns = true")
    )
    store = open_store(db)
    reason = "2 unit(s) expire within 18 h, 0.5 expected to sell at list: 40% off"
    with store.write() as session:
        repo.record_price_change(
            session,
            PriceChange(
                at=datetime(2026, 12, 1, 15, tzinfo=UTC),
                slot_id=6,
                price=2_700_000,
                list_price=4_500_000,
                floor_price=2_250_000,
                units=2,
                reason=reason,
            ),
        )
    store.close()
    status = subprocess.run(
        [*CUSTOBOT, "status", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(COLUMNS="200"),
        check=False,
    )
    assert status.returncode == 0, status.stderr
    sandwich = next(line for line in status.stdout.splitlines() if "Fresh sandwich" in line)
    assert "2.70" in sandwich
    assert "4.50" in sandwich
    assert "markdowns: on (at most 40% off list" in status.stdout
    assert f"price 2026-12-01 15:00 slot 6: 2.70 USDC — {reason}" in status.stdout


def test_kind_chooses_the_machine_each_command_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--kind`` or the config's ``kind``: a taxi never starts a vending machine."""
    runner = CliRunner()
    refused = runner.invoke(app, ["run", "--kind", "taxi"])
    assert refused.exit_code == 2
    assert "custobot run --kind taxi: the taxi has no run yet" in refused.output
    monkeypatch.setenv("CUSTOBOT_KIND", "taxi")
    assert runner.invoke(app, ["run"]).exit_code == 2  # the config's kind, without --kind
    city = runner.invoke(app, ["simulate", "--days", "1", "--policy", "driver-rules"])
    assert city.exit_code == 0, city.output
    assert "robotaxi, seed 1, 1 days" in city.output
    wrong = runner.invoke(app, ["simulate", "--kind", "drone"])
    assert wrong.exit_code == 2
    assert "'drone'" in wrong.output
