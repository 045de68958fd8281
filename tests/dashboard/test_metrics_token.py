"""/metrics needs a bearer token whenever the dashboard binds beyond loopback (or is told to)."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from dashboard.app import create_app, start_in_thread
from dashboard.machine import LiveMachineView
from device.settings import DashboardConfig, Settings
from device.store.db import Store


def _app(
    settings: Settings, view: LiveMachineView, store: Store, tmp_path: Path, **dashboard: object
) -> tuple[Settings, FastAPI]:
    """The dashboard as ``serve`` builds it from a config with this ``[dashboard]`` table."""
    configured = settings.model_copy(
        update={
            "database": Path(str(store.engine.url.database)),
            "dashboard": DashboardConfig.model_validate(dashboard),
        }
    )
    app = create_app(configured, view, engine=store.engine, secret_file=tmp_path / "s.key")
    return configured, app


@pytest.mark.parametrize(
    ("dashboard", "required"),
    [
        ({}, False),  # 127.0.0.1: only this machine reaches it
        ({"host": "::1"}, False),
        ({"host": "0.0.0.0"}, True),
        ({"host": "192.168.1.20"}, True),
        ({"host": "0.0.0.0", "metrics_auth": "open"}, False),
        ({"metrics_auth": "token"}, True),
    ],
)
def test_metrics_needs_a_bearer_token_beyond_loopback(
    settings: Settings,
    view: LiveMachineView,
    store: Store,
    tmp_path: Path,
    dashboard: dict[str, object],
    required: bool,
) -> None:
    configured, app = _app(settings, view, store, tmp_path, **dashboard)
    token_file = configured.database.parent / "metrics.token"
    running = start_in_thread(app)
    try:
        with httpx.Client(base_url=running.url, timeout=30) as client:
            bare = client.get("/metrics")
            if not required:
                assert bare.status_code == 200
                assert "custobot_pending_approvals" in bare.text
                assert not token_file.exists()
                return
            assert bare.status_code == 401
            assert bare.headers["www-authenticate"].startswith("Bearer")
            assert "x-frame-options" in bare.headers
            assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
            token = token_file.read_text().strip()
            for wrong in ("Bearer nope", f"Basic {token}", f"Bearer {token}x", token):
                assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 401
            good = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert good.status_code == 200
            assert "custobot_pending_approvals" in good.text
            assert token not in good.text
    finally:
        running.stop()


def test_tls_needs_both_files() -> None:
    with pytest.raises(ValueError, match="go together"):
        DashboardConfig(tls_certfile=Path("/etc/custobot/dashboard.crt"))
