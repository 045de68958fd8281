"""``custobot supplier ...`` commands, run as the operator would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from typer.testing import CliRunner

from supplier.cli import supplier_app
from supplier.keys import PASSPHRASE_ENV, create_keystore
from supplier.store import ObservedOrder, OrderState, SupplierStore

EXAMPLE = Path(__file__).resolve().parents[2] / "supplier" / "examples" / "supplier.toml"
PASSPHRASE = "operator passphrase"
runner = CliRunner()


def config_without_chain(tmp_path: Path, port: int = 8700) -> Path:
    text = EXAMPLE.read_text()
    text = text[: text.index("[chain]")] + text[text.index("[[items]]") :]
    path = tmp_path / "supplier.toml"
    path.write_text(text.replace("port = 8700", f"port = {port}"))
    return path


def test_keys_new_creates_an_encrypted_key_once(tmp_path: Path) -> None:
    config = config_without_chain(tmp_path)
    env = {PASSPHRASE_ENV: PASSPHRASE}
    created = runner.invoke(supplier_app, ["keys", "new", "--config", str(config)], env=env)
    assert created.exit_code == 0, created.output
    address = created.output.split(":")[-1].strip()
    assert (tmp_path / "supplier-key.json").is_file()
    shown = runner.invoke(supplier_app, ["keys", "show", "--config", str(config)], env=env)
    assert shown.exit_code == 0
    assert address in shown.output
    again = runner.invoke(supplier_app, ["keys", "new", "--config", str(config)], env=env)
    assert again.exit_code == 2
    assert "already exists" in again.output
    wrong = runner.invoke(
        supplier_app, ["keys", "show", "--config", str(config)], env={PASSPHRASE_ENV: "nope"}
    )
    assert wrong.exit_code == 2
    assert "wrong passphrase" in wrong.output


def test_orders_lists_what_was_seen_on_chain(tmp_path: Path) -> None:
    config = config_without_chain(tmp_path)
    empty = runner.invoke(supplier_app, ["orders", "--config", str(config)])
    assert empty.exit_code == 0
    assert "no orders yet" in empty.output
    store = SupplierStore(tmp_path / "supplier.db")
    store.save_order(
        ObservedOrder(
            chain_id=31337,
            profit_center="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
            order_id="0x" + "ab" * 32,
            nonce=5,
            amount=21_600_000,
            known_quote=True,
            state=OrderState.OPEN,
            placed_block=12,
            placed_tx="0x" + "cd" * 32,
            observed_at=1,
            deliver_by=1_900_000_000,
            updated_at=1,
        )
    )
    store.close()
    listed = runner.invoke(supplier_app, ["orders", "--config", str(config)])
    assert listed.exit_code == 0
    assert "21.60" in listed.output
    assert "21600000" not in listed.output  # money, not base units
    assert "2030-03-17" in listed.output  # deliver by, as a date
    assert "1900000000" not in listed.output
    assert "open" in listed.output


def test_deliver_without_a_chain_says_what_to_configure(tmp_path: Path) -> None:
    result = runner.invoke(
        supplier_app,
        ["deliver", "1", "--config", str(config_without_chain(tmp_path))],
        env={PASSPHRASE_ENV: PASSPHRASE},
    )
    assert result.exit_code == 2
    assert "chain.rpc_url" in result.output


def test_a_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(EXAMPLE.read_text().replace("max_rounds = 8", "max_rounds = 99"))
    result = runner.invoke(supplier_app, ["orders", "--config", str(path)])
    assert result.exit_code == 2
    assert "max_rounds" in result.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_the_protocol_with_the_keystore_key(tmp_path: Path) -> None:
    port = free_port()
    config = config_without_chain(tmp_path, port)
    address = create_keystore(
        tmp_path / "supplier-key.json",
        PASSPHRASE,
        private_key=Account.create().key,
        iterations=2**10,
    )
    env = {**os.environ, PASSPHRASE_ENV: PASSPHRASE}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from supplier.cli import supplier_app; supplier_app()",
            "serve",
            "--config",
            str(config),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/.well-known/custobot", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"supplier did not start: {process.stderr.read() if process.stderr else ''!r}"
                    )
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json()["signing_address"] == address
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert PASSPHRASE.encode() not in stderr
