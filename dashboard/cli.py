"""``custobot owner ...``: the owners who may log in to the dashboard.

The lead wires ``owner_app`` into the main CLI (``app.add_typer(owner_app, name="owner")``).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Annotated

import qrcode
import typer

from dashboard.auth import add_owner
from dashboard.errors import DashboardError
from device.errors import CustobotError
from device.settings import load_settings
from device.store.db import open_store

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
