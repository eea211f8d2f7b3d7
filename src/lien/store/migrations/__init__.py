"""The Alembic migration environment of the store (``env.py``, ``versions/``), run by
``lien.store.migrate`` — no ``alembic.ini``: the node upgrades its own database on start."""
