"""Day one on a trial install: ``custobot chain deploy`` from the installed venv against anvil.

The installed command signs with the keystore install.sh created, unlocking it with
the passphrase file install.sh generated. Neither the passphrase nor the key may
show up in the config, the command's output and logs, or the process list.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3
from web3.types import Wei

from contracts.anvil import run_anvil
from contracts.deploy import deploy_contract
from contracts.profit_center import ProfitCenter
from device.keys import keystore_address
from device.settings import load_settings
from tests.deploy.conftest import Installed


@pytest.fixture(scope="module")
def rpc(anvil_binary: Path) -> Iterator[str]:
    with run_anvil(anvil_binary) as url:
        yield url


def _proc_text(pid: int, name: str) -> str:
    return (Path("/proc") / str(pid) / name).read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.slow
@pytest.mark.anvil
def test_installed_chain_deploy_records_the_contract_and_leaks_no_secret(
    installed: Installed, rpc: str
) -> None:
    etc = installed.etc
    config = etc / "custobot.toml"
    passphrase = (etc / "keystore.pass").read_text().strip()
    keystore = json.loads((etc / "agent-keystore.json").read_text())
    key = bytes(Account.decrypt(keystore, passphrase)).hex()
    agent = keystore_address(etc / "agent-keystore.json")

    w3 = Web3(Web3.HTTPProvider(rpc))
    funder, governor = list(w3.eth.accounts)[:2]
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": funder, "to": agent, "value": Wei(10**18)})
    )
    token = deploy_contract(w3, "MockUSDC", sender=funder)

    command = [str(installed.custobot), "--log-json", "chain", "deploy", "--rpc", rpc]
    command += ["--token", token, "--governor", governor, "--config", str(config)]
    command += ["--passphrase-file", str(etc / "keystore.pass")]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=installed.prefix
    )
    # Read while it runs (its imports and the scrypt unlock take seconds); the kernel
    # fills in the new argv a moment after exec.
    cmdline = environ = ""
    while not cmdline and process.poll() is None:
        cmdline = _proc_text(process.pid, "cmdline")
        environ = _proc_text(process.pid, "environ")
        time.sleep(0.01)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stdout + stderr
    assert "chain deploy" in cmdline

    chain = load_settings(config).chain
    assert chain.kind == "rpc"
    assert chain.profit_center is not None
    assert f"ProfitCenter {chain.profit_center}" in stdout
    assert ProfitCenter(w3, chain.profit_center).agent() == agent
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(event["event"] == "profit_center_deployed" for event in logged)

    for secret in (passphrase, key, "0x" + key):
        assert secret not in cmdline
        assert secret not in environ
        assert secret not in stdout
        assert secret not in stderr
        assert secret not in config.read_text()
