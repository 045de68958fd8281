"""``custobot supplier ...``: run a reference supplier and look after its orders.

``supplier_app`` is a Typer sub-app; the main CLI mounts it as ``supplier``.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import structlog
import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from web3 import Web3

from contracts.errors import ChainError
from device.errors import ConfigError
from device.money import money
from supplier.app import create_app, server_config
from supplier.errors import SupplierError
from supplier.keys import Signer, create_keystore, load_signer, read_passphrase
from supplier.settings import SupplierSettings, load_supplier_settings
from supplier.store import SupplierStore
from supplier.watcher import Watcher

supplier_app = typer.Typer(
    name="supplier",
    help="Run a reference supplier: answer RFQs, watch orders, mark deliveries, get paid.",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="The supplier's signing key (encrypted keystore).", no_args_is_help=True
)
supplier_app.add_typer(keys_app, name="keys")
console = Console()
log = structlog.get_logger()

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="supplier TOML config file")]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code=code)


def _settings(config: Path) -> SupplierSettings:
    try:
        return load_supplier_settings(config)
    except ConfigError as exc:
        raise _fail(f"config error: {exc}", 2) from None


def _signer(settings: SupplierSettings) -> Signer:
    try:
        return load_signer(settings.keystore, read_passphrase(settings.passphrase_file))
    except SupplierError as exc:
        raise _fail(f"key error: {exc}", 2) from None


def _has_chain(settings: SupplierSettings) -> bool:
    return settings.chain.rpc_url is not None and bool(settings.chain.profit_centers)


def _watcher(
    settings: SupplierSettings, store: SupplierStore, signer: Signer | None = None
) -> Watcher:
    """The chain watcher; exits 2 when no chain is configured (before unlocking the key)."""
    chain = settings.chain
    if chain.rpc_url is None or not chain.profit_centers:
        raise _fail("no chain configured: set chain.rpc_url and chain.profit_centers", 2)
    account = (signer or _signer(settings)).account
    w3 = Web3(Web3.HTTPProvider(chain.rpc_url))
    return Watcher(
        w3, store, account, chain.profit_centers, from_block=chain.from_block, name=settings.name
    )


def _watch_loop(watcher: Watcher, every: float, stop: threading.Event) -> None:
    """Poll until ``stop``; a failed poll is logged and retried on the next tick."""
    while not stop.is_set():
        try:
            watcher.poll_once(int(time.time()))
        except Exception as exc:  # a daemon loop: an unreachable node must not end it
            log.warning("watch_poll_failed", error=str(exc))
        stop.wait(every)


@supplier_app.command()
def serve(config: ConfigOption) -> None:
    """Serve custobot/2 on the configured host and port, and watch the chain for orders."""
    settings = _settings(config)
    signer = _signer(settings)
    store = SupplierStore(settings.database)
    app = create_app(settings, signer, store)
    stop = threading.Event()
    if _has_chain(settings):
        watcher = _watcher(settings, store, signer)
        thread = threading.Thread(
            target=_watch_loop, args=(watcher, settings.chain.poll_seconds, stop), daemon=True
        )
        thread.start()
    log.info("supplier_serving", name=settings.name, host=settings.host, port=settings.port)
    try:
        uvicorn.Server(server_config(app, settings)).run()
    finally:
        stop.set()
        store.close()


@supplier_app.command()
def orders(
    config: ConfigOption,
    sync: Annotated[
        bool, typer.Option(help="poll the chain first (may claim due payments)")
    ] = False,
) -> None:
    """List the orders placed on chain to this supplier."""
    settings = _settings(config)
    store = SupplierStore(settings.database)
    if sync:
        watcher = _watcher(settings, store)
        try:
            watcher.poll_once(int(time.time()))
        except ChainError as exc:
            raise _fail(f"chain error: {exc}", 1) from None
    rows = store.orders()
    if not rows:
        console.print("no orders yet")
        return
    table = Table(title=f"orders to {settings.name}")
    columns = ("id", "order", "machine", "amount (USDC)", "state", "deliver by", "dispute until")
    for column in columns:
        table.add_column(column, justify="right" if column.startswith("amount") else "left")
    for row in rows:
        table.add_row(
            str(row.id),
            row.order_id[:10] + "…",
            row.profit_center,
            money(row.amount),  # the accepted tokens are USD stablecoins with 6 decimals
            row.state + ("" if row.known_quote else " (unknown quote)"),
            _when(row.deliver_by),
            _when(row.dispute_until),
        )
    console.print(table)


def _when(unix: int | None) -> str:
    """A chain timestamp as people read it (UTC)."""
    if unix is None:
        return ""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M UTC")


@supplier_app.command()
def deliver(
    order: Annotated[int, typer.Argument(help="the order's id in `custobot supplier orders`")],
    config: ConfigOption,
) -> None:
    """Mark an order delivered on chain; payment follows on confirmation or after the window."""
    settings = _settings(config)
    store = SupplierStore(settings.database)
    watcher = _watcher(settings, store)
    try:
        done = watcher.mark_delivered(order, int(time.time()))
    except SupplierError as exc:
        raise _fail(str(exc), 1) from None
    except ChainError as exc:
        raise _fail(f"chain error: {exc}", 1) from None
    console.print(f"order {order} marked delivered; dispute window until {done.dispute_until}")


@keys_app.command("new")
def keys_new(config: ConfigOption) -> None:
    """Create the supplier's keystore (passphrase from passphrase_file or the environment)."""
    settings = _settings(config)
    try:
        address = create_keystore(settings.keystore, read_passphrase(settings.passphrase_file))
    except SupplierError as exc:
        raise _fail(f"key error: {exc}", 2) from None
    console.print(f"supplier signing address: {address}")


@keys_app.command("show")
def keys_show(config: ConfigOption) -> None:
    """Unlock the keystore and print the signing address (never the key)."""
    console.print(f"supplier signing address: {_signer(_settings(config)).address}")
