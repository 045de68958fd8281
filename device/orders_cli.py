"""``custobot orders ...``: the machine's purchase orders, and the owners' approve/reject.

An order above what the policy lets the machine decide alone waits on-chain for
the governor. ``approve``/``reject`` send the governor's plain contract call
with a governor key from an encrypted keystore; without one they print the exact
call (contract, function, argument, calldata) to send from a Safe or any wallet.
The machine sees the decision on its next poll (``Procurement.reconcile``).

The lead wires ``orders_app`` into the main CLI (``app.add_typer(orders_app, name="orders")``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import structlog
import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import col, select
from web3 import Web3

from contracts.errors import ContractRevertError
from contracts.profit_center import OrderStatus, ProfitCenter
from device.errors import CustobotError
from device.keys import load_agent_account, read_passphrase
from device.money import money
from device.negotiation.transcript import Transcript
from device.procurement.models import ChainIntent, OrderState, PurchaseOrder
from device.settings import Settings, load_settings
from device.store.db import Store, open_store

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

log = structlog.get_logger()
console = Console(width=120)
RPC_TIMEOUT_SECONDS = 30
GOVERNOR_KEYSTORE_ENV = "CUSTOBOT_GOVERNOR_KEYSTORE"
_ORDER_REF = re.compile(r"^(0x)?[0-9a-fA-F]{4,64}$")


class OrderLookupError(CustobotError):
    """No order, or more than one, matches what the user typed; ``ref`` names it."""

    def __init__(self, ref: str, problem: str) -> None:
        super().__init__(f"order {ref}: {problem}")
        self.ref = ref


class DecisionError(CustobotError):
    """An approve/reject that cannot be made (wrong state, not the governor, reverted)."""

    def __init__(self, order_id: str, problem: str) -> None:
        super().__init__(f"order {order_id}: {problem}")
        self.order_id = order_id


@dataclass(frozen=True, slots=True)
class WalletCall:
    """The exact call an owner sends from a Safe or wallet (any governor will do)."""

    contract: str
    function: str
    args: tuple[str, ...]
    calldata: str


@dataclass(frozen=True, slots=True)
class Decision:
    order_id: str
    action: str
    tx_hash: str
    status: OrderStatus


def find_order(store: Store, ref: str) -> PurchaseOrder:
    """The order whose id is ``ref`` or starts with it (at least 4 hex digits)."""
    if not _ORDER_REF.fullmatch(ref):
        raise OrderLookupError(ref, "not an order id (0x and 4 to 64 hex digits)")
    prefix = "0x" + ref.lower().removeprefix("0x")
    with store.read() as session:
        matches = session.exec(
            select(PurchaseOrder).where(col(PurchaseOrder.order_id).startswith(prefix)).limit(2)
        ).all()
    if not matches:
        raise OrderLookupError(ref, "no such order in this machine's database")
    if len(matches) > 1:
        raise OrderLookupError(ref, "more than one order starts with this; give more digits")
    return matches[0]


def wallet_call(profit_center: str, order_id: str, *, approve: bool) -> WalletCall:
    """``approveOrder``/``rejectOrder`` for ``order_id``, encoded from the contract's ABI."""
    function = "approveOrder" if approve else "rejectOrder"
    pc = ProfitCenter(Web3(), profit_center)  # encoding needs the ABI, not a node
    calldata = pc.encode_call(function, bytes.fromhex(order_id.removeprefix("0x")))
    return WalletCall(pc.address, f"{function}(bytes32)", (order_id,), "0x" + calldata.hex())


