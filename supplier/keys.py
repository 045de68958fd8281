"""The supplier's signing key: an encrypted keystore file, unlocked at start-up.

The passphrase comes from ``passphrase_file`` or the
``CUSTOBOT_SUPPLIER_KEYSTORE_PASSPHRASE`` environment variable, never from the
configuration, and neither it nor the key is ever logged or shown.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

import structlog
from eth_account import Account
from eth_account.signers.local import LocalAccount

from supplier.errors import KeystoreError

PASSPHRASE_ENV = "CUSTOBOT_SUPPLIER_KEYSTORE_PASSPHRASE"  # noqa: S105 (a variable name)
log = structlog.get_logger()


class Signer:
    """Signs quotes as the supplier; holds the unlocked key and never reveals it."""

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

    @classmethod
    def from_key(cls, private_key: bytes | str) -> Signer:
        return cls(Account.from_key(private_key))

    @property
    def address(self) -> str:
        return str(self._account.address)

    @property
    def private_key(self) -> bytes:
        """The raw key, for signing quotes."""
        return bytes(self._account.key)

    @property
    def account(self) -> LocalAccount:
        """The account, for sending the supplier's transactions (markDelivered, claim)."""
        return self._account

    def __repr__(self) -> str:
        return f"Signer(address={self.address})"


def read_passphrase(passphrase_file: Path | None) -> str:
    """The keystore passphrase from the file if given, else from the environment."""
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeystoreError(
                f"cannot read passphrase file {passphrase_file}: {exc.strerror}"
            ) from None
        passphrase = text.rstrip("\r\n")
    else:
        passphrase = os.environ.get(PASSPHRASE_ENV, "")
    if not passphrase:
        where = passphrase_file if passphrase_file is not None else PASSPHRASE_ENV
        raise KeystoreError(f"no keystore passphrase: {where} is empty or not set")
    return passphrase


def create_keystore(
    path: Path,
    passphrase: str,
    *,
    private_key: bytes | None = None,
    kdf: Literal["scrypt", "pbkdf2"] = "scrypt",
    iterations: int | None = None,
) -> str:
    """Write a new (or the given) key encrypted to ``path`` (mode 0600); returns its address.

    Refuses to overwrite an existing file: losing a supplier key loses its quotes' identity.
    """
    account = Account.from_key(private_key) if private_key is not None else Account.create()
    keystore = Account.encrypt(account.key, passphrase, kdf=kdf, iterations=iterations)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeystoreError(f"keystore {path} already exists; not overwriting it") from None
    except OSError as exc:
        raise KeystoreError(f"cannot create keystore {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(keystore, out)
    log.info("supplier_keystore_created", path=str(path), address=account.address)
    return str(account.address)


def load_signer(path: Path, passphrase: str) -> Signer:
    """Unlock the keystore at ``path``; ``KeystoreError`` if missing, malformed or wrong passphrase."""
    try:
        keystore = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc.strerror}") from None
    except ValueError:
        raise KeystoreError(f"keystore {path} is not JSON") from None
    try:
        key = Account.decrypt(keystore, passphrase)
    except (ValueError, KeyError, TypeError):
        raise KeystoreError(
            f"cannot unlock keystore {path}: wrong passphrase or damaged file"
        ) from None
    signer = Signer.from_key(key)
    log.info("supplier_key_loaded", address=signer.address)
    return signer
