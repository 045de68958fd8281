"""The committed build artifacts (ABI + bytecode) of the Solidity contracts.

Artifacts are produced by ``node contracts/build.js`` and committed, so a device
never needs node or solc: this module only reads JSON next to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

BUILD_DIR = Path(__file__).resolve().parent / "build"


@dataclass(frozen=True, slots=True)
class Artifact:
    """One compiled contract: its ABI, creation bytecode and runtime bytecode (hex, 0x-prefixed)."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def load_artifact(name: str) -> Artifact:
    """Read ``contracts/build/<name>.json``; raises ``FileNotFoundError`` for an unknown name."""
    path = BUILD_DIR / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return Artifact(
        name=name,
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
    )


def artifact_names() -> list[str]:
    """Names of every committed artifact, sorted."""
    return sorted(path.stem for path in BUILD_DIR.glob("*.json"))
