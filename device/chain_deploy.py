"""``custobot chain deploy``: put this machine's ProfitCenter on a chain and record it in the config.

The agent key (from the encrypted keystore) pays the gas and becomes the contract's
``agent``; the owners' address becomes its ``governor``. Every check that can fail
(RPC reachable, token is a contract, agent funded, no ProfitCenter recorded yet)
runs before anything is sent, and the config is rewritten only after the contract
is deployed and read back.

The config update touches only the ``[chain]`` table, line by line, so comments and
layout elsewhere survive; the result is parsed again and must equal the old
document with the new ``[chain]`` values, and must load as ``Settings``, before it
atomically replaces the file.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import structlog
import typer
from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from web3 import HTTPProvider, Web3

from contracts.deploy import MAX_TOKEN_DECIMALS, deploy_profit_center
from contracts.profit_center import ProfitCenter
from device.errors import ConfigError, CustobotError
from device.keys import load_agent_account, read_passphrase
from device.settings import load_settings

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

log = structlog.get_logger()

RPC_TIMEOUT_SECONDS = 30
_DECIMALS_ABI = [
    {
        "name": "decimals",
        "type": "function",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint8"}],
    }
]
_HEADER = re.compile(r"^\s*\[\s*(?P<name>[^\]\[]+?)\s*\]\s*(#.*)?$")
_TABLE_START = re.compile(r"^\s*\[")
_COMMENT_OR_BLANK = re.compile(r"^\s*(#.*)?$")


class ChainDeployError(CustobotError):
    """The ProfitCenter cannot be deployed as asked; nothing was sent or written."""


ChainValue = str | int


@dataclass(frozen=True)
class ChainDeployment:
    """What ``chain deploy`` wrote into the config's ``[chain]`` table."""

    chain_id: int
    profit_center: str
    token: str
    token_decimals: int
    agent: str
    governor: str
    rpc_url: str
    keystore: Path

    def chain_table(self) -> dict[str, ChainValue]:
        return {
            "kind": "rpc",
            "rpc_url": self.rpc_url,
            "chain_id": self.chain_id,
            "profit_center": self.profit_center,
            "token": self.token,
            "token_decimals": self.token_decimals,
            "keystore": str(self.keystore),
        }


def redact_url(url: str) -> str:
    """An RPC URL as safe to show: hosted RPC URLs often carry an API key in the path."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    hidden = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{hidden}"


# --- the [chain] table of a TOML file -------------------------------------------------------


def _toml_value(value: ChainValue) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"unsupported [chain] value {value!r}")
    # A JSON string (ASCII, \uXXXX escapes) is a valid TOML basic string.
    return str(value) if isinstance(value, int) else json.dumps(value)


def _key_of(line: str) -> str | None:
    match = re.match(r'^\s*("?)([A-Za-z0-9_-]+)\1\s*=', line)
    return match.group(2) if match else None


def render_chain_table(text: str, values: Mapping[str, ChainValue]) -> str:
    """``text`` with the ``[chain]`` keys in ``values`` set; everything else kept byte for byte.

    Raises ``ConfigError`` when the result would differ anywhere but in those keys.
    """
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"not valid TOML: {exc}") from None
    lines = text.splitlines(keepends=True)
    header = next(
        (
            i
            for i, line in enumerate(lines)
            if (m := _HEADER.match(line.rstrip("\r\n"))) and m.group("name") == "chain"
        ),
        None,
    )
    new_lines = {key: f"{key} = {_toml_value(value)}\n" for key, value in values.items()}
    if header is None:
        if "chain" in before:
            raise ConfigError("chain", "is not a [chain] table section; rewrite it as one")
        tail = "" if not text or text.endswith("\n") else "\n"
        result = text + tail + "\n[chain]\n" + "".join(new_lines.values())
    else:
        end = next(
            (i for i in range(header + 1, len(lines)) if _TABLE_START.match(lines[i])), len(lines)
        )
        if not lines[header].endswith("\n"):  # "[chain]" is the file's last line
            lines[header] += "\n"
        body = lines[header + 1 : end]
        pending = dict(new_lines)
        for i, line in enumerate(body):
            key = _key_of(line)
            if key in pending:
                body[i] = pending.pop(key)
        last_entry = max(
            (i for i, line in enumerate(body) if not _COMMENT_OR_BLANK.match(line)), default=-1
        )
        if last_entry >= 0 and not body[last_entry].endswith("\n"):
            body[last_entry] += "\n"
        body[last_entry + 1 : last_entry + 1] = list(pending.values())
        result = "".join(lines[: header + 1] + body + lines[end:])
    _check_only_chain_changed(before, result, values)
    return result


def _check_only_chain_changed(
    before: dict[str, Any], result: str, values: Mapping[str, Any]
) -> None:
    try:
        after = tomllib.loads(result)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            "chain", f"cannot be updated line by line ({exc}); edit it by hand"
        ) from None
    old_chain = before.get("chain", {})
    expected = {**(old_chain if isinstance(old_chain, dict) else {}), **values}
    rest_before = {k: v for k, v in before.items() if k != "chain"}
    rest_after = {k: v for k, v in after.items() if k != "chain"}
    if after.get("chain") != expected or rest_after != rest_before:
        raise ConfigError("chain", "cannot be updated line by line; edit it by hand")


def update_chain_config(path: Path, values: Mapping[str, ChainValue]) -> None:
    """Set ``[chain]`` keys in the config file at ``path``, atomically, keeping owner and mode."""
    try:
        text = path.read_text(encoding="utf-8")
        info = path.stat()
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror}") from None
    result = render_chain_table(text, values)
    partial = path.with_name(f".{path.name}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, info.st_mode & 0o777)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(result)
            out.flush()
            os.fsync(out.fileno())
        if os.geteuid() == 0:
            os.chown(partial, info.st_uid, info.st_gid)
        load_settings(partial)  # the new file must describe a valid machine
        os.replace(partial, path)
    except OSError as exc:
        raise ConfigError("config", f"cannot write {path}: {exc.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)


def preflight_chain_config(path: Path) -> None:
    """Fail before deploying if the config could not take the result afterwards."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror}") from None
    if not os.access(path.parent, os.W_OK):
        raise ConfigError("config", f"cannot write in {path.parent} (run as root?)")
    placeholder = "0x" + "00" * 20
    sample: dict[str, ChainValue] = {
        "kind": "rpc",
        "rpc_url": "http://x",
        "chain_id": 1,
        "profit_center": placeholder,
        "token": placeholder,
        "token_decimals": 6,
        "keystore": "/x",
    }
    render_chain_table(text, sample)


