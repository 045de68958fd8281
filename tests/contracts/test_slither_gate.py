"""The Slither gate (contracts/slither_gate.py) and its solc (contracts/solc-wrapper.js).

The gate runs real Slither on a tiny contract with known flaws (a few seconds a run), so
these tests show what CI does on a change: a finding nobody triaged fails the build.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from contracts.artifacts import load_artifact
from contracts.slither_gate import CONTRACTS, WRAPPER, Entry, Finding, main, problems, to_findings

LEAKY = """// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;
{padding}
contract Leaky {{
    address public owner = msg.sender;

    function sweep(address payable to) external {{
        require(tx.origin == owner, "owner");
        to.transfer(address(this).balance);
    }}
}}
"""
# What Slither 0.11 finds in LEAKY, keyed as the gate keys them (no line numbers).
LEAKY_IDS = {
    "arbitrary-send-eth:Leaky.sweep(address)",
    "immutable-states:Leaky.owner",
    "missing-zero-check:Leaky.sweep(address).to",
    "tx-origin:Leaky.sweep(address)",
}


@pytest.fixture
def leaky(tmp_path: Path, slither_binary: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory holding Leaky.sol; the gate uses the suite's Slither."""
    monkeypatch.setenv("SLITHER", str(slither_binary))
    target = tmp_path / "src"
    target.mkdir()
    (target / "Leaky.sol").write_text(LEAKY.format(padding=""))
    return target


def write_baseline(path: Path, ids: set[str]) -> Path:
    rows = [{"id": i, "impact": "", "reason": "accepted for the test"} for i in sorted(ids)]
    path.write_text(json.dumps(rows))
    return path


def run_gate(target: Path, baseline: Path, *extra: str) -> int:
    return main(["--target", str(target), "--baseline", str(baseline), *extra])


def test_untriaged_finding_fails_the_gate_naming_it(
    leaky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = write_baseline(tmp_path / "b.json", LEAKY_IDS - {"tx-origin:Leaky.sweep(address)"})
    assert run_gate(leaky, baseline) == 1
    err = capsys.readouterr().err
    assert "new finding tx-origin:Leaky.sweep(address) (Medium)" in err
    assert err.count("new finding") == 1


def test_triaged_findings_pass_after_code_moves(
    leaky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ids name detector and element, not lines: shifting the code changes nothing."""
    (leaky / "Leaky.sol").write_text(LEAKY.format(padding="\n// moved down\n" * 7))
    baseline = write_baseline(tmp_path / "b.json", LEAKY_IDS)
    assert run_gate(leaky, baseline) == 0, capsys.readouterr().err
    assert "4 findings, all triaged" in capsys.readouterr().out


def test_update_adds_new_findings_without_reason_and_drops_stale(
    leaky: Path, tmp_path: Path
) -> None:
    path = tmp_path / "b.json"
    path.write_text(
        json.dumps(
            [
                {"id": "tx-origin:Leaky.sweep(address)", "impact": "Medium", "reason": "kept"},
                {"id": "reentrancy-eth:Gone.f()", "impact": "High", "reason": "fixed since"},
            ]
        )
    )
    assert run_gate(leaky, path, "--update") == 0
    rows = {row["id"]: row for row in json.loads(path.read_text())}
    assert set(rows) == LEAKY_IDS
    assert rows["tx-origin:Leaky.sweep(address)"]["reason"] == "kept"
    assert rows["arbitrary-send-eth:Leaky.sweep(address)"] == {
        "id": "arbitrary-send-eth:Leaky.sweep(address)",
        "impact": "High",
        "reason": "",
    }


def test_entry_without_reason_and_stale_entry_fail() -> None:
    finding = Finding("tx-origin:Leaky.sweep(address)", "Medium", "uses tx.origin")
    baseline = {
        finding.id: Entry(finding.id, "Medium", " "),
        "timestamp:Gone.f()": Entry("timestamp:Gone.f()", "Low", "was fine"),
    }
    assert problems({finding.id: finding}, baseline) == [
        "baseline entry tx-origin:Leaky.sweep(address) has no reason",
        "stale baseline entry timestamp:Gone.f() (no longer found)",
    ]


def test_two_findings_on_one_function_get_distinct_ids() -> None:
    function = {
        "type": "function",
        "name": "pay",
        "type_specific_fields": {
            "signature": "pay(address[])",
            "parent": {"type": "contract", "name": "C"},
        },
    }

    def call(text: str) -> dict[str, object]:
        node = {"type": "node", "name": text, "type_specific_fields": {"parent": function}}
        return {"check": "calls-loop", "impact": "Low", "elements": [function, node]}

    assert set(to_findings([call("a.pay()"), call("b.pay()")])) == {
        "calls-loop:C.pay(address[]) [a.pay()]",
        "calls-loop:C.pay(address[]) [b.pay()]",
    }


def test_wrapper_compiles_with_build_js_settings(node_binary: Path) -> None:
    """Whatever crytic-compile asks for (here: optimizer off), the wrapper compiles as
    build.js does, so Slither sees the code that is deployed: same bytecode as the artifact."""
    request = {
        "language": "Solidity",
        "sources": {"src/MockUSDC.sol": {"urls": ["src/MockUSDC.sol"]}},
        "settings": {
            "optimizer": {"enabled": False},
            "outputSelection": {"*": {"*": ["evm.deployedBytecode.object"]}},
        },
    }
    done = subprocess.run(
        [str(node_binary), str(WRAPPER), "--standard-json", "--allow-paths", str(CONTRACTS)],
        cwd=CONTRACTS,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    compiled = json.loads(done.stdout)["contracts"]["src/MockUSDC.sol"]["MockUSDC"]
    deployed = "0x" + compiled["evm"]["deployedBytecode"]["object"]
    assert deployed == load_artifact("MockUSDC").deployed_bytecode
