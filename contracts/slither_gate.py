"""Slither gate: every finding on the production contracts is fixed or triaged, and CI fails on a new one.

    .venv/bin/python -m contracts.slither_gate            # check against slither-baseline.json
    .venv/bin/python -m contracts.slither_gate --update   # add new findings (empty reason), drop stale

Slither analyses ``contracts/src/*.sol`` (not ``src/test/``, not OpenZeppelin) compiled
by the pinned solcjs through ``solc-wrapper.js`` with build.js's settings, offline.
Findings are keyed by detector and element (``check:Contract.function(types)``), never by
line, so moving code does not churn the baseline. Slither lives in its own venv
(``.venv-slither``, the ``slither`` dependency group): it needs web3 < 8, custobot web3 >= 8.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTRACTS = Path(__file__).resolve().parent
REPO = CONTRACTS.parent
BASELINE = CONTRACTS / "slither-baseline.json"
WRAPPER = CONTRACTS / "solc-wrapper.js"
SLITHER_VENV_BIN = REPO / ".venv-slither" / "bin" / "slither"
TIMEOUT_SECONDS = 300


class GateError(Exception):
    """Slither could not run or the baseline file is malformed (not a finding)."""


@dataclass(frozen=True)
class Finding:
    """One Slither result, reduced to what the gate compares and shows."""

    id: str
    impact: str
    description: str


@dataclass(frozen=True)
class Entry:
    """One triaged finding in the baseline: why it is accepted."""

    id: str
    impact: str
    reason: str


def find_slither() -> Path:
    """The Slither command: ``$SLITHER``, then the repo's ``.venv-slither``, then PATH."""
    configured = os.environ.get("SLITHER")
    if configured:
        return Path(configured)
    if SLITHER_VENV_BIN.exists():
        return SLITHER_VENV_BIN
    found = shutil.which("slither")
    if found:
        return Path(found)
    raise GateError(
        "slither not found: create .venv-slither (see contracts/README.md, Static analysis) "
        "or set $SLITHER"
    )


