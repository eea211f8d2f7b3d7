"""Schema versions: the store's tables are created and upgraded by the Alembic revisions in
``migrations/versions`` — run from here, on the node's own connection, with no ``alembic.ini``.

* a new database is brought from nothing to the newest revision (``Store.create``);
* a database of an older revision is upgraded when a node opens it (``lien serve``,
  ``lien verify``);
* a database made before the store had migrations (every table, no ``alembic_version``) is
  first recognised as revision ``0001``, which is exactly that schema;
* a database of a revision this code does not know (written by a newer lien) is refused:
  running older code on it could damage it.

An upgrade is all or nothing and one at a time (``_exclusive``): two processes opening one
database at once (``lien serve`` and ``lien verify``, two nodes on one PostgreSQL database)
upgrade it once, and an upgrade interrupted half-way (a crash, a failed step) leaves the
database at its revision before, to be upgraded again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, MetaData, NullPool, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from . import personal, schema

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPTS = Path(__file__).parent / "migrations"
#: Every revision in ``migrations/versions``, oldest first (a test checks the list against
#: Alembic's). Known here so that opening an up-to-date database, the common case, reads one
#: row and does not even import Alembic: a restart stays fast.
REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006")
#: the revision equal to the schema of the databases made before migrations existed
BASELINE = REVISIONS[0]
HEAD = REVISIONS[-1]
#: PostgreSQL advisory lock held by the transaction of an upgrade ("LIEN" in ASCII)
UPGRADE_LOCK = 0x4C49454E
#: SQLite: how long a second upgrader waits for the first one's transaction to end
UPGRADE_WAIT_MS = 600_000


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
    before: str | None = None
    try:
        with engine.connect() as conn:  # the common case, read only (the disk may be full)
            if current(conn) == HEAD:
                return HEAD, HEAD
        with _exclusive(engine) as conn:
            before = current(conn)
            if before == HEAD:
                return before, HEAD
            _upgrade(conn, before, create)
    except SQLAlchemyError as exc:
        raise SchemaError(
            f"upgrading the schema from revision {before} to {HEAD} failed, and the database "
            f"was left at revision {before}: {exc.orig if isinstance(exc, DBAPIError) else exc}"
        ) from exc
    return before, HEAD


def _upgrade(conn: Connection, before: str | None, create: bool) -> None:
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


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the database for an upgrade, to its end.

    PostgreSQL runs DDL in transactions; a transaction-scoped advisory lock makes a second
    upgrader wait, then find the database at ``HEAD``. SQLite's Python driver commits DDL as it
    goes unless a transaction is open, so the upgrade runs on a connection of its own in
    ``BEGIN IMMEDIATE`` (the write lock, taken before the revision is read)."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK})
            yield conn
        return
    own = create_engine(engine.url, poolclass=NullPool)

    @event.listens_for(own, "connect")
    def connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the transaction is ours, DDL included
        dbapi_connection.execute(f"PRAGMA busy_timeout={UPGRADE_WAIT_MS}")

    @event.listens_for(own, "begin")
    def begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with own.begin() as conn:
            yield conn
    finally:
        own.dispose()
