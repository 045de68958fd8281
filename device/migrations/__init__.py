"""Alembic migrations for the machine's SQLite database (configured in code, no ini).

``device.store.open_store`` runs them to head on every start, so a device is
upgraded in place; ``create_all`` is never used on a live database.

How a later feature adds tables (orders, outbox, negotiations, ledger, ...):

1. Define the SQLModel tables in your own module (money ``sa.BigInteger``, times
   ``device.store.models.UTCDateTime``, enums ``EnumText``) and add the module's
   name to ``device.store.db.TABLE_MODULES`` so the migrations know its tables.
2. Generate the revision against a scratch database at the current head::

       .venv/bin/python -m device.migrations "add orders"

   This writes ``versions/r<NNNN>_add_orders.py`` (next number, ``down_revision``
   set to the current head). Read it and fix what autogenerate cannot know
   (data moves, server defaults). Never edit a revision that has shipped;
   add a new one.
3. ``tests/device/store/test_db.py`` then fails until the revisions build
   exactly the models' schema, and checks upgrade from empty and a re-run.
"""
