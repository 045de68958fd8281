"""Opening and migrating the machine's SQLite file."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from device.migrations.__main__ import new_revision
from device.store.db import (
    MIGRATIONS_DIR,
    Store,
    StoreError,
    connect,
    current_revision,
    head_revision,
    migrate,
    open_store,
    target_metadata,
)

VEND_TABLES = {"alert", "credit_entry", "sale", "stock_recount"}


def schema_diff(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, target_metadata()))


def pragma(engine: sa.Engine, name: str) -> object:
    with engine.connect() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_migrations_build_exactly_the_models_schema(tmp_path: Path) -> None:
    engine = connect(tmp_path / "fresh.db")
    assert current_revision(engine) is None
    assert schema_diff(engine) != []  # an empty database differs: the check can fail
    assert migrate(engine) == head_revision()
    assert current_revision(engine) == head_revision()
    tables = set(sa.inspect(engine).get_table_names())
    assert tables == {"alembic_version", *target_metadata().tables}
    assert tables >= VEND_TABLES
    assert schema_diff(engine) == []
    engine.dispose()


def test_a_new_revision_is_generated_on_top_of_head(tmp_path: Path) -> None:
    """What a later feature does to add its tables (see ``device/migrations/__init__.py``)."""
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    before = head_revision(migrations)
    count = len(list((migrations / "versions").glob("r*.py")))

    path = new_revision("nothing new yet", migrations)

    assert path.parent == migrations / "versions"
    assert path.name == f"r{count + 1:04d}_nothing_new_yet.py"
    text = path.read_text()
    assert f"down_revision: str | None = {before!r}" in text
    upgrade = text.split("def upgrade() -> None:")[1].split("def downgrade")[0]
    assert "pass" in upgrade
    assert "op." not in upgrade  # the models add nothing over head
    engine = connect(tmp_path / "upgraded.db")
    assert migrate(engine, migrations) == f"{count + 1:04d}" == head_revision(migrations)
    engine.dispose()


def test_reopening_a_migrated_database_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "machine.db"
    first = open_store(path)
    with first.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO stock_recount (slot_id, count, source, at) "
            "VALUES (1, 7, 'restock', '2026-01-01 00:00:00.000000')"
        )
    first.close()
    again = open_store(path)
    assert current_revision(again.engine) == head_revision()
    assert migrate(again.engine) == head_revision()  # re-running is a no-op
    with again.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count FROM stock_recount").scalar() == 7
    again.close()


def test_every_connection_is_wal_full_sync_with_foreign_keys(store: Store) -> None:
    assert pragma(store.engine, "journal_mode") == "wal"
    assert pragma(store.engine, "synchronous") == 2  # FULL
    assert pragma(store.engine, "foreign_keys") == 1
    assert pragma(store.engine, "busy_timeout") == 5000
    with store.transaction() as raw:  # the vend path's bare connection: same pool, same pragmas
        assert raw.execute("PRAGMA synchronous").fetchone() == (2,)
        assert raw.execute("PRAGMA foreign_keys").fetchone() == (1,)
    with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"), store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO credit_entry (at, kind, method, amount, balance, sale_id) "
            "VALUES ('2026-01-01 00:00:00', 'refund', 'coin', 5, 5, 999)"
        )


def test_scratch_store_for_simulation_trades_power_cut_safety(tmp_path: Path) -> None:
    store = open_store(tmp_path / "sim.db", durable=False)
    assert pragma(store.engine, "journal_mode") == "wal"
    assert pragma(store.engine, "synchronous") == 0  # OFF
    store.close()


def test_a_database_from_a_newer_custobot_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    open_store(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999'")
    raw.close()
    with pytest.raises(StoreError, match=r"newer\.db: cannot migrate.*9999"):
        open_store(path)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("this is not a database, it is a shopping list\n" * 100)
    with pytest.raises(StoreError, match=r"notes\.db: not a usable SQLite database"):
        open_store(path)
    assert path.read_text().startswith("this is not a database")


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "nowhere" / "machine.db")
    assert not (tmp_path / "nowhere").exists()
