"""Revision 0006 (validator-set changes) upgrades a database of revision 0005, on SQLite and
PostgreSQL: the chain is kept and still verifies (its validator set is its genesis's: no
change stored), the schema is the code's, and a node opened on it can then change its
validator set — the fixture's one validator rotates its key."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from pg_support import fresh_database, pg_store
from test_members import _drift, _old_node

from lien.ledger.crypto import new_signing_key, public_key_hex
from lien.ledger.state import ValidatorChange
from lien.node.node import Node, wall_clock_ms
from lien.node.setup import NodeDir, open_store
from lien.node.verify import verify_store
from lien.store import Store, migrate
from lien.store.migrate import _config
from lien.wallet import Member, TxMaker


def _tables(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(store.engine.dialect.get_table_names(conn))


def test_a_database_of_revision_0005_is_upgraded_and_its_validator_rotates(
        tmp_path: Path) -> None:
    node_dir = _old_node(tmp_path)  # revision 0003, then the real revisions up to 0005 on it
    with Store(NodeDir(node_dir).database_url).engine.begin() as conn:
        command.upgrade(_config(conn), "0005")
    with sqlite3.connect(node_dir / "node.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0005",)]
    store = open_store(node_dir)
    try:
        assert "validator_sets" in _tables(store)
        assert _drift(store) == []
        assert store.validator_changes() == []
        report = verify_store(store)
        assert report.ok, report.problem
    finally:
        store.dispose()
    # the node's one validator rotates its key: 1 of 1 signs the change
    old = NodeDir(node_dir).validator_key()
    new = new_signing_key()
    node = Node(open_store(node_dir), validator_key=old, more_validator_keys=(new,))
    node.start()
    try:
        mk = TxMaker(node.chain_id, wall_clock_ms)
        [change] = node.run([mk.set_validators([old], [public_key_hex(new)])])
        assert change.result == {"code": "ok"} and change.state == "final"
        [opened] = node.run([mk.open(Member.new())])
        assert opened.state == "final"  # signed by the new key alone: the set in force
        block = node.store.block(opened.height or 0)
        assert block is not None and set(block.signatures) == {public_key_hex(new)}
    finally:
        node.stop()
    assert node.store.validator_changes() == [
        ValidatorChange((change.height or 0) + 1, (public_key_hex(new),))]
    report = verify_store(node.store)
    assert report.ok, report.problem
    node.store.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_a_database_of_revision_0005_is_upgraded_on_postgres(pg_url: str) -> None:
    store = pg_store(pg_url)
    with store.engine.begin() as conn:
        command.upgrade(_config(conn), "0005")
    assert "validator_sets" not in _tables(store)
    assert _drift(store) != []
    assert store.upgrade() == ("0005", migrate.HEAD)
    assert _drift(store) == []
    assert store.validator_changes() == []
