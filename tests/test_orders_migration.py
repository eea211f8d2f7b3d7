"""Revision 0005 (standing orders) upgrades a database of revision 0004 (the members' wallet),
on SQLite and PostgreSQL: the chain and the personal rows are kept, the schema is the code's,
the chain still verifies, and a node opens it (its hot state reads the new table). (The
fixture keeps no keystore, so nothing is signed here: orders on a node's database are
``test_standing_orders_node``'s.)"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.runtime.migration import MigrationContext
from pg_support import fresh_database, pg_store
from sqlalchemy import text
from test_members import ASSOCIATION, _drift, _old_node

from lien.node.node import Node
from lien.node.setup import NodeDir, open_node, open_store
from lien.node.verify import verify_store
from lien.store import Store, migrate
from lien.store.migrate import _config

LOGIN = ("INSERT INTO personal_logins (account, email, kind, login_hash, kdf, backup, "
         "public_key, created_ms, status) VALUES (:a, 'contact@lelien.example', "
         "'association', '$argon2id$x', '{}', 'b1.x', :k, 5, 'open')")


def _revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _tables(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(store.engine.dialect.get_table_names(conn))


def test_a_database_of_revision_0004_is_upgraded_to_0005_and_a_node_opens_it(
        tmp_path: Path) -> None:
    node_dir = _old_node(tmp_path)  # revision 0003, then the real revision 0004 on it
    with Store(NodeDir(node_dir).database_url).engine.begin() as conn:
        command.upgrade(_config(conn), "0004")
        conn.execute(text(LOGIN), {"a": ASSOCIATION, "k": "00" * 32})
    with sqlite3.connect(node_dir / "node.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0004",)]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "personal_logins" in tables and "standing_orders" not in tables
    store = open_store(node_dir)
    try:
        assert _revision(store) == migrate.HEAD  # 0005, and any revision after it
        assert "standing_orders" in _tables(store)
        assert _drift(store) == []
        assert store.personal.login_by_email("contact@lelien.example") is not None
        assert store.orders_of(ASSOCIATION) == []
        report = verify_store(store)
        assert report.ok, report.problem
    finally:
        store.dispose()
    node: Node = open_node(node_dir)  # its hot state loads the active orders of the new table
    try:
        node.start()
        assert node.state.orders == {} and node.summary.next_order_due_ms in (None, 0)
    finally:
        node.stop()
        node.store.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_a_database_of_revision_0004_is_upgraded_to_0005_on_postgres(pg_url: str) -> None:
    store = pg_store(pg_url)
    with store.engine.begin() as conn:
        command.upgrade(_config(conn), "0004")
        conn.execute(text(LOGIN), {"a": ASSOCIATION, "k": "00" * 32})
    assert "standing_orders" not in _tables(store)
    assert _drift(store) != []
    assert store.upgrade() == ("0004", migrate.HEAD)
    assert _drift(store) == []
    assert store.personal.login_by_email("contact@lelien.example") is not None
    assert store.orders_of(ASSOCIATION) == []
