"""Step 8 of the Pi guide on anvil: ``custobot chain policy|allow|deposit`` as the governor."""

from __future__ import annotations

import pytest
import typer
from eth_account import Account
from typer.testing import CliRunner
from web3.types import Wei

from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.profit_center import Autonomy, FareRules, ProfitCenter
from device.chain_govern import parse_fare_cap
from device.keys import create_keystore
from device.money import parse_money
from device.settings import load_settings
from tests.deploy.test_chain_deploy import (  # the deploy tests' fixtures, shared
    PASSPHRASE,
    USDC,
    Machine,
    _deploy,
    machine,
    rpc,
    shared_keystore,
)

__all__ = ["machine", "rpc", "shared_keystore"]


def _invoke(cli: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.mark.anvil
def test_the_governor_sets_policy_allows_suppliers_and_deposits_the_float(
    cli: typer.Typer, machine: Machine, rpc: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    keys = tmp_path_factory.mktemp("governor")
    keystore = keys / "governor.json"
    governor = create_keystore(keystore, PASSPHRASE)
    w3 = machine.w3
    funder = w3.eth.accounts[0]
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": funder, "to": governor, "value": Wei(10**18)})
    )
    token = w3.eth.contract(
        address=w3.to_checksum_address(machine.token), abi=load_artifact("MockUSDC").abi
    )
    send(w3, token.functions.mint(governor, 500 * USDC), funder)
    owned = Machine(**{**machine.__dict__, "governor": governor})
    code, output = _deploy(cli, owned, rpc)
    assert code == 0, output
    config = str(machine.config)
    sign = ["--config", config, "--governor-keystore", str(keystore)]
    sign += ["--passphrase-file", str(machine.passphrase_file)]

    code, output = _invoke(
        cli, "chain", "policy", "--autonomy", "adaptable", "--approve-above", "25",
        "--per-order-cap", "150.00", "--budget", "1000", "--period-days", "7",
        "--reserve", "20", "--dispute-hours", "24", *sign,
    )  # fmt: skip
    assert code == 0, output
    pc = ProfitCenter(w3, load_settings(machine.config).chain.profit_center or "")
    policy = pc.policy()
    assert policy.autonomy is Autonomy.ADAPTABLE
    assert policy.auto_approval_threshold == 25 * USDC
    assert (policy.per_order_cap, policy.budget_per_period) == (150 * USDC, 1000 * USDC)
    assert (policy.period_length, policy.dispute_window) == (7 * 86_400, 24 * 3600)
    assert "25.00 USDC" in output
    assert "7 days" in output
    assert "24 hours" in output
    assert str(25 * USDC) not in output  # never base units where money is meant
    assert "1x the tariff (no surge)" in output

    # A taxi's fare rules: the cap in words, the emergency on and off; the policy stays.
    code, output = _invoke(cli, "chain", "policy", "--fare-cap", "1.5x", "--emergency", "on", *sign)
    assert code == 0, output
    assert pc.fare_rules() == FareRules(cap_bp=15_000, emergency=True)
    assert pc.policy() == policy
    assert "setFareCap" in output
    assert "setEmergency" in output
    assert "setPolicy" not in output
    assert "1.5x the tariff" in output
    assert "15000" not in output  # basis points are for the contract, not for people
    code, output = _invoke(cli, "chain", "policy", "--emergency", "off", *sign)
    assert code == 0, output
    assert pc.fare_rules() == FareRules(cap_bp=15_000, emergency=False)
    code, output = _invoke(cli, "chain", "policy", "--fare-cap", "9x", *sign)
    assert code == 2
    assert "between 1x (no surge) and 5x" in output

    supplier = Account.create().address
    code, output = _invoke(cli, "chain", "allow", supplier, *sign)
    assert code == 0, output
    assert pc.is_supplier_allowed(supplier)
    assert f"{supplier}: allowed" in output

    code, output = _invoke(cli, "chain", "deposit", "300", *sign)
    assert code == 0, output
    assert pc.treasury() == 300 * USDC
    assert "treasury now 300.00 USDC" in output

    # Without the governor key nothing is sent: the calls are printed for a Safe or wallet.
    code, output = _invoke(cli, "chain", "deposit", "5.5", "--config", config)
    assert code == 0, output
    assert "nothing was sent" in output
    assert "depositRevenue(uint256)" in output
    assert pc.treasury() == 300 * USDC


def test_amounts_are_typed_in_the_token_and_kept_exact() -> None:
    assert parse_money("25", 6) == 25 * USDC
    assert parse_money("0.000001", 6) == 1
    assert parse_money("1.500000", 6) == 1_500_000
    too_big = str(2**256 // USDC + 1)
    for wrong in (
        "1.0000001",
        "-1",
        "abc",
        "nan",
        "sNaN",
        "1e1000000",
        "\u0661\u0662",
        "1_000",
        too_big,
        "",
    ):
        with pytest.raises(ValueError, match="amount"):
            parse_money(wrong, 6)


def test_fare_caps_are_typed_as_factors() -> None:
    assert parse_fare_cap("1.5x") == parse_fare_cap("1.5") == 15_000
    assert parse_fare_cap("1x") == 10_000
    assert parse_fare_cap(" 2.25X ") == 22_500
    for wrong in ("0.9x", "5.0001x", "abc", "1.5xx", "-1", "nan", "1e1", ""):
        with pytest.raises(ValueError, match="fare cap"):
            parse_fare_cap(wrong)
