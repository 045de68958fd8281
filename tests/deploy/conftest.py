"""Fixtures for the deployment tests: a config file pointing at a scratch database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from device.backup import backup, migrate, restore
from device.keys import PASSPHRASE_ENV, keys_app

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "deploy" / "examples" / "snack-machine.toml"


def write_config(path: Path, database: Path) -> Path:
    """The example machine, with its database moved to ``database`` and mock pins."""
    text = EXAMPLE_CONFIG.read_text()
    text = re.sub(r'(?m)^database = ".*"$', f'database = "{database}"', text)
    text = re.sub(r'(?m)^pin_factory = ".*"$', 'pin_factory = "mock"', text)
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _no_ambient_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test says where its passphrase comes from; none leaks in from the shell."""
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)


@pytest.fixture
def machine_config(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    return write_config(tmp_path / "custobot.toml", tmp_path / "data" / "custobot.db")


@pytest.fixture(scope="session")
def cli() -> typer.Typer:
    """The deployment commands mounted as the lead mounts them in ``device/cli.py``."""
    app = typer.Typer()
    app.add_typer(keys_app, name="keys")
    app.command()(backup)
    app.command()(restore)
    app.command()(migrate)
    return app
