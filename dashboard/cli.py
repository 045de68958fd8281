"""``custobot owner ...`` (the owners who may log in) and ``custobot dashboard`` (serve it).

``device.cli`` wires both into the main CLI.
"""

from __future__ import annotations

import io
import sys
from functools import partial
from pathlib import Path
from typing import Annotated

import qrcode
import structlog
import typer
from web3 import Web3

from contracts.profit_center import ProfitCenter
from dashboard.app import serve
from dashboard.auth import add_owner
from dashboard.errors import DashboardError
from dashboard.machine import LiveMachineView
from device.errors import CustobotError
from device.procurement.outbox import outbox_depth
from device.settings import Settings, load_settings
from device.store.db import Store, open_store

log = structlog.get_logger()

owner_app = typer.Typer(help="Dashboard owners: who may log in.", no_args_is_help=True)


@owner_app.callback()
def owner_group() -> None:
    """Dashboard owners: who may log in."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def qr_text(data: str) -> str:
    """A QR code drawn with text characters, for scanning off the terminal."""
    code = qrcode.QRCode(border=1)
    code.add_data(data)
    code.make(fit=True)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


@owner_app.command("add")
def owner_add(
    name: Annotated[str, typer.Argument(help="login name: letters, digits, '_', '.', '-'")],
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config (default: demo machine)")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin (scripts)")
    ] = False,
) -> None:
    """Create an owner; show the TOTP set-up (URI and QR code) once, for an authenticator app."""
    try:
        settings = load_settings(config)
        password = _read_password(password_stdin)
        store = open_store(settings.database)
        try:
            created = add_owner(store.engine, name, password)
        finally:
            store.close()
    except (DashboardError, CustobotError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"Owner {created.name!r} created.")
    typer.echo("Scan this with an authenticator app now; it is shown only once:")
    typer.echo(qr_text(created.provisioning_uri))
    typer.echo(created.provisioning_uri)


def machine_view(settings: Settings, store: Store) -> LiveMachineView:
    """The view a deployed dashboard shows: the machine's database and its ProfitCenter.

    It runs in its own process, without the agent key or the pins: stock comes from
    the store (last recount minus sales), decisions are shown as the call to make
    from the owners' wallet or Safe. Before ``custobot chain deploy`` the chain's
    parts say that there is no ProfitCenter yet.
    """
    chain = settings.chain
    pc = None
    if chain.kind == "rpc" and chain.profit_center and chain.rpc_url:
        w3 = Web3(Web3.HTTPProvider(chain.rpc_url, request_kwargs={"timeout": 10}))
        pc = ProfitCenter(w3, chain.profit_center)
    return LiveMachineView(settings, store, pc, outbox_depth=partial(outbox_depth, store))


def dashboard_serve(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config (default: demo machine)")
    ] = None,
) -> None:
    """Serve the owners' dashboard (custobot-dashboard.service): 127.0.0.1:8080 unless
    the config's dashboard table says otherwise; HTTPS with tls_certfile and tls_keyfile."""
    try:
        settings = load_settings(config)
        store = open_store(settings.database)
    except CustobotError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    options = settings.dashboard
    if not options.loopback and options.tls_certfile is None:
        log.warning("dashboard_plain_http_beyond_loopback", host=options.host)
    try:
        serve(
            settings,
            machine_view(settings, store),
            engine=store.engine,
            ssl_certfile=options.tls_certfile,
            ssl_keyfile=options.tls_keyfile,
        )
    except DashboardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        store.close()
