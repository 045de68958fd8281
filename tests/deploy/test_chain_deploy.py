"""``custobot chain deploy`` against anvil, and the line-by-line ``[chain]`` config update."""

from __future__ import annotations

import shutil
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from eth_account import Account
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from typer.testing import CliRunner
from web3 import Web3
from web3.types import Wei

from contracts.anvil import run_anvil
from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import deploy_contract
from contracts.profit_center import OrderStatus, ProfitCenter
from contracts.quote import Quote, sign_quote
from device.chain_deploy import redact_url, render_chain_table
from device.errors import ConfigError
from device.keys import (
    PASSPHRASE_CREDENTIAL,
    create_keystore,
    keystore_address,
    load_agent_account,
)
from device.procurement.models import IntentState
from device.procurement.outbox import Outbox
from device.settings import load_settings
from device.store.db import open_store

PASSPHRASE = "anvil test passphrase"
USDC = 1_000_000


@pytest.fixture(scope="module")
def rpc(anvil_binary: Path) -> Iterator[str]:
    with run_anvil(anvil_binary) as url:
        yield url


@dataclass(frozen=True)
class Machine:
    config: Path
    keystore: Path
    passphrase_file: Path
    agent: ChecksumAddress
    token: str
    governor: str
    w3: Web3


@pytest.fixture(scope="module")
def shared_keystore(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One agent key for the module (scrypt makes each new one cost a second)."""
    path = tmp_path_factory.mktemp("keys") / "agent.json"
    create_keystore(path, PASSPHRASE)
    return path


def _machine(
    tmp_path: Path, machine_config: Path, rpc: str, keystore_source: Path | None
) -> Machine:
    """The example machine, an agent key (fresh and unfunded when no source), a token."""
    w3 = Web3(Web3.HTTPProvider(rpc))
    keystore = tmp_path / "agent.json"
    if keystore_source is None:
        agent = to_checksum_address(create_keystore(keystore, PASSPHRASE))
    else:
        shutil.copy2(keystore_source, keystore)
        agent = to_checksum_address(keystore_address(keystore))
    passphrase_file = tmp_path / "keystore.pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    funder, governor = list(w3.eth.accounts)[:2]
    if keystore_source is not None:
        tx = w3.eth.send_transaction({"from": funder, "to": agent, "value": Wei(10**18)})
        w3.eth.wait_for_transaction_receipt(tx)
    token = deploy_contract(w3, "MockUSDC", sender=funder)
    text = machine_config.read_text().replace(
        'kind = "eth-tester"', f'kind = "eth-tester"\nkeystore = "{keystore}"'
    )
    machine_config.write_text(text)
    return Machine(machine_config, keystore, passphrase_file, agent, token, governor, w3)


@pytest.fixture
def machine(tmp_path: Path, machine_config: Path, rpc: str, shared_keystore: Path) -> Machine:
    return _machine(tmp_path, machine_config, rpc, shared_keystore)


def _deploy(cli: typer.Typer, machine: Machine, rpc: str, *extra: str) -> tuple[int, str]:
    args = ["chain", "deploy", "--rpc", rpc, "--token", machine.token]
    args += ["--governor", machine.governor, "--config", str(machine.config)]
    args += ["--passphrase-file", str(machine.passphrase_file), *extra]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.output


@pytest.mark.anvil
def test_deploy_records_the_profit_center_and_settings_load_it(
    cli: typer.Typer, machine: Machine, rpc: str
) -> None:
    before = machine.config.read_text()
    code, output = _deploy(cli, machine, rpc)
    assert code == 0, output

    settings = load_settings(machine.config)
    chain = settings.chain
    assert chain.kind == "rpc"
    assert chain.rpc_url == rpc
    assert chain.chain_id == 31337
    assert chain.token == machine.token
    assert chain.token_decimals == 6
    assert chain.keystore == machine.keystore
    assert chain.profit_center is not None
    assert f"ProfitCenter {chain.profit_center} on chain 31337" in output

    center = ProfitCenter(machine.w3, chain.profit_center)
    assert center.governor() == machine.governor
    assert center.agent() == machine.agent
    assert center.token() == machine.token

    # Everything outside [chain] is kept byte for byte, comments included.
    after = machine.config.read_text()
    head = before.split("[chain]")[0]
    assert after.startswith(head)
    assert "# one pulse = 0.50 USDC" in after
    assert after.split("[dashboard]")[1] == before.split("[dashboard]")[1]


@pytest.mark.anvil
def test_a_second_deploy_needs_replace(cli: typer.Typer, machine: Machine, rpc: str) -> None:
    assert _deploy(cli, machine, rpc)[0] == 0
    recorded = machine.config.read_bytes()
    first = load_settings(machine.config).chain.profit_center

    code, output = _deploy(cli, machine, rpc)
    assert code == 1
    assert f"already names ProfitCenter {first}" in output
    assert machine.config.read_bytes() == recorded

    code, output = _deploy(cli, machine, rpc, "--replace")
    assert code == 0, output
    second = load_settings(machine.config).chain.profit_center
    assert second not in (None, first)


@pytest.mark.anvil
def test_a_token_without_code_is_refused_before_anything_is_sent(
    cli: typer.Typer, machine: Machine, rpc: str
) -> None:
    recorded = machine.config.read_bytes()
    nonce = machine.w3.eth.get_transaction_count(machine.agent)
    wrong = Machine(**{**machine.__dict__, "token": machine.governor})
    code, output = _deploy(cli, wrong, rpc)
    assert code == 1
    assert f"no contract at token address {machine.governor} on chain 31337" in output
    assert machine.config.read_bytes() == recorded
    assert machine.w3.eth.get_transaction_count(machine.agent) == nonce


@pytest.mark.anvil
def test_an_unfunded_agent_is_told_to_fund_itself(
    cli: typer.Typer, tmp_path: Path, machine_config: Path, rpc: str
) -> None:
    machine = _machine(tmp_path, machine_config, rpc, None)
    recorded = machine.config.read_bytes()
    code, output = _deploy(cli, machine, rpc)
    assert code == 1
    assert f"agent {machine.agent} has no native gas on chain 31337" in output
    assert machine.config.read_bytes() == recorded


def test_an_unreachable_rpc_is_a_clear_error(
    cli: typer.Typer, tmp_path: Path, machine_config: Path, shared_keystore: Path
) -> None:
    keystore = shared_keystore
    (tmp_path / "pass").write_text(PASSPHRASE)
    recorded = machine_config.read_bytes()
    args = ["chain", "deploy", "--rpc", "http://127.0.0.1:9/v3/SECRETKEY"]
    args += ["--token", "0x" + "11" * 20, "--governor", "0x" + "22" * 20]
    args += ["--config", str(machine_config), "--keystore", str(keystore)]
    args += ["--passphrase-file", str(tmp_path / "pass")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "cannot reach the RPC node at http://127.0.0.1:9/…" in result.output
    assert "SECRETKEY" not in result.output
    assert machine_config.read_bytes() == recorded


def test_a_bad_governor_address_is_refused(
    cli: typer.Typer, tmp_path: Path, machine_config: Path, shared_keystore: Path
) -> None:
    keystore = shared_keystore
    (tmp_path / "pass").write_text(PASSPHRASE)
    args = ["chain", "deploy", "--rpc", "http://127.0.0.1:9", "--token", "0x" + "11" * 20]
    args += ["--governor", "0xnothex", "--config", str(machine_config)]
    args += ["--keystore", str(keystore), "--passphrase-file", str(tmp_path / "pass")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "governor '0xnothex' is not an address" in result.output


# --- the [chain] table update, without a chain --------------------------------------------

VALUES: dict[str, str | int] = {"kind": "rpc", "chain_id": 10, "profit_center": "0xAbC"}


def test_existing_keys_are_replaced_and_new_ones_added_inside_the_table() -> None:
    text = (
        'device_id = "m"  # the machine\n\n'
        "[chain]\n"
        'kind = "eth-tester"   # embedded\n'
        "token_decimals = 6\n"
        "\n# suppliers below\n"
        "[[suppliers]]\n"
        'name = "a"\n'
        'url = "http://a"\n'
    )
    result = render_chain_table(text, VALUES)
    assert result == (
        'device_id = "m"  # the machine\n\n'
        "[chain]\n"
        'kind = "rpc"\n'
        "token_decimals = 6\n"
        "chain_id = 10\n"
        'profit_center = "0xAbC"\n'
        "\n# suppliers below\n"
        "[[suppliers]]\n"
        'name = "a"\n'
        'url = "http://a"\n'
    )


def test_a_missing_chain_table_is_appended() -> None:
    result = render_chain_table('device_id = "m"', VALUES)
    assert tomllib.loads(result) == {"device_id": "m", "chain": VALUES}
    assert result.startswith('device_id = "m"\n')


def test_an_empty_chain_table_at_the_end_of_the_file_is_filled() -> None:
    result = render_chain_table('device_id = "m"\n[chain]', VALUES)
    assert (
        result == 'device_id = "m"\n[chain]\nkind = "rpc"\nchain_id = 10\nprofit_center = "0xAbC"\n'
    )


def test_strings_are_escaped_as_toml() -> None:
    tricky = 'C:\\keys\\"agent".json'
    result = render_chain_table("[chain]\n", {"keystore": tricky})
    assert tomllib.loads(result)["chain"]["keystore"] == tricky


def test_an_inline_chain_table_is_not_rewritten() -> None:
    with pytest.raises(ConfigError, match="not a \\[chain\\] table section"):
        render_chain_table('chain = { kind = "eth-tester" }\n', VALUES)


def test_a_change_that_would_leak_outside_chain_is_refused() -> None:
    # The [chain] header sits inside a multi-line string: a line edit would corrupt it.
    text = 'note = """\n[chain]\nkind = "x"\n"""\n'
    with pytest.raises(ConfigError, match="edit it by hand"):
        render_chain_table(text, VALUES)


def test_rpc_urls_are_shown_without_their_api_key() -> None:
    assert redact_url("https://mainnet.infura.io/v3/abc123") == "https://mainnet.infura.io/…"
    assert redact_url("https://user:pw@rpc.example:8545") == "https://rpc.example:8545"
    assert redact_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"


@pytest.mark.slow
@pytest.mark.anvil
def test_the_machine_places_an_order_from_the_written_config(
    cli: typer.Typer, machine: Machine, rpc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the service does at start: settings, agent key from its credential, chain, outbox."""
    assert _deploy(cli, machine, rpc)[0] == 0
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / PASSPHRASE_CREDENTIAL).write_text(PASSPHRASE)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))

    settings = load_settings(machine.config)
    assert settings.chain.rpc_url is not None
    assert settings.chain.keystore is not None
    assert settings.chain.profit_center is not None
    assert settings.chain.token is not None
    agent = load_agent_account(settings.chain.keystore)
    w3 = Web3(Web3.HTTPProvider(settings.chain.rpc_url))
    assert w3.eth.chain_id == settings.chain.chain_id
    center = ProfitCenter(w3, settings.chain.profit_center)
    assert center.agent() == agent.address

    # The owners fund the treasury and allow a supplier (their side, not the machine's).
    usdc = w3.eth.contract(
        address=to_checksum_address(settings.chain.token), abi=load_artifact("MockUSDC").abi
    )
    send(w3, usdc.functions.mint(machine.governor, 200 * USDC), machine.governor)
    send(w3, usdc.functions.approve(center.address, 200 * USDC), machine.governor)
    center.deposit_revenue(200 * USDC, sender=machine.governor)
    supplier = Account.create()
    center.set_supplier(supplier.address, True, sender=machine.governor)

    now = int(w3.eth.get_block("latest")["timestamp"])
    quote = Quote(
        supplier=supplier.address,
        buyer=center.address,
        token=settings.chain.token,
        amount=40 * USDC,
        items_hash=b"\x11" * 32,
        deliver_by=now + 86_400,
        expiry=now + 3_600,
        nonce=1,
    )
    order = center.order_id(supplier.address, 1)
    payload = {
        "order_id": "0x" + order.hex(),
        "quote": {
            "supplier": quote.supplier,
            "buyer": quote.buyer,
            "token": quote.token,
            "amount": quote.amount,
            "items_hash": quote.items_hash.hex(),
            "deliver_by": quote.deliver_by,
            "expiry": quote.expiry,
            "nonce": quote.nonce,
        },
        "signature": sign_quote(quote, w3.eth.chain_id, supplier.key).hex(),
    }
    store = open_store(settings.database)
    try:
        outbox = Outbox(store, w3, center, agent)
        outbox.enqueue("place:1", "place_order", payload, datetime.now(UTC))
        # The agent drains on its schedule; a sent transaction may need a second look.
        deadline = time.monotonic() + 60
        while outbox.depth() and time.monotonic() < deadline:
            outbox.drain(datetime.now(UTC))
            time.sleep(0.1)
        intent = outbox.get("place:1")
    finally:
        store.close()

    assert intent is not None
    assert intent.state is IntentState.MINED
    placed = center.order(order)
    # A fresh ProfitCenter starts `bound`: the order is on-chain, reserved, awaiting the owners.
    assert placed.status is OrderStatus.AWAITING_APPROVAL
    assert placed.amount == 40 * USDC
    assert center.reserved() == 40 * USDC
