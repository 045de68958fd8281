"""``custobot keys new|show``: an encrypted 0600 keystore whose key is never shown."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from eth_account import Account
from typer.testing import CliRunner

from device.keys import (
    PASSPHRASE_CREDENTIAL,
    PASSPHRASE_ENV,
    KeystoreError,
    PassphraseError,
    keystore_address,
    load_agent_account,
    read_passphrase,
)

PASSPHRASE = "correct horse battery staple"


def _new(cli: typer.Typer, keystore: Path, env: dict[str, str]) -> str:
    result = CliRunner().invoke(cli, ["keys", "new", "--keystore", str(keystore)], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_new_writes_encrypted_0600_keystore_and_shows_only_the_address(
    cli: typer.Typer, tmp_path: Path
) -> None:
    keystore = tmp_path / "keys" / "agent.json"
    output = _new(cli, keystore, {PASSPHRASE_ENV: PASSPHRASE})

    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    document = json.loads(keystore.read_text())
    key = bytes(Account.decrypt(document, PASSPHRASE))
    address = Account.from_key(key).address
    assert f"address  {address}" in output
    for secret in (key.hex(), PASSPHRASE):
        assert secret not in output
        assert secret not in keystore.read_text()

    shown = CliRunner().invoke(cli, ["keys", "show", "--keystore", str(keystore)], env={})
    assert shown.exit_code == 0, shown.output
    assert address in shown.output
    assert key.hex() not in shown.output
    assert load_agent_account(keystore, PASSPHRASE).address == address


def test_new_refuses_to_overwrite_an_existing_key(cli: typer.Typer, tmp_path: Path) -> None:
    keystore = tmp_path / "agent.json"
    _new(cli, keystore, {PASSPHRASE_ENV: PASSPHRASE})
    before = keystore.read_bytes()
    result = CliRunner().invoke(
        cli, ["keys", "new", "--keystore", str(keystore)], env={PASSPHRASE_ENV: PASSPHRASE}
    )
    assert result.exit_code == 1
    assert "refusing to overwrite" in result.output
    assert keystore.read_bytes() == before


def test_new_without_any_passphrase_source_fails_and_writes_nothing(
    cli: typer.Typer, tmp_path: Path
) -> None:
    keystore = tmp_path / "agent.json"
    result = CliRunner().invoke(cli, ["keys", "new", "--keystore", str(keystore)], env={})
    assert result.exit_code == 1
    assert "no keystore passphrase" in result.output
    assert not keystore.exists()


def test_show_check_rejects_a_wrong_passphrase(cli: typer.Typer, tmp_path: Path) -> None:
    keystore = tmp_path / "agent.json"
    _new(cli, keystore, {PASSPHRASE_ENV: PASSPHRASE})
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not the passphrase\n")
    args = ["keys", "show", "--check", "--keystore", str(keystore)]
    result = CliRunner().invoke(cli, [*args, "--passphrase-file", str(wrong)], env={})
    assert result.exit_code == 1
    assert "wrong passphrase" in result.output

    right = tmp_path / "right.pass"
    right.write_text(PASSPHRASE + "\n")  # a trailing newline is not part of the secret
    ok = CliRunner().invoke(cli, [*args, "--passphrase-file", str(right)], env={})
    assert ok.exit_code == 0, ok.output
    assert "passphrase ok" in ok.output
    assert keystore_address(keystore) in ok.output


def test_keystore_path_comes_from_the_config(
    cli: typer.Typer, tmp_path: Path, machine_config: Path
) -> None:
    keystore = tmp_path / "from-config.json"
    text = machine_config.read_text().replace(
        'kind = "eth-tester"', f'kind = "eth-tester"\nkeystore = "{keystore}"'
    )
    machine_config.write_text(text)
    result = CliRunner().invoke(
        cli, ["keys", "new", "--config", str(machine_config)], env={PASSPHRASE_ENV: PASSPHRASE}
    )
    assert result.exit_code == 0, result.output
    assert keystore_address(keystore) in result.output

    bare = CliRunner().invoke(cli, ["keys", "show"], env={})
    assert bare.exit_code == 2
    assert "--keystore" in bare.output


def test_systemd_credential_wins_over_the_environment(tmp_path: Path) -> None:
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / PASSPHRASE_CREDENTIAL).write_text("from-credential\n")
    env = {"CREDENTIALS_DIRECTORY": str(credentials), PASSPHRASE_ENV: "from-env"}
    assert read_passphrase(environ=env) == "from-credential"
    assert read_passphrase(environ={PASSPHRASE_ENV: "from-env"}) == "from-env"
    with pytest.raises(PassphraseError):
        read_passphrase(environ={})


def test_agent_refuses_a_keystore_readable_by_others(cli: typer.Typer, tmp_path: Path) -> None:
    keystore = tmp_path / "agent.json"
    _new(cli, keystore, {PASSPHRASE_ENV: PASSPHRASE})
    keystore.chmod(0o644)
    with pytest.raises(KeystoreError, match="chmod 600"):
        load_agent_account(keystore, PASSPHRASE)


def test_show_names_a_file_that_is_not_a_keystore(cli: typer.Typer, tmp_path: Path) -> None:
    bogus = tmp_path / "agent.json"
    bogus.write_text('{"hello": 1}')
    result = CliRunner().invoke(cli, ["keys", "show", "--keystore", str(bogus)], env={})
    assert result.exit_code == 1
    assert "not an eth-keyfile v3 keystore" in result.output
