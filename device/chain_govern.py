"""``custobot chain policy|allow|deposit``: the governor's first steps after ``chain deploy``.

Set the policy, allow-list the suppliers and deposit the starting float, each signed with
the governor's encrypted keystore (as ``orders approve``); without one the exact calls are
printed for a Safe or wallet. Amounts are typed and shown in the token (USDC), never in
base units.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import structlog
import typer
from eth_utils import is_address, to_checksum_address
from rich.console import Console
from rich.table import Table
from web3 import Web3

from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.errors import ContractRevertError
from contracts.profit_center import Autonomy, FareRules, Policy, ProfitCenter
from device.chain_deploy import RPC_TIMEOUT_SECONDS, chain_app
from device.errors import CustobotError
from device.keys import load_agent_account, read_passphrase
from device.money import money, parse_money
from device.orders_cli import GovernorKeystoreOption, PassphraseFileOption
from device.settings import Settings

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

log = structlog.get_logger()
console = Console(width=120)
CURRENCY = "USDC"


@dataclass(frozen=True, slots=True)
class Call:
    """One contract call: sent with the governor key, or printed for a wallet."""

    contract: str
    function: str
    args: tuple[Any, ...]
    calldata: str


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def _chain(config: Path | None) -> tuple[Settings, Web3, ProfitCenter]:
    from device.cli import settings_or_exit  # the CLI imports this module

    settings = settings_or_exit(config)
    chain = settings.chain
    if chain.profit_center is None or chain.kind != "rpc" or chain.rpc_url is None:
        raise _fail("the config names no ProfitCenter on an RPC chain (custobot chain deploy)", 2)
    w3 = Web3(Web3.HTTPProvider(chain.rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_SECONDS}))
    return settings, w3, ProfitCenter(w3, chain.profit_center)


def _token(w3: Web3, address: str) -> Any:
    return w3.eth.contract(address=to_checksum_address(address), abi=load_artifact("MockUSDC").abi)


def _run(
    w3: Web3,
    calls: Sequence[tuple[Any, Call]],
    governor_keystore: Path | None,
    passphrase_file: Path | None,
    governor: str,
) -> None:
    """Send the calls in order as the governor, or print them when no key is given."""
    if governor_keystore is None:
        typer.echo("No governor key given: nothing was sent.")
        typer.echo(f"Send, in this order, from the governor {governor} (Safe or wallet):")
        for _, call in calls:
            typer.echo(f"  contract  {call.contract}")
            typer.echo(f"  function  {call.function}")
            typer.echo(f"  calldata  {call.calldata}")
        return
    try:
        account: LocalAccount = load_agent_account(
            governor_keystore, read_passphrase(passphrase_file, interactive=True)
        )
    except CustobotError as exc:
        raise _fail(f"governor key: {exc}") from None
    if account.address != governor:
        raise _fail(f"key {account.address} is not the governor ({governor})")
    for prepared, call in calls:
        try:
            receipt = send(w3, prepared, account)
        except ContractRevertError as exc:
            raise _fail(f"{call.function}: the contract refused ({exc.name})") from None
        except OSError as exc:
            raise _fail(f"cannot reach the chain at its RPC URL ({type(exc).__name__})") from None
        tx = "0x" + bytes(receipt["transactionHash"]).hex()
        log.info("governor_call_sent", function=call.function.split("(")[0], tx=tx)
        typer.echo(f"{call.function.split('(')[0]}: tx {tx}")


def _call(contract: Any, name: str, signature: str, *args: Any) -> tuple[Any, Call]:
    prepared = contract.functions[name](*args)
    data = contract.encode_abi(name, args)
    return prepared, Call(str(contract.address), signature, args, data)


def fare_cap_words(cap_bp: int) -> str:
    """A demand-factor cap as owners say it: 1.5x the tariff."""
    return f"{Decimal(cap_bp) / 10_000:g}x the tariff" + (" (no surge)" if cap_bp == 10_000 else "")


def parse_fare_cap(text: str) -> int:
    """``1.5x`` (or ``1.5``) as basis points; at most four decimals, never below 1x."""
    match = re.fullmatch(r"(\d{1,2})(\.\d{1,4})?x?", text.strip().lower())
    if match is None:
        raise ValueError(f"fare cap {text!r} is not a factor like 1.5x")
    cap_bp = int(Decimal(match.group(0).removesuffix("x")) * 10_000)
    if not 10_000 <= cap_bp <= 50_000:
        raise ValueError(f"fare cap {text!r} is not between 1x (no surge) and 5x")
    return cap_bp


def policy_table(policy: Policy, decimals: int, fares: FareRules) -> Table:
    """The policy as an owner reads it: money in USDC, times in hours and days."""
    table = Table(title="policy")
    table.add_column("setting")
    table.add_column("value", justify="right")

    def usdc(amount: int) -> str:
        return f"{money(amount, decimals)} {CURRENCY}"

    table.add_row("autonomy", policy.autonomy.name.lower())
    table.add_row("approve orders above", usdc(policy.auto_approval_threshold))
    table.add_row("largest order", usdc(policy.per_order_cap))
    table.add_row("budget per period", usdc(policy.budget_per_period))
    table.add_row("period", f"{policy.period_length / 86_400:g} days")
    table.add_row("operating reserve", usdc(policy.operating_reserve))
    table.add_row("dispute window", f"{policy.dispute_window / 3600:g} hours")
    table.add_row("taxi fare cap", fare_cap_words(fares.cap_bp))
    table.add_row("emergency (no surge)", "on" if fares.emergency else "off")
    return table


def _amount(text: str | None, decimals: int, what: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_money(text, decimals)
    except ValueError as exc:
        raise _fail(f"{what}: {exc}", 2) from None


Usdc = Annotated[str | None, typer.Option(help=f"in {CURRENCY}, e.g. 25.00")]


@chain_app.command("policy")
def chain_policy(
    config: Annotated[Path, typer.Option("--config", "-c", help="the machine's config")],
    autonomy: Annotated[
        str | None, typer.Option(help="bound, adaptable (approve above a threshold), autonomous")
    ] = None,
    approve_above: Annotated[
        str | None,
        typer.Option(help=f"adaptable: orders above this ({CURRENCY}) wait for the owners"),
    ] = None,
    per_order_cap: Usdc = None,
    budget: Annotated[str | None, typer.Option(help=f"spend per period, {CURRENCY}")] = None,
    period_days: Annotated[float | None, typer.Option(min=1 / 24, help="period length")] = None,
    reserve: Annotated[
        str | None, typer.Option(help=f"treasury kept back from orders, {CURRENCY}")
    ] = None,
    dispute_hours: Annotated[float | None, typer.Option(min=1, help="dispute window")] = None,
    fare_cap: Annotated[
        str | None,
        typer.Option(help="taxi: the highest demand factor on the tariff, e.g. 1.5x (1x: none)"),
    ] = None,
    emergency: Annotated[
        str | None, typer.Option(help="taxi: on holds every fare to the plain tariff; off ends it")
    ] = None,
    governor_keystore: GovernorKeystoreOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Show the ProfitCenter's policy; with options, set them (the rest stays as it is)."""
    settings, w3, pc = _chain(config)
    decimals = settings.chain.token_decimals
    try:
        current = pc.policy()
        fares = pc.fare_rules()
        governor = pc.governor()
    except OSError as exc:
        raise _fail(f"cannot reach the chain at its RPC URL ({type(exc).__name__})") from None
    changes: dict[str, Any] = {}
    if autonomy is not None:
        try:
            changes["autonomy"] = Autonomy[autonomy.upper()]
        except KeyError:
            raise _fail(
                f"autonomy: {autonomy!r} is not bound, adaptable or autonomous", 2
            ) from None
    for field, text in (
        ("auto_approval_threshold", approve_above),
        ("per_order_cap", per_order_cap),
        ("budget_per_period", budget),
        ("operating_reserve", reserve),
    ):
        value = _amount(text, decimals, field)
        if value is not None:
            changes[field] = value
    if period_days is not None:
        changes["period_length"] = round(period_days * 86_400)
    if dispute_hours is not None:
        changes["dispute_window"] = round(dispute_hours * 3600)
    wanted_fares = _fare_changes(fares, fare_cap, emergency)
    if not changes and wanted_fares == fares:
        console.print(policy_table(current, decimals, fares))
        return
    wanted = dataclasses.replace(current, **changes)
    calls = []
    if changes:
        calls.append(
            _call(
                pc.contract,
                "setPolicy",
                "setPolicy((uint8,uint256,uint256,uint256,uint256,uint256,uint256))",
                wanted.as_tuple(),
            )
        )
    if wanted_fares.cap_bp != fares.cap_bp:
        calls.append(_call(pc.contract, "setFareCap", "setFareCap(uint16)", wanted_fares.cap_bp))
    if wanted_fares.emergency != fares.emergency:
        calls.append(
            _call(pc.contract, "setEmergency", "setEmergency(bool)", wanted_fares.emergency)
        )
    _run(w3, calls, governor_keystore, passphrase_file, governor)
    console.print(policy_table(wanted, decimals, wanted_fares))


