"""``custobot chain ...``: deploy and inspect a ProfitCenter on any JSON-RPC node."""

from __future__ import annotations

import json
import os
import time
from typing import Annotated

import typer
from eth_account import Account
from web3 import Web3

from contracts.anvil import run_anvil
from contracts.chain import Sender
from contracts.deploy import DEFAULT_POLICY, deploy_profit_center
from contracts.profit_center import ProfitCenter

chain_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

RpcOption = Annotated[str, typer.Option("--rpc-url", help="JSON-RPC URL of the chain node")]


def _connect(rpc_url: str) -> Web3:
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    if not w3.is_connected():
        raise typer.BadParameter(f"no JSON-RPC node answers at {rpc_url}", param_hint="--rpc-url")
    return w3


@chain_app.command()
def deploy(
    rpc_url: RpcOption,
    governor: Annotated[str, typer.Option(help="owners' address (EOA, Safe or Timelock)")],
    agent: Annotated[str, typer.Option(help="the machine's hot-key address")],
    token: Annotated[
        str | None, typer.Option(help="settlement token; omitted: deploy a MockUSDC (dev chains)")
    ] = None,
    key_env: Annotated[
        str,
        typer.Option(help="environment variable holding the deployer's private key"),
    ] = "CUSTOBOT_DEPLOYER_KEY",
) -> None:
    """Deploy a ProfitCenter with the cautious default policy; prints the addresses as JSON.

    The deployer is the key in ``$CUSTOBOT_DEPLOYER_KEY`` or, if that is unset, the
    node's first unlocked account (development chains such as anvil).
    """
    w3 = _connect(rpc_url)
    key = os.environ.get(key_env)
    deployer: Sender
    if key:
        deployer = Account.from_key(key)
    elif w3.eth.accounts:
        deployer = str(w3.eth.accounts[0])
    else:
        raise typer.BadParameter(f"set {key_env} to the deployer's private key", param_hint=key_env)
    for name, value in (("--governor", governor), ("--agent", agent), ("--token", token)):
        if value is not None and not Web3.is_address(value):
            raise typer.BadParameter(f"not an address: {value!r}", param_hint=name)
    deployment = deploy_profit_center(
        w3, deployer=deployer, governor=governor, agent=agent, policy=DEFAULT_POLICY, token=token
    )
    typer.echo(json.dumps({"token": deployment.token, "profit_center": deployment.profit_center}))


@chain_app.command()
def status(
    rpc_url: RpcOption,
    address: Annotated[str, typer.Option("--profit-center", help="ProfitCenter address")],
) -> None:
    """Print roles, policy and books of a ProfitCenter as JSON."""
    if not Web3.is_address(address):
        raise typer.BadParameter(f"not an address: {address!r}", param_hint="--profit-center")
    pc = ProfitCenter(_connect(rpc_url), address)
    policy = pc.policy()
    books = pc.books()
    fares = pc.fare_rules()
    report = {
        "profit_center": pc.address,
        "governor": pc.governor(),
        "agent": pc.agent(),
        "token": pc.token(),
        "paused": pc.paused(),
        "policy": {
            "autonomy": policy.autonomy.name.lower(),
            "auto_approval_threshold": policy.auto_approval_threshold,
            "per_order_cap": policy.per_order_cap,
            "budget_per_period": policy.budget_per_period,
            "period_length": policy.period_length,
            "operating_reserve": policy.operating_reserve,
            "dispute_window": policy.dispute_window,
        },
        "fare_rules": {"cap_bp": fares.cap_bp, "emergency": fares.emergency},
        "books": {
            "treasury": books.treasury,
            "reserved": books.reserved,
            "budget_available": books.budget_available,
            "refilled_at": books.refilled_at,
        },
    }
    typer.echo(json.dumps(report, indent=2))


@chain_app.command()
def anvil() -> None:
    """Run a local anvil node (from contracts/node_modules) until interrupted."""
    with run_anvil() as url:
        typer.echo(url)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return
