"""The supplier's keystore and configuration: secrets stay secret, bad config is named."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from eth_account import Account

from device.errors import ConfigError
from supplier.errors import KeystoreError
from supplier.keys import PASSPHRASE_ENV, create_keystore, load_signer, read_passphrase
from supplier.settings import load_supplier_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "supplier" / "examples" / "supplier.toml"


PASSPHRASE = "correct horse"


def make_keystore(path: Path) -> tuple[str, bytes]:
    key = bytes(Account.create().key)
    return create_keystore(path, PASSPHRASE, private_key=key, iterations=2**10), key


def test_keystore_round_trip_keeps_the_key_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    address, key = make_keystore(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key.hex() not in path.read_text()
    signer = load_signer(path, PASSPHRASE)
    assert signer.address == address
    assert key.hex() not in repr(signer)


def test_wrong_passphrase_or_damaged_keystore_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    make_keystore(path)
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        load_signer(path, "wrong")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(KeystoreError, match="not JSON"):
        load_signer(tmp_path / "bad.json", "x")
    with pytest.raises(KeystoreError, match="cannot read"):
        load_signer(tmp_path / "missing.json", "x")


def test_an_existing_keystore_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    make_keystore(path)
    before = path.read_bytes()
    with pytest.raises(KeystoreError, match="already exists"):
        make_keystore(path)
    assert path.read_bytes() == before


def test_passphrase_comes_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    with pytest.raises(KeystoreError, match=PASSPHRASE_ENV):
        read_passphrase(None)
    monkeypatch.setenv(PASSPHRASE_ENV, "from env")
    assert read_passphrase(None) == "from env"
    file = tmp_path / "pass"
    file.write_text("from file\n")
    assert read_passphrase(file) == "from file"
    with pytest.raises(KeystoreError, match="cannot read"):
        read_passphrase(tmp_path / "nope")


def test_the_example_config_loads_with_paths_next_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "not part of the settings")
    settings = load_supplier_settings(EXAMPLE)
    assert settings.keystore == EXAMPLE.parent / "supplier-key.json"
    assert settings.database == EXAMPLE.parent / "supplier.db"
    assert settings.host == "127.0.0.1"
    assert len(settings.items) == 3
    monkeypatch.setenv("CUSTOBOT_SUPPLIER_PORT", "9123")
    assert load_supplier_settings(EXAMPLE).port == 9123


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (("floor_price = 310000", "floor_price = 460000"), "items[0]", "floor_price"),
        (('gtin = "05000112637922"', 'gtin = "05449000000996"'), "items.gtin", "twice"),
        (
            ('name = "Acme Snacks Wholesale"', 'name = "x"\npassphrase = "hunter2"'),
            "passphrase",
            "unknown key",
        ),
        (('kind = "boulware"', 'kind = "haggler"'), "strategy", ""),
        (("beta = 0.2", "beta = 2.0"), "strategy.boulware.beta", "less than 1"),
        (
            (
                'address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"',
                'address = "0x5fbdb2315678afecb367f032d93F642f64180aa3"',
            ),
            "tokens[0].address",
            "checksum",
        ),
    ],
)
def test_a_wrong_config_names_the_key(
    tmp_path: Path, change: tuple[str, str], key: str, problem: str
) -> None:
    text = EXAMPLE.read_text()
    assert change[0] in text
    path = tmp_path / "supplier.toml"
    path.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(ConfigError) as caught:
        load_supplier_settings(path)
    assert caught.value.key.startswith(key)
    assert problem in caught.value.problem
    assert "hunter2" not in str(caught.value)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_supplier_settings(tmp_path / "nope.toml")