def _fare_changes(current: FareRules, fare_cap: str | None, emergency: str | None) -> FareRules:
    cap_bp = current.cap_bp
    if fare_cap is not None:
        try:
            cap_bp = parse_fare_cap(fare_cap)
        except ValueError as exc:
            raise _fail(str(exc), 2) from None
    active = current.emergency
    if emergency is not None:
        if emergency.lower() not in ("on", "off"):
            raise _fail(f"emergency: {emergency!r} is not on or off", 2)
        active = emergency.lower() == "on"
    return FareRules(cap_bp, active)


@chain_app.command("allow")
def chain_allow(
    suppliers: Annotated[list[str], typer.Argument(help="suppliers' signing addresses")],
    config: Annotated[Path, typer.Option("--config", "-c", help="the machine's config")],
    remove: Annotated[bool, typer.Option("--remove", help="take them off the list")] = False,
    governor_keystore: GovernorKeystoreOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Allow-list suppliers (their signing address, `custobot supplier keys show`)."""
    for supplier in suppliers:
        if not is_address(supplier):
            raise _fail(f"{supplier!r} is not an address", 2)
    _settings, w3, pc = _chain(config)
    calls = [
        _call(
            pc.contract,
            "setSupplier",
            "setSupplier(address,bool)",
            to_checksum_address(s),
            not remove,
        )
        for s in suppliers
    ]
    _run(w3, calls, governor_keystore, passphrase_file, pc.governor())
    if governor_keystore is not None:
        for supplier in suppliers:
            allowed = pc.is_supplier_allowed(to_checksum_address(supplier))
            typer.echo(
                f"{to_checksum_address(supplier)}: {'allowed' if allowed else 'not allowed'}"
            )


@chain_app.command("deposit")
def chain_deposit(
    amount: Annotated[str, typer.Argument(help=f"how much, in {CURRENCY} (e.g. 300)")],
    config: Annotated[Path, typer.Option("--config", "-c", help="the machine's config")],
    governor_keystore: GovernorKeystoreOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Deposit the starting float into the treasury from the governor (approve, then deposit)."""
    settings, w3, pc = _chain(config)
    decimals = settings.chain.token_decimals
    base = _amount(amount, decimals, "amount")
    assert base is not None
    token = _token(w3, settings.chain.token or pc.token())
    calls = [
        _call(token, "approve", "approve(address,uint256)", pc.address, base),
        _call(pc.contract, "depositRevenue", "depositRevenue(uint256)", base),
    ]
    _run(w3, calls, governor_keystore, passphrase_file, pc.governor())
    if governor_keystore is not None:
        typer.echo(f"treasury now {money(pc.treasury(), decimals)} {CURRENCY}")
