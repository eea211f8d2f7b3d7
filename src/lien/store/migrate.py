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
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, MetaData, inspect, text

from . import personal, schema

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPTS = Path(__file__).parent / "migrations"
#: Every revision in ``migrations/versions``, oldest first (a test checks the list against
#: Alembic's). Known here so that opening an up-to-date database, the common case, reads one
#: row and does not even import Alembic: a restart stays fast.
REVISIONS = ("0001", "0002", "0003")
#: the revision equal to the schema of the databases made before migrations existed
BASELINE = REVISIONS[0]
HEAD = REVISIONS[-1]


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


def _config(conn: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = conn
    return config


def current(conn: Connection) -> str | None:
    """The database's revision; ``BASELINE`` for a database made before migrations existed,
    None for a database that holds none of our tables."""
    tables = inspect(conn)
    if tables.has_table("alembic_version"):
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if revision is not None:
            return str(revision)
    return BASELINE if tables.has_table("node_settings") else None


def upgrade(engine: Engine, *, create: bool = False) -> tuple[str | None, str]:
    """Bring the database to ``HEAD``; returns (revision before, revision after).

    ``create`` allows starting from an empty database; without it, a database that holds none
    of our tables is refused and left untouched: opening a wrong URL never creates tables."""
    with engine.begin() as conn:
        before = current(conn)
        if before == HEAD:
            return before, HEAD
        if before is None and not create:
            raise SchemaError("no chain in this database: run `lien init`")
        if before is not None and before not in REVISIONS:
            raise SchemaError(
                f"the database's schema is at revision {before}, which this version of lien "
                f"does not know (its newest is {HEAD}): it was written by a newer lien — "
                "run that version, or upgrade lien"
            )
        from alembic import command

        config = _config(conn)
        if before == BASELINE and not inspect(conn).has_table("alembic_version"):
            command.stamp(config, BASELINE)
        command.upgrade(config, HEAD)
    return before, HEAD
