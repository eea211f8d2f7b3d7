"""The Alembic migration environment of the store (``env.py``, ``versions/``), run by
``lien.store.migrate`` — no ``alembic.ini``: the node upgrades its own database on start.

Changing a table: change the model (``schema.py`` or ``personal.py``), add the next revision
file in ``versions/`` (same shape as ``0003``), and append its id to ``migrate.REVISIONS``.
``tests/test_store_migrations.py`` and ``tests/test_store_postgres.py`` fail until the
revisions build exactly the models, on SQLite and on PostgreSQL."""