# --- deployment ------------------------------------------------------------------------------

Step = Callable[[str], None]


def _address(value: str, what: str) -> ChecksumAddress:
    if not is_address(value):
        raise ChainDeployError(f"{what} {value!r} is not an address (0x + 40 hex digits)")
    return to_checksum_address(value)


def deploy_machine(
    *,
    rpc_url: str,
    token: str,
    governor: str,
    agent: LocalAccount,
    keystore: Path,
    agent_valid_days: int = 365,
    step: Step = lambda _: None,
) -> ChainDeployment:
    """Check the chain, deploy a ProfitCenter with ``agent`` as agent and deployer, read it back.

    The agent key may place orders for ``agent_valid_days``; the owners renew it on-chain.
    """
    token_address = _address(token, "token")
    governor_address = _address(governor, "governor")
    step(f"connecting to {redact_url(rpc_url)}")
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_SECONDS}))
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:  # any transport or JSON-RPC failure: the node is not usable
        raise ChainDeployError(
            f"cannot reach the RPC node at {redact_url(rpc_url)}: {type(exc).__name__}"
        ) from None
    step(f"checking token {token_address} on chain {chain_id}")
    if not w3.eth.get_code(token_address):
        raise ChainDeployError(f"no contract at token address {token_address} on chain {chain_id}")
    try:
        decimals = int(
            w3.eth.contract(address=token_address, abi=_DECIMALS_ABI).functions.decimals().call()
        )
    except Exception:  # a non-ERC-20 contract reverts or returns garbage
        raise ChainDeployError(
            f"{token_address} on chain {chain_id} has no ERC-20 decimals()"
        ) from None
    if decimals > MAX_TOKEN_DECIMALS:
        raise ChainDeployError(
            f"{token_address} has {decimals} decimals; a ProfitCenter's books take at most "
            f"{MAX_TOKEN_DECIMALS} (USDC has 6)"
        )
    step(f"checking gas funds of agent {agent.address}")
    if w3.eth.get_balance(agent.address) == 0:
        raise ChainDeployError(
            f"agent {agent.address} has no native gas on chain {chain_id}; fund it first"
        )
    step("deploying ProfitCenter")
    try:
        latest = int(w3.eth.get_block("latest")["timestamp"])
        deployment = deploy_profit_center(
            w3,
            deployer=agent,
            governor=governor_address,
            agent=agent.address,
            token=token_address,
            agent_valid_until=latest + agent_valid_days * 24 * 3600,
        )
    except CustobotError:
        raise
    except Exception as exc:  # the node refused or lost the transaction
        raise ChainDeployError(f"deployment failed on chain {chain_id}: {exc}") from None
    step(f"reading back ProfitCenter {deployment.profit_center}")
    center = ProfitCenter(w3, deployment.profit_center)
    onchain = (center.governor(), center.agent(), center.token())
    if onchain != (governor_address, agent.address, token_address):
        raise ChainDeployError(f"ProfitCenter {deployment.profit_center} reads back {onchain}")
    log.info(
        "profit_center_deployed",
        chain_id=chain_id,
        profit_center=deployment.profit_center,
        token=token_address,
        governor=governor_address,
        agent=agent.address,
    )
    return ChainDeployment(
        chain_id=chain_id,
        profit_center=deployment.profit_center,
        token=token_address,
        token_decimals=decimals,
        agent=agent.address,
        governor=governor_address,
        rpc_url=rpc_url,
        keystore=keystore,
    )


