"""One core, two kinds: the profit-centre core imports neither kind, and neither kind the other.

The core is everything in ``device/`` but the kinds (``device/vending/``, ``device/taxi/``)
and the CLI that puts them together (``device/cli.py``, ``device/__main__.py``), plus
``dashboard/``, ``supplier/`` and ``contracts/``. Every import counts, also one inside a
function: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KINDS = ("device.vending", "device.taxi")
CLI = ("device.cli", "device.__main__")
CORE_PACKAGES = ("device", "dashboard", "supplier", "contracts")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(module: str, source: str, is_package: bool = False) -> set[str]:
    """Every module ``source`` imports (relative imports resolved against ``module``)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def kind_of(module: str) -> str | None:
    return next((k for k in KINDS if module == k or module.startswith(k + ".")), None)


def offences() -> list[str]:
    """``module imports target``, for every import across the boundary."""
    found = []
    for package in CORE_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            module = module_name(path)
            if module in CLI:
                continue
            own = kind_of(module)
            names = imported(module, path.read_text(), path.name == "__init__.py")
            for target in sorted(names):
                other = kind_of(target)
                if other is not None and other != own:
                    found.append(f"{module} imports {target}")
    return found


def test_the_core_imports_no_kind_and_no_kind_the_other() -> None:
    assert offences() == []


@pytest.mark.parametrize(
    ("module", "source", "is_package"),
    [
        ("device.procurement.cycle", "from device.vending.hardware import poller", False),
        ("device.procurement.cycle", "def f():\n    import device.taxi.fares\n", False),
        ("device.procurement.cycle", "from ..vending.vend import VendFlow", False),
        ("device.procurement", "from ..taxi import charging", True),
        ("dashboard.machine", "from device import vending", False),
    ],
)
def test_an_import_across_the_boundary_is_seen(module: str, source: str, is_package: bool) -> None:
    names = imported(module, source, is_package)
    assert any(kind_of(name) for name in names), names


def test_the_kinds_sit_side_by_side() -> None:
    for kind in KINDS:
        assert (REPO / kind.replace(".", "/") / "__init__.py").is_file()
