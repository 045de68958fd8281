"""The ``custobot`` command line: one entry point for the machine, its owners and suppliers."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from device.errors import ConfigError
from device.logs import configure_logging
from device.settings import Settings, load_settings

app = typer.Typer(
    name="custobot",
    help="A vending machine that buys for itself.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (default: embedded demo machine)"),
]


def settings_or_exit(config: Path | None) -> Settings:
    """Load the config; a wrong one exits 2 with one line naming the key and the problem."""
    try:
        return load_settings(config)
    except ConfigError as exc:
        typer.echo(f"config error: {exc}", err=True)
        raise typer.Exit(code=2) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"custobot {version('custobot')}")
        raise typer.Exit()


@app.callback()
def main(
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
    log_json: Annotated[bool, typer.Option(help="JSON log lines (for journald)")] = False,
    _version_flag: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version")
    ] = False,
) -> None:
    configure_logging(log_level, json=log_json)


@app.command()
def check(config: ConfigOption = None) -> None:
    """Validate a config file and summarise the machine it describes."""
    settings = settings_or_exit(config)
    table = Table(title=f"{settings.device_id} ({settings.pin_factory} pins)")
    for column in ("slot", "item", "price", "capacity", "par", "sensor"):
        table.add_column(column)
    for slot in settings.slots:
        table.add_row(
            str(slot.id),
            slot.name,
            str(slot.retail_price),
            str(slot.capacity),
            str(slot.par),
            slot.sensor.kind,
        )
    console.print(table)
