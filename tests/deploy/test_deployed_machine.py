"""Day one on a trial install, as an operator does it, against anvil.

1. ``custobot chain deploy`` from the installed venv signs with the keystore install.sh
   created, unlocked by the passphrase file install.sh generated, and records the
   ProfitCenter in the installed config.
2. ``custobot.service``'s own ExecStart then starts the machine from that config the
   way systemd runs it: passphrase as a credential, a notify socket, a watchdog, and
   SIGTERM to stop.

Neither the passphrase nor the key may show up in the config, the output and logs,
or any process's command line or environment.
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
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3
from web3.types import Wei

from contracts.anvil import run_anvil
from contracts.deploy import deploy_contract
from contracts.profit_center import ProfitCenter
from device.keys import PASSPHRASE_CREDENTIAL, keystore_address
from device.settings import load_settings
from tests.deploy.conftest import Installed


@pytest.fixture(scope="module")
def rpc(anvil_binary: Path) -> Iterator[str]:
    with run_anvil(anvil_binary) as url:
        yield url


@dataclass(frozen=True)
class Seen:
    """What a process showed the rest of the machine while it ran."""

    cmdline: str
    environ: str
    stdout: str
    stderr: str

    def texts(self) -> tuple[str, ...]:
        return (self.cmdline, self.environ, self.stdout, self.stderr)


def _proc_text(pid: int, name: str) -> str:
    return (Path("/proc") / str(pid) / name).read_bytes().replace(b"\0", b" ").decode()


def _watch(process: subprocess.Popen[str]) -> tuple[str, str]:
    """argv and environment of a running process, as ``ps e`` would show them to root."""
    cmdline = environ = ""
    while not cmdline:  # the kernel fills in the new argv a moment after exec
        assert process.poll() is None, process.communicate()
        cmdline = _proc_text(process.pid, "cmdline")
        environ = _proc_text(process.pid, "environ")
        time.sleep(0.01)
    return cmdline, environ


def _chain_deploy(installed: Installed, rpc: str, w3: Web3) -> Seen:
    agent = keystore_address(installed.etc / "agent-keystore.json")
    funder, governor = list(w3.eth.accounts)[:2]
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": funder, "to": agent, "value": Wei(10**18)})
    )
    token = deploy_contract(w3, "MockUSDC", sender=funder)
    command = [str(installed.custobot), "--log-json", "chain", "deploy", "--rpc", rpc]
    command += ["--token", token, "--governor", governor]
    command += ["--config", str(installed.etc / "custobot.toml")]
    command += ["--passphrase-file", str(installed.etc / "keystore.pass")]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=installed.prefix
    )
    cmdline, environ = _watch(process)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stdout + stderr
    return Seen(cmdline, environ, stdout, stderr)


def _run_service(installed: Installed, credentials: Path, notify: Path) -> Seen:
    """ExecStart of the installed custobot.service, until READY=1 and WATCHDOG=1, then SIGTERM."""
    unit = (installed.prefix / "etc/systemd/system/custobot.service").read_text()
    assert "Type=notify" in unit.splitlines()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    env = {
        "PATH": "/usr/bin:/bin",
        "NOTIFY_SOCKET": str(notify),
        "WATCHDOG_USEC": "2000000",
        "CREDENTIALS_DIRECTORY": str(credentials),
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(notify))
        listener.settimeout(1)
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
            cmdline, environ = _watch(process)
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, stdout + stderr
    return Seen(cmdline, environ, stdout, stderr)


@pytest.mark.slow
@pytest.mark.anvil
def test_day_one_deploy_the_contract_then_start_the_machine_without_leaking_secrets(
    installed: Installed, rpc: str, tmp_path: Path
) -> None:
    etc = installed.etc
    config = etc / "custobot.toml"
    passphrase = (etc / "keystore.pass").read_text().strip()
    key = bytes(
        Account.decrypt(json.loads((etc / "agent-keystore.json").read_text()), passphrase)
    ).hex()
    w3 = Web3(Web3.HTTPProvider(rpc))

    deploy = _chain_deploy(installed, rpc, w3)
    assert "chain deploy" in deploy.cmdline
    chain = load_settings(config).chain
    assert chain.kind == "rpc"
    assert chain.rpc_url == rpc
    assert chain.profit_center is not None
    assert f"ProfitCenter {chain.profit_center}" in deploy.stdout
    agent = keystore_address(etc / "agent-keystore.json")
    assert ProfitCenter(w3, chain.profit_center).agent() == agent
    logged = [json.loads(line) for line in deploy.stderr.splitlines() if line.startswith("{")]
    assert any(event["event"] == "profit_center_deployed" for event in logged)

    # No GPIO chip here: the same machine on gpiozero's mock pins.
    config.write_text(config.read_text().replace('pin_factory = "lgpio"', 'pin_factory = "mock"'))
    credentials = tmp_path / "credentials"  # what LoadCredential= makes for the service
    credentials.mkdir(mode=0o700)
    (credentials / PASSPHRASE_CREDENTIAL).write_bytes((etc / "keystore.pass").read_bytes())
    service = _run_service(installed, credentials, tmp_path / "notify.sock")
    assert f"run --config {config}" in service.cmdline
    # The service unlocked the agent key from its credential, with nothing else to go on.
    events = [json.loads(line) for line in service.stderr.splitlines() if line.startswith("{")]
    assert {"event": "agent_key_loaded", "address": agent} in [
        {"event": e.get("event"), "address": e.get("address")} for e in events
    ]
    assert load_settings(config).chain.profit_center == chain.profit_center

    for secret in (passphrase, key, "0x" + key):
        assert secret not in config.read_text()
        for text in (*deploy.texts(), *service.texts()):
            assert secret not in text
