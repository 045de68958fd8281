"""Open the machine's SQLite file safely and bring its schema to the current revision.

Every connection gets WAL, ``synchronous=FULL`` (a committed sale survives a power
cut), ``foreign_keys=ON`` and a busy timeout, set by an engine ``connect`` event.
Write transactions start with ``BEGIN IMMEDIATE`` so a read-then-write (the credit
check before a sale) can never be overtaken by another writer.
"""

from __future__ import annotations

import importlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.pool import PoolProxiedConnection
from sqlmodel import Session

from device.errors import CustobotError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Every module that defines tables; a later feature appends its own (see device.migrations).
TABLE_MODULES = ("device.store.models", "dashboard.models", "device.procurement.models")
_WRITE = "custobot_write"
log = structlog.get_logger()


class StoreError(CustobotError):
    """The database cannot be opened or migrated; ``path`` names the file."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"database {path}: {problem}")
        self.path = path
        self.problem = problem


def connect(path: Path | str, *, durable: bool = True, busy_timeout_ms: int = 5000) -> sa.Engine:
    """An engine on ``path`` with the pragmas set on every new connection.

    ``durable=False`` (for simulations on a scratch file only) sets
    ``synchronous=OFF``: commits survive a crash of the process but not a power cut,
    and no checkpoint waits for the disk (a simulated year commits ~20,000 times).
    """
    engine = sa.create_engine(f"sqlite:///{path}")
    synchronous = "FULL" if durable else "OFF"

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun by _begin below
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def writer(engine: sa.Engine) -> sa.Engine:
    """``engine`` (from ``connect``) whose transactions begin with ``BEGIN IMMEDIATE``.

    A transaction that reads and then writes must take the write lock first: a
    deferred one that another connection writes under fails with "database is
    locked" at once, whatever the busy timeout.
    """
    return engine.execution_options(**{_WRITE: True})


@contextmanager
def write_session(engine: sa.Engine) -> Iterator[Session]:
    """One ``BEGIN IMMEDIATE`` ORM transaction on ``engine``: committed on exit, rolled back on error."""
    with Session(writer(engine), expire_on_commit=False) as session, session.begin():
        yield session


def target_metadata() -> sa.MetaData:
    """The tables of ``TABLE_MODULES`` only: what the migrations must build.

    SQLModel keeps every table of the process in one global metadata; the reference
    supplier's own tables live there too when both run in one process (tests, demo),
    and they are not the machine's.
    """
    metadata = sa.MetaData()
    for name in TABLE_MODULES:
        module = importlib.import_module(name)
        for obj in vars(module).values():
            table = getattr(obj, "__table__", None)
            if isinstance(table, sa.Table) and getattr(obj, "__module__", None) == name:
                table.to_metadata(metadata)
    return metadata


def alembic_config(migrations: Path = MIGRATIONS_DIR) -> Config:
    """Alembic configured in code (no ini file), pointing at ``device/migrations``."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    return config


def head_revision(migrations: Path = MIGRATIONS_DIR) -> str:
    """The revision this version of custobot expects."""
    head = ScriptDirectory.from_config(alembic_config(migrations)).get_current_head()
    if head is None:
        raise StoreError(str(migrations), "no migrations found")
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at (``None`` before the first migration)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: sa.Engine, migrations: Path = MIGRATIONS_DIR) -> str:
    """Upgrade the database to head in one write transaction; a no-op when already there."""
    config = alembic_config(migrations)
    try:
        with writer(engine).begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except CommandError as exc:  # e.g. a database written by a newer custobot
        raise StoreError(str(engine.url.database), f"cannot migrate: {exc}") from None
    return head_revision(migrations)


class Store:
    """The machine's database: short read and write sessions over one engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        # Plain-SQL transactions keep one pooled connection per thread between them
        # (a pool checkout and check-in cost as much as a vend's queries); nested
        # ones take another from the pool. ``close()`` hands them all back.
        self._idle = threading.local()
        self._kept: set[PoolProxiedConnection] = set()
        self._kept_lock = threading.Lock()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only snapshot; nothing is committed."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction (``BEGIN IMMEDIATE``): committed on exit, rolled back on error."""
        with write_session(self.engine) as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the pooled DB-API connection: the vend path's ``write()``.

        A simulated year is ~40,000 vends; SQLAlchemy's per-transaction bookkeeping
        costs more than SQLite itself, so the vend path's plain SQL (``device.store.repo``)
        runs here. Same pool, same pragmas, same ``BEGIN IMMEDIATE``.
        """
        with self._raw("BEGIN IMMEDIATE") as connection:
            yield connection
            connection.commit()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on the pooled DB-API connection: ``read()`` for plain SQL.

        The agent reads counts and sales after every poll and sale; an ORM session
        costs several times the queries themselves. Nothing is committed.
        """
        with self._raw("BEGIN") as connection:
            yield connection
            connection.rollback()

    @contextmanager
    def _raw(self, begin: str) -> Iterator[sqlite3.Connection]:
        pooled: PoolProxiedConnection | None = getattr(self._idle, "pooled", None)
        if pooled is None:
            pooled = self.engine.raw_connection()
        else:
            self._idle.pooled = None
            with self._kept_lock:
                self._kept.discard(pooled)
        try:
            connection = pooled.driver_connection
            assert isinstance(connection, sqlite3.Connection)
            connection.execute(begin)
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
        except BaseException:
            pooled.close()  # back to the pool, which resets it
            raise
        if getattr(self._idle, "pooled", None) is None:
            self._idle.pooled = pooled
            with self._kept_lock:
                self._kept.add(pooled)
        else:
            pooled.close()

    def close(self) -> None:
        with self._kept_lock:
            kept, self._kept = self._kept, set()
        for pooled in kept:
            pooled.close()
        self._idle = threading.local()
        self.engine.dispose()


def open_store(path: Path | str, *, durable: bool = True, busy_timeout_ms: int = 5000) -> Store:
    """Open (creating if needed) and migrate the database at ``path``: the one way in."""
    target = Path(path)
    if not target.parent.is_dir():
        raise StoreError(str(target), f"directory {target.parent} does not exist")
    engine = connect(target, durable=durable, busy_timeout_ms=busy_timeout_ms)
    try:
        revision = migrate(engine)
    except (sa.exc.DatabaseError, StoreError) as exc:
        engine.dispose()
        if isinstance(exc, StoreError):
            raise
        raise StoreError(str(target), f"not a usable SQLite database: {exc.orig}") from None
    log.info("store_opened", path=str(target), revision=revision, durable=durable)
    return Store(engine)
