"""The machine's SQLite store (see ``device.store.db`` and ``device.migrations``)."""
