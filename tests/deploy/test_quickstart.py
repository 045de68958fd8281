"""The README's first command on a fresh clone, as root on a machine without ``sudo``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO

README_FIRST = "bash scripts/install.sh && .venv/bin/custobot demo"


def _no_sudo_path(tmp_path: Path) -> str:
    """PATH with a ``sudo`` that fails as on a machine without it, ahead of any real one."""
    shims = tmp_path / "shims"
    shims.mkdir()
    sudo = shims / "sudo"
    sudo.write_text('#!/bin/sh\necho "bash: sudo: command not found" >&2\nexit 127\n')
    sudo.chmod(0o755)
    return f"{shims}:{os.environ['PATH']}"


@pytest.mark.slow
def test_readme_first_command_installs_as_root_without_sudo(tmp_path: Path) -> None:
    assert README_FIRST in (REPO / "README.md").read_text()
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("this test runs the install as root; CI runs as root")
        pytest.skip("needs root (skipped outside CI only)")
    clone = tmp_path / "custobot"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    env = {**os.environ, "PATH": _no_sudo_path(tmp_path)}
    env.pop("VIRTUAL_ENV", None)
    # The apt part is skipped (python3-venv is there); pip installs from its local cache.
    result = subprocess.run(
        ["bash", "scripts/install.sh"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "sudo" not in result.stderr
    assert "installed: custobot 0.1.0" in result.stdout
    check = subprocess.run(
        [str(clone / ".venv" / "bin" / "custobot"), "check"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "demo-snack-01" in check.stdout
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
    )
    assert dirty.stdout == ""  # the install leaves the clone as it was
