"""Suite-wide fixtures: where the real external components live, and how a missing one fails.

Outside CI a test whose real component (anvil, Chromium) is missing is skipped with
the reason; in CI (``CI=true``) the same test fails, so nothing is silently left out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

REPO = Path(__file__).resolve().parent.parent
ANVIL = REPO / "contracts" / "node_modules" / ".bin" / "anvil"
CHROMIUM = Path("/usr/bin/chromium")
SLITHER = REPO / ".venv-slither" / "bin" / "slither"


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    """Each test starts from structlog's defaults: a command run in one test (``simulate``
    logs at warning level) must not hide the info events another test captures."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def require_component(path: Path, what: str, how: str) -> Path:
    """Return ``path`` if it exists; otherwise fail in CI and skip elsewhere."""
    if path.exists() or shutil.which(str(path)):
        return path
    message = f"{what} not found at {path}; {how}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI must install it: scripts/test.sh does)")
    pytest.skip(f"{message} (skipped outside CI only)")


@pytest.fixture(scope="session")
def anvil_binary() -> Path:
    return require_component(ANVIL, "anvil", "run `npm ci` in contracts/")


@pytest.fixture(scope="session")
def slither_binary() -> Path:
    return require_component(
        SLITHER,
        "slither",
        "run `python3 -m venv .venv-slither && .venv-slither/bin/pip install --group slither`",
    )


@pytest.fixture(scope="session")
def node_binary() -> Path:
    return require_component(Path("node"), "node", "run `apt-get install nodejs npm`")


@pytest.fixture(scope="session")
def chromium_binary() -> Path:
    return require_component(CHROMIUM, "chromium", "run `apt-get install chromium`")
