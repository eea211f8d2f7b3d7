"""Schema versions: the store's tables are created and upgraded by the Alembic revisions in
``migrations/versions`` — run from here, on the node's own connection, with no ``alembic.ini``.

* a new database is brought from nothing to the newest revision (``Store.create``);
* a database of an older revision is upgraded when a node opens it (``lien serve``,
  ``lien verify``);
* a database made before the store had migrations (every table, no ``alembic_version``) is
  first recognised as revision ``0001``, which is exactly that schema;
* a database of a revision this code does not know (written by a newer lien) is refused:
  running older code on it could damage it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect

from . import personal, schema

SCRIPTS = Path(__file__).parent / "migrations"
#: the revision equal to the schema of the databases made before migrations existed
BASELINE = "0001"


class SchemaError(Exception):
    """The database's schema cannot be brought to this code's (the store re-raises it as its
    ``StoreError``)."""


def target_metadata() -> MetaData:
    """Every table of the three homes in one ``MetaData``: what the revisions must produce."""
    combined = MetaData()
    for home in (schema.chain, schema.local, personal.metadata):
        for table in home.sorted_tables:
            table.to_metadata(combined)
    return combined


def _config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}


def current(conn: Connection) -> str | None:
    """The database's revision; ``BASELINE`` for a database made before migrations existed,
    None for a database that holds none of our tables."""
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is None and inspect(conn).has_table("node_settings"):
        return BASELINE
    return revision


def upgrade(engine: Engine, *, create: bool = False) -> tuple[str | None, str]:
    """Bring the database to ``head()``; returns (revision before, revision after).

    ``create`` allows starting from an empty database; without it, a database that holds none
    of our tables is refused and left untouched: opening a wrong URL never creates tables."""
    with engine.begin() as conn:
        before = current(conn)
        if before is None and not create:
            raise SchemaError("no chain in this database: run `lien init`")
        if before is not None and before not in known_revisions():
            raise SchemaError(
                f"the database's schema is at revision {before}, which this version of lien "
                f"does not know (its newest is {head()}): it was written by a newer lien — "
                "run that version, or upgrade lien"
            )
        config = _config(conn)
        if before == BASELINE and MigrationContext.configure(conn).get_current_revision() is None:
            command.stamp(config, BASELINE)
        if before != head():
            command.upgrade(config, "head")
    return before, head()
