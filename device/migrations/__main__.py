"""Autogenerate the next revision: ``python -m device.migrations "add orders"``."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from device.store.db import MIGRATIONS_DIR, alembic_config, connect, migrate


def new_revision(message: str, migrations: Path = MIGRATIONS_DIR) -> Path:
    """Diff the models against a scratch database at head and write the next revision file."""
    scripts = ScriptDirectory.from_config(alembic_config(migrations))
    next_id = f"{len(list(scripts.walk_revisions())) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = connect(Path(scratch) / "head.db")
        migrate(engine, migrations)
        config = alembic_config(migrations)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            script = command.revision(config, message=message, autogenerate=True, rev_id=next_id)
        engine.dispose()
    if script is None or isinstance(script, list):
        raise RuntimeError("alembic did not write exactly one revision")
    return Path(script.path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit('usage: python -m device.migrations "what this revision adds"')
    sys.stdout.write(f"{new_revision(sys.argv[1])}\n")
