"""Database care: consistent backups while the agent sells, restores, and schema upgrades.

A backup is one SQLite online-backup step (``Connection.backup`` with all pages at
once) under a single read transaction, so it is a snapshot of one committed state
even while the agent writes in WAL mode. Every backup and every restore is checked
with ``PRAGMA integrity_check`` before it is renamed into place; a failed one leaves
nothing behind and never touches an existing file.
"""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.table import Table

from device.errors import CustobotError
from device.store.db import StoreError, open_store

log = structlog.get_logger()


class BackupError(CustobotError):
    """A backup or restore could not be made safely; ``path`` names the file at fault."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class DatabaseCopy:
    """A verified database file and how many rows each of its tables holds."""

    path: Path
    rows: dict[str, int]


def _connect_read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise BackupError(path, "database not found")
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(path, f"cannot open: {exc}") from None


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _verify(conn: sqlite3.Connection, path: Path) -> dict[str, int]:
    """Run ``integrity_check`` and count the rows of every table."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(path, f"integrity check failed: {'; '.join(problems[:3])}")
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {
            # Table names come from sqlite_master, quoted as identifiers: no injection.
            name: conn.execute(f"SELECT count(*) FROM {_quote_identifier(name)}").fetchone()[0]  # noqa: S608
            for name in names
        }
    except sqlite3.DatabaseError as exc:
        raise BackupError(path, f"not a usable SQLite database: {exc}") from None


def verify_database(path: Path) -> DatabaseCopy:
    """Open ``path`` read-only, check its integrity and count its rows."""
    with closing(_connect_read_only(path)) as conn:
        return DatabaseCopy(path, _verify(conn, path))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_verified(source: sqlite3.Connection, source_path: Path, target: Path) -> DatabaseCopy:
    """Copy ``source`` into a new ``target`` via a temp file; rename only once verified."""
    if target.exists():
        raise BackupError(target, "already exists; refusing to overwrite it")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.close(fd)
        with closing(sqlite3.connect(partial)) as dest:
            try:
                source.backup(dest)  # pages=-1: one step, one read transaction, one snapshot
            except sqlite3.DatabaseError as exc:
                raise BackupError(source_path, f"cannot be read: {exc}") from None
            rows = _verify(dest, partial)
        with open(partial, "rb") as copied:
            os.fsync(copied.fileno())
        if target.exists():  # appeared while we copied
            raise BackupError(target, "already exists; refusing to overwrite it")
        os.replace(partial, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        raise BackupError(target, f"cannot write: {exc.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)
    return DatabaseCopy(target, rows)


def backup_database(database: Path, out: Path) -> DatabaseCopy:
    """Take a consistent, verified copy of a live database (WAL or not) into ``out``."""
    try:
        owner = database.stat().st_uid
    except FileNotFoundError:
        raise BackupError(database, "database not found") from None
    if owner != os.geteuid():
        # Opening a WAL database can create its -wal/-shm files; owned by another user
        # they would lock the agent out of its own database.
        raise BackupError(
            database, f"run the backup as the database's owner (uid {owner}: sudo -u custobot ...)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with closing(_connect_read_only(database)) as source:
        copy = _copy_verified(source, database, out)
    log.info("backup_written", database=str(database), out=str(out), tables=len(copy.rows))
    return copy


def timestamped_backup(directory: Path, device_id: str, now: datetime) -> Path:
    """Where a scheduled backup goes: ``<device_id>-<UTC time>.db``, sortable by name."""
    return directory / f"{device_id}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.db"


def prune_backups(directory: Path, device_id: str, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` timestamped backups of this machine; return them."""
    if keep < 1:
        raise ValueError("keep at least one backup")
    pattern = re.compile(rf"^{re.escape(device_id)}-\d{{8}}T\d{{6}}Z\.db$")
    ours = sorted(p for p in directory.iterdir() if pattern.match(p.name) and p.is_file())
    doomed = ours[:-keep]
    for path in doomed:
        path.unlink()
        log.info("backup_pruned", path=str(path))
    return doomed


def restore_database(backup: Path, into: Path, name: str) -> DatabaseCopy:
    """Restore a backup as ``into/name`` after checking it; never replaces an existing file."""
    target = into / name
    for sibling in (target, target.with_name(f"{name}-wal"), target.with_name(f"{name}-shm")):
        if sibling.exists():
            raise BackupError(sibling, "already exists; restore into a fresh directory")
    verify_database(backup)
    into.mkdir(parents=True, exist_ok=True)
    with closing(_connect_read_only(backup)) as source:
        copy = _copy_verified(source, backup, target)
    log.info("backup_restored", backup=str(backup), database=str(target), tables=len(copy.rows))
    return copy


# --- CLI --------------------------------------------------------------------------------

console = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config naming the database (default: demo machine)"),
]


def _database_of(config: Path | None) -> Path:
    from device.cli import settings_or_exit  # the CLI imports this module

    return settings_or_exit(config).database


def _show(copy: DatabaseCopy, title: str) -> None:
    console.print(title, soft_wrap=True)  # one line: a long path must not split the verdict
    table = Table()
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in copy.rows.items():
        table.add_row(name, str(count))
    console.print(table)


def backup(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="backup file to create, or a directory for a timestamped one"
        ),
    ],
    config: ConfigOption = None,
    keep: Annotated[
        int | None,
        typer.Option(min=1, help="with a directory: keep only the newest N backups there"),
    ] = None,
) -> None:
    """Back up the machine's database while it runs (consistent snapshot, verified)."""
    from device.cli import settings_or_exit  # the CLI imports this module

    settings = settings_or_exit(config)
    into_directory = out.is_dir()
    if keep is not None and not into_directory:
        typer.echo(f"error: --keep needs --out to be a directory; {out} is not one", err=True)
        raise typer.Exit(code=2)
    target = (
        timestamped_backup(out, settings.device_id, datetime.now(UTC)) if into_directory else out
    )
    try:
        copy = backup_database(settings.database, target)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    _show(copy, f"backup {copy.path} (integrity ok)")
    if keep is not None:
        for pruned in prune_backups(out, settings.device_id, keep):
            console.print(f"removed old backup {pruned}")


def migrate(config: ConfigOption = None) -> None:
    """Bring the database to this version's schema (``install.sh`` runs it on every upgrade)."""
    database = _database_of(config)
    try:
        open_store(database).close()
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    console.print(f"database {database} is at the current schema")


def restore(
    source: Annotated[Path, typer.Option("--from", help="backup file to restore")],
    into: Annotated[Path, typer.Option("--into", help="fresh directory for the restored database")],
    config: ConfigOption = None,
) -> None:
    """Restore a backup into a fresh directory (never over a live database)."""
    name = _database_of(config).name
    try:
        copy = restore_database(source, into, name)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    _show(copy, f"restored {copy.path} (integrity ok)")
    console.print(f"point `database` in the config at {copy.path} to use it")
