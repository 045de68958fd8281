"""The agent's hot key: an encrypted keystore (eth-keyfile v3) and where its passphrase comes from.

The key never leaves the keystore file unencrypted and is never printed; only the
address is shown. The passphrase comes, in this order, from an explicit file, the
systemd credential ``$CREDENTIALS_DIRECTORY/keystore-passphrase`` (how the service
gets it), the ``CUSTOBOT_KEYSTORE_PASSPHRASE`` environment variable, or a hidden
prompt on a terminal. It is never taken from the command line or the config file.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import structlog
import typer
from eth_account import Account
from eth_utils import to_checksum_address
from rich.console import Console

from device.errors import CustobotError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

# Names of where the passphrase lives, not passphrases.
PASSPHRASE_CREDENTIAL = "keystore-passphrase"  # noqa: S105
PASSPHRASE_ENV = "CUSTOBOT_KEYSTORE_PASSPHRASE"  # noqa: S105
MIN_PASSPHRASE_LENGTH = 8

log = structlog.get_logger()


class KeystoreError(CustobotError):
    """A keystore file cannot be created, read or unlocked; ``path`` names it."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"keystore {path}: {problem}")
        self.path = path
        self.problem = problem


class PassphraseError(CustobotError):
    """No usable passphrase was found (or the one given is too weak)."""


def _strip_newline(text: str) -> str:
    """Files written by ``echo`` or editors end with a newline that is not part of the secret."""
    return text.removesuffix("\n").removesuffix("\r")


def _read_secret_file(path: Path) -> str:
    try:
        secret = _strip_newline(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PassphraseError(f"cannot read passphrase file {path}: {exc.strerror}") from None
    if not secret:
        raise PassphraseError(f"passphrase file {path} is empty")
    return secret


def read_passphrase(
    passphrase_file: Path | None = None,
    *,
    interactive: bool = False,
    confirm: bool = False,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Find the keystore passphrase: file, systemd credential, env var, then (if allowed) a prompt."""
    env = os.environ if environ is None else environ
    if passphrase_file is not None:
        return _read_secret_file(passphrase_file)
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials:
        candidate = Path(credentials) / PASSPHRASE_CREDENTIAL
        if candidate.is_file():
            return _read_secret_file(candidate)
    from_env = env.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    if interactive and sys.stdin.isatty():
        secret: str = typer.prompt("Keystore passphrase", hide_input=True)
        if confirm:
            again: str = typer.prompt("Repeat passphrase", hide_input=True)
            if again != secret:
                raise PassphraseError("the two passphrases differ")
        return secret
    raise PassphraseError(
        f"no keystore passphrase: set the systemd credential {PASSPHRASE_CREDENTIAL!r}, "
        f"${PASSPHRASE_ENV}, or pass --passphrase-file"
    )


def create_keystore(path: Path, passphrase: str) -> str:
    """Create a fresh key, write it encrypted to ``path`` (mode 0600, never overwritten).

    Returns the checksummed address.
    """
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise PassphraseError(f"passphrase is shorter than {MIN_PASSPHRASE_LENGTH} characters")
    if path.exists():
        raise KeystoreError(path, "already exists; refusing to overwrite a key")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    account = Account.create()
    document = json.dumps(Account.encrypt(account.key, passphrase))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeystoreError(path, "already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise KeystoreError(path, f"cannot create: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(document)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    address: str = account.address
    log.info("keystore_created", keystore=str(path), address=address)
    return address


def _read_keystore(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeystoreError(path, "not found (create one with `custobot keys new`)") from None
    except OSError as exc:
        raise KeystoreError(path, f"cannot read: {exc.strerror}") from None
    try:
        document = json.loads(raw)
    except json.JSONDecodeError:
        raise KeystoreError(path, "is not a JSON keystore") from None
    if not isinstance(document, dict) or "crypto" not in document or "address" not in document:
        raise KeystoreError(path, "is not an eth-keyfile v3 keystore (no address/crypto)")
    return document


def keystore_address(path: Path) -> str:
    """The checksummed address a keystore holds, read without decrypting it."""
    document = _read_keystore(path)
    try:
        address: str = to_checksum_address(str(document["address"]))
    except ValueError:
        raise KeystoreError(path, "has an invalid address field") from None
    return address


def load_agent_account(keystore_path: Path, passphrase: str | None = None) -> LocalAccount:
    """Unlock the agent's key for signing; the passphrase defaults to ``read_passphrase()``.

    Refuses a keystore that other users may read: an encrypted key is still a target.
    """
    try:
        mode = stat.S_IMODE(keystore_path.stat().st_mode)
    except FileNotFoundError:
        raise KeystoreError(
            keystore_path, "not found (create one with `custobot keys new`)"
        ) from None
    if mode & 0o077:
        raise KeystoreError(
            keystore_path, f"is accessible by other users (mode {mode:04o}); run chmod 600 on it"
        )
    document = _read_keystore(keystore_path)
    secret = passphrase if passphrase is not None else read_passphrase()
    try:
        key = Account.decrypt(document, secret)
    except ValueError:
        raise KeystoreError(keystore_path, "wrong passphrase (MAC mismatch)") from None
    account: LocalAccount = Account.from_key(key)
    log.info("agent_key_loaded", keystore=str(keystore_path), address=account.address)
    return account


# --- CLI --------------------------------------------------------------------------------

keys_app = typer.Typer(name="keys", help="The machine's agent key (encrypted keystore).")
console = Console()

KeystoreOption = Annotated[
    Path | None,
    typer.Option("--keystore", "-k", help="keystore file (default: chain.keystore of --config)"),
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config whose chain.keystore to use")
]
PassphraseFileOption = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="file holding the passphrase (default: systemd credential, "
        f"${PASSPHRASE_ENV}, or a hidden prompt)",
    ),
]


def _keystore_from(keystore: Path | None, config: Path | None) -> Path:
    if keystore is not None:
        return keystore
    if config is not None:
        from device.cli import settings_or_exit  # the CLI imports this module

        configured = settings_or_exit(config).chain.keystore
        if configured is not None:
            return configured
        typer.echo(f"config error: chain.keystore is not set in {config}", err=True)
        raise typer.Exit(code=2)
    typer.echo("error: give --keystore FILE or --config FILE", err=True)
    raise typer.Exit(code=2)


@keys_app.command("new")
def keys_new(
    keystore: KeystoreOption = None,
    config: ConfigOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Create the agent key in an encrypted keystore (mode 0600) and show its address."""
    path = _keystore_from(keystore, config)
    try:
        secret = read_passphrase(passphrase_file, interactive=True, confirm=True)
        address = create_keystore(path, secret)
    except CustobotError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    console.print(f"address  {address}")
    console.print(f"keystore {path}")


@keys_app.command("show")
def keys_show(
    keystore: KeystoreOption = None,
    config: ConfigOption = None,
    check: Annotated[
        bool, typer.Option("--check", help="also unlock it to prove the passphrase works")
    ] = False,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Show the address a keystore holds (never the key)."""
    path = _keystore_from(keystore, config)
    try:
        address = keystore_address(path)
        if check:
            secret = read_passphrase(passphrase_file, interactive=True)
            unlocked = load_agent_account(path, secret).address
            if unlocked != address:
                raise KeystoreError(path, f"unlocks to {unlocked}, not {address}")
    except CustobotError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    console.print(f"address  {address}")
    if check:
        console.print("passphrase ok")
