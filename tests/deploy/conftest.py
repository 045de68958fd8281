"""Fixtures for the deployment tests: scratch configs, the deploy CLI, a trial install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from device.cli import app
from device.keys import PASSPHRASE_ENV
from tests.conftest import require_component

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "deploy" / "examples" / "snack-machine.toml"
INSTALL = REPO / "deploy" / "install.sh"
BASE_PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
UNITS = (
    "custobot.service",
    "custobot-dashboard.service",
    "custobot-supplier.service",
    "custobot-backup.service",
    "custobot-backup.timer",
)


@dataclass(frozen=True)
class Installed:
    """A trial install under ``prefix`` and what install.sh printed."""

    prefix: Path
    output: str

    @property
    def etc(self) -> Path:
        return self.prefix / "etc" / "custobot"

    @property
    def custobot(self) -> Path:
        return self.prefix / "opt" / "custobot" / "venv" / "bin" / "custobot"


def run_install_args(prefix: Path, *extra: str) -> list[str]:
    """install.sh options for a trial into ``prefix`` that reuses this venv's packages."""
    return [
        "--prefix",
        str(prefix),
        "--no-system-user",
        "--skip-systemd",
        "--skip-apt",
        "--python",
        str(BASE_PYTHON),
        "--reuse-site-packages",
        sysconfig.get_paths()["purelib"],
        *extra,
    ]


def run_install(prefix: Path, *extra: str) -> Installed:
    """Run install.sh unprivileged-style into ``prefix``; it must succeed."""
    command = ["bash", str(INSTALL), *run_install_args(prefix, *extra)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOBOT_")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return Installed(prefix, output)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """One trial install per test session (and xdist worker), shared by the slow tests."""
    return run_install(tmp_path_factory.mktemp("root"), "--supplier")


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
    """The ``custobot`` command line itself, with the deployment commands wired in."""
    return app


@pytest.fixture(scope="session")
def systemd_analyze() -> Path:
    """systemd's own unit checker (Debian package ``systemd``; no running systemd needed)."""
    return require_component(
        Path("/usr/bin/systemd-analyze"), "systemd-analyze", "run `apt-get install systemd`"
    )
