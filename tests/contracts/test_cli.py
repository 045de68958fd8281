"""``custobot chain deploy|status`` against a real anvil node."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from contracts.cli import chain_app
from contracts.deploy import DEFAULT_POLICY

GOVERNOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
AGENT = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def test_deploy_then_status(anvil_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUSTOBOT_DEPLOYER_KEY", raising=False)
    runner = CliRunner()
    deployed = runner.invoke(
        chain_app, ["deploy", "--rpc-url", anvil_url, "--governor", GOVERNOR, "--agent", AGENT]
    )
    assert deployed.exit_code == 0, deployed.output
    addresses = json.loads(deployed.output)
    shown = runner.invoke(
        chain_app, ["status", "--rpc-url", anvil_url, "--profit-center", addresses["profit_center"]]
    )
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output)
    assert (report["governor"], report["agent"], report["token"]) == (
        GOVERNOR,
        AGENT,
        addresses["token"],
    )
    assert report["policy"]["autonomy"] == "bound"
    assert report["policy"]["budget_per_period"] == DEFAULT_POLICY.budget_per_period
    assert report["fare_rules"] == {"cap_bp": 10_000, "emergency": False}
    assert report["books"]["treasury"] == 0


def test_bad_input_is_refused(anvil_url: str) -> None:
    runner = CliRunner()
    bad_agent = runner.invoke(
        chain_app, ["deploy", "--rpc-url", anvil_url, "--governor", GOVERNOR, "--agent", "0x12"]
    )
    assert bad_agent.exit_code != 0
    assert "not an address" in bad_agent.output
    no_node = runner.invoke(
        chain_app,
        ["status", "--rpc-url", "http://127.0.0.1:9", "--profit-center", GOVERNOR],
    )
    assert no_node.exit_code != 0
    assert "no JSON-RPC node" in no_node.output
