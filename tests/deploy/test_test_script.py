"""``scripts/test.sh`` leaves a clean clone clean: its npm step must not rewrite the lock."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import require_component
from tests.deploy.conftest import REPO

CONTRACTS = REPO / "contracts"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    ).stdout


def test_the_npm_step_of_the_test_script_keeps_the_lock_file_as_committed(
    tmp_path: Path,
) -> None:
    npm = shutil.which("npm")
    require_component(Path(npm or "/usr/bin/npm"), "npm", "apt-get install npm")
    modules = require_component(CONTRACTS / "node_modules", "contracts/node_modules", "npm install")
    found = re.search(
        r"\(cd contracts && (npm install[^)]*)\)", (REPO / "scripts/test.sh").read_text()
    )
    assert found, "scripts/test.sh has no npm install step"
    work = tmp_path / "contracts"
    work.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy(CONTRACTS / name, work / name)
    _git(work, "init", "-q")
    _git(work, "add", "package.json", "package-lock.json")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "as committed")
    shutil.copytree(modules, work / "node_modules", symlinks=True)  # up to date: no download
    subprocess.run(found.group(1).split(), cwd=work, check=True, timeout=300)
    assert _git(work, "status", "--porcelain", "--untracked-files=no") == ""