def run_slither(slither: Path, target: Path) -> list[dict[str, Any]]:
    """Run Slither on the ``.sol`` files directly in ``target``; return its detector results."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "slither.json"
        command = [
            str(slither),
            str(target),
            "--solc-standard-json",
            "--solc",
            str(WRAPPER),
            "--filter-paths",
            "node_modules",
            "--json",
            str(report),
        ]
        # cwd=contracts/: crytic-compile finds @openzeppelin/... under ./node_modules.
        try:
            done = subprocess.run(
                command,
                cwd=CONTRACTS,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise GateError(f"could not run {slither}: {error}") from error
        output = json.loads(report.read_text()) if report.exists() else None
    if not output or not output.get("success"):
        reported = output.get("error") if output else None
        raise GateError(
            f"slither failed (exit {done.returncode}): {reported or ''}\n{done.stderr[-4000:]}"
        )
    results: list[dict[str, Any]] = output.get("results", {}).get("detectors", [])
    return results


def _fields(element: Mapping[str, Any]) -> Mapping[str, Any]:
    fields: Mapping[str, Any] = element.get("type_specific_fields", {})
    return fields


def element_name(element: Mapping[str, Any]) -> str:
    """A line-free name: ``Contract``, ``Contract.f(uint256)``, ``Contract.f(uint256).local``."""
    kind, name = element.get("type"), str(element.get("name", ""))
    if kind == "function":
        name = str(_fields(element).get("signature", name))
    elif kind == "node":
        # A statement: its function, then its source text.
        return f"{element_name(_fields(element)['parent'])}: {name}"
    parent = _fields(element).get("parent")
    if kind == "contract" or not parent:
        return name
    return f"{element_name(parent)}.{name}"


def to_findings(results: Iterable[Mapping[str, Any]]) -> dict[str, Finding]:
    """Key each result by detector and first element; results that share that key (two
    calls in one function) also name their statements, then their order, to stay apart."""
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for result in results:
        elements = result.get("elements") or [{"type": "contract", "name": "?"}]
        grouped[f"{result['check']}:{element_name(elements[0])}"].append(result)
    findings: dict[str, Finding] = {}
    for key, group in grouped.items():
        for result in group:
            finding_id = key
            if len(group) > 1:
                statements = [e["name"] for e in result["elements"][1:] if e.get("type") == "node"]
                finding_id = f"{key} [{'; '.join(statements)}]"
            while finding_id in findings:
                finding_id += "+"
            description = str(result.get("description", "")).strip().splitlines()
            findings[finding_id] = Finding(
                finding_id, str(result.get("impact", "")), description[0] if description else ""
            )
    return findings


def load_baseline(path: Path) -> dict[str, Entry]:
    """Read the baseline; a duplicated id is an error (a later entry would hide an earlier)."""
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
        entries = [Entry(str(e["id"]), str(e.get("impact", "")), str(e["reason"])) for e in raw]
    except (ValueError, KeyError, TypeError) as error:
        raise GateError(f"{path} is not a list of {{id, impact, reason}}: {error}") from error
    baseline: dict[str, Entry] = {}
    for entry in entries:
        if entry.id in baseline:
            raise GateError(f"{path}: {entry.id!r} is listed twice")
        baseline[entry.id] = entry
    return baseline


def save_baseline(path: Path, baseline: Mapping[str, Entry]) -> None:
    """Write the baseline sorted by id, one entry per finding, for readable diffs."""
    rows = [
        {"id": e.id, "impact": e.impact, "reason": e.reason}
        for e in sorted(baseline.values(), key=lambda e: e.id)
    ]
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")


def problems(findings: Mapping[str, Finding], baseline: Mapping[str, Entry]) -> list[str]:
    """What fails the gate: a finding not in the baseline, an entry without a reason, and a
    stale entry (its finding is gone: kept, it would silently accept the bug coming back)."""
    found = [
        f"new finding {f.id} ({f.impact}): {f.description}"
        for f in findings.values()
        if f.id not in baseline
    ]
    unexplained = [
        f"baseline entry {e.id} has no reason" for e in baseline.values() if not e.reason.strip()
    ]
    stale = [f"stale baseline entry {e} (no longer found)" for e in baseline if e not in findings]
    return sorted(found) + sorted(unexplained) + sorted(stale)


def updated(findings: Mapping[str, Finding], baseline: Mapping[str, Entry]) -> dict[str, Entry]:
    """The baseline for today's findings: known reasons kept, new ones empty, stale ones gone."""
    return {
        f.id: Entry(f.id, f.impact, baseline[f.id].reason if f.id in baseline else "")
        for f in findings.values()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contracts.slither_gate", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--update", action="store_true", help="rewrite the baseline: add new, drop stale"
    )
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    parser.add_argument(
        "--target", type=Path, default=CONTRACTS / "src", help="directory of .sol files"
    )
    args = parser.parse_args(argv)
    try:
        baseline = load_baseline(args.baseline)
        findings = to_findings(run_slither(find_slither(), args.target.resolve()))
    except GateError as error:
        sys.stderr.write(f"slither gate: {error}\n")
        return 2
    stale = sorted(set(baseline) - set(findings))
    if args.update:
        new = updated(findings, baseline)
        save_baseline(args.baseline, new)
        empty = sorted(e.id for e in new.values() if not e.reason.strip())
        sys.stdout.write(
            f"wrote {len(new)} entries to {args.baseline}; dropped {len(stale)} stale"
            + "".join(f"\n  dropped {s}" for s in stale)
            + "".join(f"\n  needs a reason: {e}" for e in empty)
            + "\n"
        )
        return 0
    failures = problems(findings, baseline)
    if failures:
        sys.stderr.write("".join(f"slither gate: {p}\n" for p in failures))
        sys.stderr.write(
            "fix the contract, or run `.venv/bin/python -m contracts.slither_gate --update` "
            f"and give each new entry in {args.baseline.name} a one-line reason\n"
        )
        return 1
    sys.stdout.write(f"slither: {len(findings)} findings, all triaged in {args.baseline.name}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
