"""Fixtures of the loop tests: one anvil node per test, started at the world's genesis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.anvil import run_anvil
from tests.device.loop.world import GENESIS


@pytest.fixture
def anvil_url(anvil_binary: Path) -> Iterator[str]:
    """A fresh anvil whose first block is dated before the simulated world starts."""
    with run_anvil(anvil_binary, extra_args=("--timestamp", str(int(GENESIS.timestamp())))) as url:
        yield url