def decide(pc: ProfitCenter, order_id: str, governor: LocalAccount, *, approve: bool) -> Decision:
    """Send the governor's approve/reject for an order awaiting approval on-chain."""
    oid = bytes.fromhex(order_id.removeprefix("0x"))
    status = pc.order(oid).status
    if status is OrderStatus.NONE:
        raise OrderLookupError(order_id, "not on-chain at this ProfitCenter")
    if status is not OrderStatus.AWAITING_APPROVAL:
        raise DecisionError(order_id, f"is {status.name.lower()}, not awaiting approval")
    if pc.governor() != governor.address:
        raise DecisionError(
            order_id, f"key {governor.address} is not the governor ({pc.governor()})"
        )
    send = pc.approve_order if approve else pc.reject_order
    try:
        tx = send(oid, sender=governor)
    except ContractRevertError as exc:
        raise DecisionError(order_id, f"the contract refused: {exc.name}") from None
    action = "approve" if approve else "reject"
    tx_hash = "0x" + tx.tx_hash.hex()
    log.info("order_decision_sent", order=order_id, action=action, tx=tx_hash)
    return Decision(order_id, action, tx_hash, pc.order(oid).status)


# --- CLI --------------------------------------------------------------------------------

orders_app = typer.Typer(help="Purchase orders: list, show, approve, reject.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (default: embedded demo machine)"),
]
OrderArgument = Annotated[str, typer.Argument(help="order id, or its first hex digits")]
GovernorKeystoreOption = Annotated[
    Path | None,
    typer.Option(
        "--governor-keystore",
        envvar=GOVERNOR_KEYSTORE_ENV,
        help="the governor's encrypted keystore; without it the wallet call is printed",
    ),
]
PassphraseFileOption = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="file holding the keystore passphrase (default: systemd credential "
        "keystore-passphrase, $CUSTOBOT_KEYSTORE_PASSPHRASE, or a hidden prompt)",
    ),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except CustobotError as exc:
        raise _fail(f"config: {exc}", 2) from None


def _store(settings: Settings) -> Store:
    """The machine's database; never created here (an empty one would hide a wrong path)."""
    if not settings.database.is_file():
        raise _fail(f"no database at {settings.database} (check `database` in the config)")
    try:
        return open_store(settings.database)
    except CustobotError as exc:
        raise _fail(str(exc)) from None


def _lookup(settings: Settings, ref: str) -> PurchaseOrder:
    store = _store(settings)
    try:
        return find_order(store, ref)
    except OrderLookupError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


@orders_app.command("list")
def orders_list(
    config: ConfigOption = None,
    state: Annotated[
        OrderState | None, typer.Option(help="only orders in this state", case_sensitive=False)
    ] = None,
) -> None:
    """The machine's purchase orders, newest first."""
    settings = _settings(config)
    store = _store(settings)
    try:
        with store.read() as session:
            query = select(PurchaseOrder).order_by(col(PurchaseOrder.id).desc())
            if state is not None:
                query = query.where(PurchaseOrder.state == state)
            orders = session.exec(query).all()
    finally:
        store.close()
    decimals = settings.chain.token_decimals
    table = Table(title=f"{settings.device_id}: purchase orders (money in USDC)")
    for column in ("order", "supplier", "amount", "state", "placed", "deliver by", "paid"):
        table.add_column(column)
    for o in orders:
        table.add_row(
            o.order_id[:10],
            o.supplier_name,
            money(o.amount, decimals),
            o.state.value,
            _when(o.created_at),
            _when(o.deliver_by),
            "-" if o.paid is None else money(o.paid, decimals),
        )
    console.print(table)
    if not orders:
        console.print("no orders" if state is None else f"no orders {state.value}")


