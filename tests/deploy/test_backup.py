"""``custobot backup`` / ``restore`` while a real process keeps writing sales (WAL)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from device.backup import BackupError, backup_database
from device.settings import load_settings
from device.store.db import current_revision, head_revision, open_store
from tests.deploy.conftest import REPO


def _sale_ids(database: Path) -> list[int]:
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return [row[0] for row in conn.execute("SELECT id FROM sale ORDER BY id")]


class Writer:
    """The sales-writer subprocess and the ids it has reported committed."""

    def __init__(self, database: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.deploy.sales_writer", str(database)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.last_committed = 0

    def wait_until(self, sale_id: int) -> None:
        assert self.process.stdout is not None
        while self.last_committed < sale_id:
            line = self.process.stdout.readline()
            assert line, f"writer exited with {self.process.wait()}"
            self.last_committed = int(line)


@pytest.fixture
def writer(machine_config: Path) -> Iterator[Writer]:
    running = Writer(load_settings(machine_config).database)
    yield running
    running.process.kill()
    running.process.wait()
    assert running.process.stdout is not None
    running.process.stdout.close()  # else the pipe's file object is left to the GC


@pytest.mark.slow
def test_backup_mid_stream_restores_every_row_committed_before_it(
    cli: typer.Typer, tmp_path: Path, machine_config: Path, writer: Writer
) -> None:
    writer.wait_until(200)
    committed_before_backup = writer.last_committed
    out = tmp_path / "backups" / "custobot-1.db"

    result = CliRunner().invoke(cli, ["backup", "--config", str(machine_config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "integrity ok" in result.output

    backed_up = _sale_ids(out)
    writer.wait_until(backed_up[-1] + 50)  # the agent kept selling during and after the backup

    fresh = tmp_path / "fresh"
    restored = CliRunner().invoke(
        cli,
        ["restore", "--config", str(machine_config), "--from", str(out), "--into", str(fresh)],
    )
    assert restored.exit_code == 0, restored.output
    database = fresh / "custobot.db"
    ids = _sale_ids(database)
    # A snapshot of one committed state: every earlier sale, no gaps, nothing half-written.
    assert ids == list(range(1, len(ids) + 1))
    assert len(ids) >= committed_before_backup
    assert ids == backed_up
    assert len(_sale_ids(load_settings(machine_config).database)) > len(ids)

    store = open_store(database)  # the agent can run on the restored copy as it is
    try:
        assert current_revision(store.engine) == head_revision()
    finally:
        store.close()


def test_restore_never_overwrites_an_existing_database(
    cli: typer.Typer, tmp_path: Path, machine_config: Path
) -> None:
    database = load_settings(machine_config).database
    open_store(database).close()
    out = tmp_path / "backup.db"
    args = ["backup", "--config", str(machine_config), "--out", str(out)]
    assert CliRunner().invoke(cli, args).exit_code == 0

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.output

    before = database.read_bytes()
    restore = ["restore", "--config", str(machine_config), "--from", str(out)]
    into_live = CliRunner().invoke(cli, [*restore, "--into", str(database.parent)])
    assert into_live.exit_code == 1
    assert "restore into a fresh directory" in into_live.output
    assert database.read_bytes() == before


def test_a_corrupt_backup_is_refused_and_restores_nothing(
    cli: typer.Typer, tmp_path: Path, machine_config: Path
) -> None:
    database = load_settings(machine_config).database
    open_store(database).close()
    out = tmp_path / "backup.db"
    assert (
        CliRunner()
        .invoke(cli, ["backup", "--config", str(machine_config), "--out", str(out)])
        .exit_code
        == 0
    )
    data = bytearray(out.read_bytes())
    data[4096 : 4096 + 512] = b"\xff" * 512  # smash part of the second page
    out.write_bytes(bytes(data))

    fresh = tmp_path / "fresh"
    result = CliRunner().invoke(
        cli,
        ["restore", "--config", str(machine_config), "--from", str(out), "--into", str(fresh)],
    )
    assert result.exit_code == 1
    assert "error:" in result.output
    assert not (fresh / "custobot.db").exists()


def test_backup_of_a_missing_database_is_a_clear_error(
    cli: typer.Typer, tmp_path: Path, machine_config: Path
) -> None:
    out = tmp_path / "backup.db"
    result = CliRunner().invoke(cli, ["backup", "--config", str(machine_config), "--out", str(out)])
    assert result.exit_code == 1
    assert "database not found" in result.output
    assert not out.exists()


def test_migrate_brings_a_new_database_to_head(cli: typer.Typer, machine_config: Path) -> None:
    result = CliRunner().invoke(cli, ["migrate", "--config", str(machine_config)])
    assert result.exit_code == 0, result.output
    store = open_store(load_settings(machine_config).database)
    try:
        assert current_revision(store.engine) == head_revision()
    finally:
        store.close()


def test_backups_into_a_directory_are_timestamped_and_pruned(
    cli: typer.Typer, tmp_path: Path, machine_config: Path
) -> None:
    open_store(load_settings(machine_config).database).close()
    backups = tmp_path / "backups"
    backups.mkdir()
    stale = [backups / f"office-3f-snack-2020010{day}T033000Z.db" for day in range(1, 4)]
    for path in stale:
        path.write_bytes(b"old")
    unrelated = backups / "notes.txt"
    unrelated.write_text("keep me")
    args = ["backup", "--config", str(machine_config), "--out", str(backups), "--keep", "2"]

    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 0, result.output
    left = sorted(p.name for p in backups.iterdir())
    assert stale[2].name in left
    assert unrelated.name in left
    assert len(left) == 3
    fresh = [name for name in left if name.startswith("office-3f-snack-2") and "2020" not in name]
    assert len(fresh) == 1
    assert _sale_ids(backups / fresh[0]) == []


def test_keep_needs_a_directory(cli: typer.Typer, tmp_path: Path, machine_config: Path) -> None:
    args = ["backup", "--config", str(machine_config), "--out", str(tmp_path / "x.db")]
    result = CliRunner().invoke(cli, [*args, "--keep", "3"])
    assert result.exit_code == 2
    assert "--keep needs --out to be a directory" in result.output


def test_backup_refuses_a_database_owned_by_another_user(tmp_path: Path) -> None:
    """Its WAL side files would end up owned by the wrong user and lock the agent out."""
    if os.geteuid() == 0:
        database = tmp_path / "custobot.db"
        open_store(database).close()
        os.chown(database, 65534, 65534)
    else:
        database = Path("/etc/hostname")  # owned by root, and not ours
    with pytest.raises(BackupError, match="run the backup as the database's owner"):
        backup_database(database, tmp_path / "out.db")
    assert not (tmp_path / "out.db").exists()
