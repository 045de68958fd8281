"""Day one on a trial install: ``custobot chain deploy`` from the installed venv against anvil.

The installed command signs with the keystore install.sh created, unlocking it with
the passphrase file install.sh generated. Neither the passphrase nor the key may
show up in the config, the command's output and logs, or the process list.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import signal
import socket
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


@pytest.mark.slow
def test_the_service_command_starts_under_a_notify_socket_and_stops_on_sigterm(
    installed: Installed, tmp_path: Path
) -> None:
    """custobot.service's ExecStart, run as systemd would: READY=1, WATCHDOG=1, SIGTERM."""
    config = installed.etc / "custobot.toml"
    # No GPIO chip here: the same machine on gpiozero's mock pins.
    config.write_text(config.read_text().replace('pin_factory = "lgpio"', 'pin_factory = "mock"'))
    unit = (installed.prefix / "etc/systemd/system/custobot.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert "Type=notify" in unit.splitlines()

    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    passphrase = (installed.etc / "keystore.pass").read_text().strip()
    (credentials / "keystore-passphrase").write_text(passphrase)
    notify = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(notify))
        listener.settimeout(1)
        env = {
            "PATH": "/usr/bin:/bin",
            "NOTIFY_SOCKET": str(notify),
            "WATCHDOG_USEC": "2000000",
            "CREDENTIALS_DIRECTORY": str(credentials),
        }
        process = subprocess.Popen(
            shlex.split(exec_start.removeprefix("ExecStart=")),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=installed.prefix / "var" / "lib" / "custobot",
        )
        try:
            messages: list[str] = []
            deadline = time.monotonic() + 180
            while "WATCHDOG=1" not in messages:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, f"no READY=1 and WATCHDOG=1: {messages}"
                with contextlib.suppress(TimeoutError):
                    messages += listener.recv(4096).decode().splitlines()
            assert "READY=1" in messages
            assert messages.index("READY=1") < messages.index("WATCHDOG=1")
            cmdline = _proc_text(process.pid, "cmdline")
            environ = _proc_text(process.pid, "environ")
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, stdout + stderr
    assert "run --config" in cmdline
    for text in (cmdline, environ, stdout, stderr, config.read_text()):
        assert passphrase not in text
