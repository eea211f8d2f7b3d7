"""Alembic's entry point: run the revisions on the connection ``lien.store.migrate`` hands
over (in ``config.attributes``), inside its transaction."""

from __future__ import annotations

from alembic import context

from lien.store.migrate import target_metadata

connection = context.config.attributes["connection"]
# render_as_batch: SQLite alters a column only by copying its table, which batch mode does.
context.configure(connection=connection, target_metadata=target_metadata(),
                  render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