# --- CLI -------------------------------------------------------------------------------------

chain_app = typer.Typer(name="chain", help="The machine's on-chain ProfitCenter.")
console = Console()


@chain_app.command("deploy")
def chain_deploy(
    rpc: Annotated[str, typer.Option("--rpc", help="JSON-RPC URL of the chain")],
    token: Annotated[str, typer.Option("--token", help="settlement token (e.g. USDC) address")],
    governor: Annotated[
        str, typer.Option("--governor", help="owners' address (EOA, Safe, Timelock)")
    ],
    config: Annotated[Path, typer.Option("--config", "-c", help="config file to record it in")],
    keystore: Annotated[
        Path | None,
        typer.Option(
            "--keystore", "-k", help="agent keystore (default: chain.keystore of --config)"
        ),
    ] = None,
    passphrase_file: Annotated[
        Path | None, typer.Option("--passphrase-file", help="file holding the keystore passphrase")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="deploy a new one although the config names one")
    ] = False,
    agent_valid_days: Annotated[
        int,
        typer.Option(
            "--agent-valid-days",
            min=1,
            max=3650,
            help="days the agent key may place orders; the owners renew it (setAgent)",
        ),
    ] = 365,
) -> None:
    """Deploy this machine's ProfitCenter and write its address into the config's [chain] table."""
    from device.cli import settings_or_exit  # the CLI imports this module

    settings = settings_or_exit(config)
    path = keystore if keystore is not None else settings.chain.keystore
    if path is None:
        typer.echo(
            f"config error: chain.keystore is not set in {config}; give --keystore", err=True
        )
        raise typer.Exit(code=2)
    if settings.chain.profit_center and not replace:
        typer.echo(
            f"error: {config} already names ProfitCenter {settings.chain.profit_center}; "
            "pass --replace to deploy another one (its funds stay in the old one)",
            err=True,
        )
        raise typer.Exit(code=1)
    try:
        preflight_chain_config(config)
        for value, what in ((token, "token"), (governor, "governor")):
            _address(value, what)  # a typo fails before the passphrase is asked for
        agent = load_agent_account(path, read_passphrase(passphrase_file, interactive=True))
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("starting", total=None)
            deployed = deploy_machine(
                rpc_url=rpc,
                token=token,
                governor=governor,
                agent=agent,
                keystore=path,
                agent_valid_days=agent_valid_days,
                step=lambda text: progress.update(task, description=text),
            )
    except CustobotError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    try:
        update_chain_config(config, deployed.chain_table())
    except ConfigError as exc:
        typer.echo(
            f"error: ProfitCenter {deployed.profit_center} was deployed on chain "
            f"{deployed.chain_id}, but {config} could not be updated ({exc}); "
            "record it under [chain] by hand",
            err=True,
        )
        raise typer.Exit(code=1) from None
    console.print(f"ProfitCenter {deployed.profit_center} on chain {deployed.chain_id}")
    console.print(f"governor     {deployed.governor}")
    console.print(
        f"agent        {deployed.agent} (may place orders for {agent_valid_days} days; "
        "the owners renew it with setAgent)"
    )
    console.print(f"token        {deployed.token} ({deployed.token_decimals} decimals)")
    console.print(f"recorded in  {config}")