@orders_app.command("show")
def orders_show(order: OrderArgument, config: ConfigOption = None) -> None:
    """One order: lines, state, payment, the transaction, and its negotiation."""
    settings = _settings(config)
    o = _lookup(settings, order)
    decimals = settings.chain.token_decimals
    console.print(f"order      {o.order_id}")
    console.print(f"state      {o.state.value}")
    console.print(f"supplier   {o.supplier_name} ({o.supplier_address})")
    console.print(
        f"amount     {money(o.amount, decimals)} USDC "
        f"(reservation {money(o.reservation_price, decimals)} USDC)"
    )
    console.print(f"placed     {_when(o.created_at)}   deliver by {_when(o.deliver_by)}")
    if o.paid is not None:
        console.print(f"paid       {money(o.paid, decimals)} USDC")
    if o.note:
        console.print(f"note       {o.note}")
    store = _store(settings)
    try:
        with store.read() as session:
            intents = session.exec(
                select(ChainIntent).where(col(ChainIntent.key).endswith(o.order_id))
            ).all()
    finally:
        store.close()
    for intent in intents:
        console.print(f"tx         {intent.kind} {intent.state.value} {intent.tx_hash or '-'}")
    delivered = json.loads(o.delivered or "{}")
    lines = Table(title="lines")
    for column in ("slot", "gtin", "quantity", "unit price (USDC)", "delivered"):
        lines.add_column(column)
    for line in json.loads(o.lines):
        lines.add_row(
            str(line["slot_id"]),
            line["gtin"],
            str(line["quantity"]),
            money(int(line["unit_price"]), decimals),
            str(delivered.get(line["gtin"], "-")),
        )
    console.print(lines)
    transcript = Transcript.model_validate_json(o.transcript)
    decision = transcript.decision
    console.print(f"negotiation: {transcript.rounds} round(s), {len(transcript.events)} messages")
    console.print(decision.summary, soft_wrap=True)
    standings = Table(title="suppliers")
    for column in ("supplier", "outcome", "last offer (USDC)", "reason"):
        standings.add_column(column)
    for s in decision.standings:
        standings.add_row(
            s.supplier,
            s.status.value,
            "-" if s.amount is None else money(s.amount, decimals),
            "" if s.reason is None else s.reason.value,
        )
    console.print(standings)


def _governor(keystore: Path, passphrase_file: Path | None) -> LocalAccount:
    try:
        return load_agent_account(keystore, read_passphrase(passphrase_file, interactive=True))
    except CustobotError as exc:
        raise _fail(f"governor key: {exc}") from None


def _decide_command(
    ref: str,
    config: Path | None,
    governor_keystore: Path | None,
    passphrase_file: Path | None,
    *,
    approve: bool,
) -> None:
    settings = _settings(config)
    chain = settings.chain
    if chain.profit_center is None:
        raise _fail("chain.profit_center is not set in the config", 2)
    o = _lookup(settings, ref)
    if governor_keystore is None:
        if o.state is not OrderState.AWAITING_APPROVAL:
            raise _fail(f"order {o.order_id} is {o.state.value}, not awaiting approval")
        call = wallet_call(chain.profit_center, o.order_id, approve=approve)
        typer.echo("No governor key given: nothing was sent.")
        typer.echo("Send this call from the governor (Safe, wallet or governance proposal):")
        typer.echo(f"  contract  {call.contract}")
        if chain.chain_id is not None:
            typer.echo(f"  chain id  {chain.chain_id}")
        typer.echo(f"  function  {call.function}")
        typer.echo(f"  argument  {call.args[0]}")
        typer.echo(f"  calldata  {call.calldata}")
        return
    if chain.kind != "rpc" or chain.rpc_url is None:
        raise _fail("chain.kind must be 'rpc' with an rpc_url to send a transaction", 2)
    governor = _governor(governor_keystore, passphrase_file)
    w3 = Web3(Web3.HTTPProvider(chain.rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_SECONDS}))
    try:
        decision = decide(
            ProfitCenter(w3, chain.profit_center), o.order_id, governor, approve=approve
        )
    except CustobotError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:  # requests errors too: the node is down, nothing was decided
        raise _fail(f"cannot reach the chain at its RPC URL ({type(exc).__name__})") from None
    typer.echo(f"{decision.action}d order {decision.order_id}")
    typer.echo(f"  tx     {decision.tx_hash}")
    typer.echo(f"  state  {decision.status.name.lower()} on-chain (the machine sees it next poll)")


@orders_app.command("approve")
def orders_approve(
    order: OrderArgument,
    config: ConfigOption = None,
    governor_keystore: GovernorKeystoreOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Approve an order awaiting approval (governor), or print the call for a wallet."""
    _decide_command(order, config, governor_keystore, passphrase_file, approve=True)


@orders_app.command("reject")
def orders_reject(
    order: OrderArgument,
    config: ConfigOption = None,
    governor_keystore: GovernorKeystoreOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Reject an order awaiting approval (its reservation is released), or print the call."""
    _decide_command(order, config, governor_keystore, passphrase_file, approve=False)
