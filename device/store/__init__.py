"""The machine's SQLite store: sales, customer credit, stock recounts, alerts.

- ``device.store.db.open_store(path, durable=True) -> Store`` opens and migrates the
  file (WAL, ``synchronous=FULL``; ``durable=False`` is for simulation scratch files).
  ``Store.read()`` / ``Store.write()`` yield an ORM session; ``Store.transaction()``
  (write) and ``Store.snapshot()`` (read) yield the bare DB-API connection the vend
  path and the agent's frequent reads use.
- ``device.store.models``: the SQLModel tables (money ``int`` base units, UTC times).
- ``device.store.repo``: the functions that read and write them.
- ``device.migrations``: the schema's Alembic revisions, and how to add one.
"""
