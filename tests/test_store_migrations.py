"""Schema versions (Alembic): a database made by the code before migrations existed is upgraded
when a node opens it, a newer one is refused, and the migrations build exactly the models'
tables (no drift). The personal-data home is erasable per member without touching the chain.

The fixture ``tests/fixtures/node_before_alembic`` is a node directory made by ``main``'s own
code before this change (its README says how); PostgreSQL has the same checks in
``test_store_postgres.py``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from cli_support import run
from lien.wallet import keystore
from lien.node.genesis import make_genesis
from node_support import bootstrapped_chain
from server_support import CLI_ENV, LIEN
from lien.wallet import Member, TxMaker
from lien.node.node import Node, wall_clock_ms
from lien.node.setup import SetupError, open_node, open_store
from lien.node.signing import SigningRecord
from lien.node.verify import verify_store
from lien.store import PersonalData, Profile, Store, StoreError, migrate, personal

FIXTURE = Path(__file__).parent / "fixtures" / "node_before_alembic"
CAMILLE, LEA = "9J3AT1DHZ845", "KKK7X47RTW48"


def _old_node(tmp_path: Path) -> Path:
    """A copy of the fixture node directory with its database rebuilt from the SQL text."""
    node_dir = tmp_path / "node"
    shutil.copytree(FIXTURE, node_dir, ignore=shutil.ignore_patterns("node.sql", "README.md"))
    with sqlite3.connect(node_dir / "node.db") as conn:
        conn.executescript((FIXTURE / "node.sql").read_text())
    return node_dir


def _revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _drift(store: Store) -> list[object]:
    with store.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), migrate.target_metadata()))


def test_the_fixture_is_a_database_from_before_migrations(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{_old_node(tmp_path) / 'node.db'}")
    with store.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        columns = {c["name"] for c in inspect(conn).get_columns("transactions")}
    store.dispose()
    assert "alembic_version" not in tables and "personal_profiles" not in tables
    assert "expires" not in columns
    assert _drift(store) != []  # so the test below proves the upgrade does something


def test_a_node_opens_and_upgrades_a_database_made_before_migrations(tmp_path: Path) -> None:
    node_dir = _old_node(tmp_path)
    # Made before nodes kept a signing record: the node will not guess one (a lost record
    # looks the same); verifying the chain from genesis writes it, on the operator's word.
    with pytest.raises(SetupError, match="signing.json is missing, but the database holds 14"):
        open_node(node_dir)
    rebuilt = run("verify", "--dir", node_dir, "--rebuild-signing-record")
    assert rebuilt.exit_code == 0, rebuilt.text
    assert "signing record rebuilt at block 14" in rebuilt.text
    node = open_node(node_dir)
    store = node.store
    assert isinstance(store, Store)
    try:
        assert _revision(store) == migrate.HEAD
        assert _drift(store) == []
        # The data is all there, and verifies from genesis.
        assert len(node.state.accounts) == 22
        assert node.state.height == 14
        report = verify_store(store)
        assert report.ok, report.problem
        assert report.transactions == 367
        # The new column was backfilled from the bodies.
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT body, expires FROM transactions").all()
        assert len(rows) == 367
        assert all(json.loads(bytes(body))["expires"] == expires for body, expires in rows)
        # The node keeps going on the upgraded database: a demo member pays another.
        history_before = len(store.history(CAMILLE, limit=1000))
        camille = Member(keystore.unseal(keystore.read(node_dir / "keys" / f"{CAMILLE}.json"),
                                         "demo"))
        lea = Member(keystore.unseal(keystore.read(node_dir / "keys" / f"{LEA}.json"), "demo"))
        assert camille.account == CAMILLE and lea.account == LEA
        node.start()
        try:
            [status] = node.run([TxMaker(node.chain_id, wall_clock_ms).pay(camille, lea, 100)])
        finally:
            node.stop()
        assert status.state == "final"
        assert len(store.history(CAMILLE, limit=1000)) == history_before + 1
        assert verify_store(store).ok
    finally:
        store.dispose()
    # Opening it again is a no-op: it is at the newest revision.
    again = open_store(node_dir)
    assert again.upgrade() == (migrate.HEAD, migrate.HEAD)
    again.dispose()


def _signed_as_the_database_ends(node_dir: Path) -> None:
    """The signing record the node would have kept (the fixture predates them)."""
    with sqlite3.connect(node_dir / "node.db") as conn:
        height, block_hash = conn.execute(
            "SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
    chain_id = json.loads((node_dir / "genesis.json").read_text())["chain_id"]
    SigningRecord(node_dir / "signing.json", chain_id).rebuild(height, bytes(block_hash).hex())


def test_lien_verify_upgrades_an_old_database(tmp_path: Path) -> None:
    node_dir = _old_node(tmp_path)
    refused = run("verify", "--dir", node_dir)
    assert refused.exit_code == 3 and "signing.json is missing" in refused.text, refused.text
    _signed_as_the_database_ends(node_dir)
    result = run("verify", "--dir", node_dir)
    assert result.exit_code == 0, result.text
    assert "367 transactions verified" in result.text


def test_an_upgrade_that_fails_half_way_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    """Revision 0002 adds a column and fills it; 0003 then fails (a view stands where its table
    goes). Nothing of 0002 may remain: the next start must not find half an upgrade."""
    node_dir = _old_node(tmp_path)
    with sqlite3.connect(node_dir / "node.db") as conn:
        conn.execute("CREATE VIEW personal_profiles AS SELECT 1 AS account")
    with pytest.raises(StoreError, match="left at revision 0001"):
        open_store(node_dir)
    with sqlite3.connect(node_dir / "node.db") as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        columns = {row[1] for row in conn.execute("PRAGMA table_info(transactions)")}
        assert "alembic_version" not in tables and "expires" not in columns
        conn.execute("DROP VIEW personal_profiles")
    store = open_store(node_dir)
    assert _revision(store) == migrate.HEAD and _drift(store) == []
    store.dispose()


def test_processes_opening_an_old_database_at_once_upgrade_it_once(tmp_path: Path) -> None:
    node_dir = _old_node(tmp_path)
    _signed_as_the_database_ends(node_dir)
    verifiers = [subprocess.Popen([LIEN, "verify", "--dir", str(node_dir)], env=CLI_ENV,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(4)]
    outputs = [(v.wait(120), v.communicate()[0]) for v in verifiers]
    assert all(code == 0 and "367 transactions verified" in out for code, out in outputs), outputs
    store = open_store(node_dir)
    assert _revision(store) == migrate.HEAD and _drift(store) == []
    store.dispose()


def test_replay_protection_survives_a_restart_without_loading_a_day_of_ids(
    tmp_path: Path,
) -> None:
    """After a restart the replay memory starts empty (restart costs the state's size, not a
    day of ids): a transaction executed before the restart, submitted again, is still refused
    as a duplicate at block time and its sender hears its first outcome; the chain holds it
    once."""
    chain = bootstrapped_chain(tmp_path, "lien-replay")
    genesis, first = chain.genesis, chain.bootstrap
    store = Store(chain.url)
    assert store.load_state().seen == {}
    assert store.executed_ids([tx.id for tx in genesis.bootstrap]) == {
        tx.id for tx in genesis.bootstrap}
    node = Node(store, validator_key=genesis.validator)
    node.start()
    try:
        # Appended straight to the log, as another writer would: no admission shortcut.
        node.ordering.append([tx.encode() for tx in genesis.bootstrap], wall_clock_ms(), True)
        fresh = TxMaker(genesis.config.chain_id, wall_clock_ms).open(Member.new())
        again = node.run([*genesis.bootstrap, fresh])
    finally:
        node.stop()
    assert [s.to_json() for s in again[:-1]] == [s.to_json() for s in first]
    assert again[-1].result == {"code": "ok"}
    with sqlite3.connect(tmp_path / "node.db") as conn:
        (rows,) = conn.execute("SELECT count(*) FROM transactions").fetchone()
    assert rows == len(genesis.bootstrap) + 1
    store.dispose()


def _newer_database(tmp_path: Path) -> Path:
    node_dir = _old_node(tmp_path)
    open_store(node_dir).dispose()
    with sqlite3.connect(node_dir / "node.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    return node_dir


def test_a_database_of_a_newer_revision_is_refused(tmp_path: Path) -> None:
    node_dir = _newer_database(tmp_path)
    with pytest.raises(StoreError, match="revision 9999, which this version of lien does not "
                                         "know .*newer lien"):
        open_node(node_dir)
    for command in ("verify", "serve", "export"):
        result = run(command, "--dir", node_dir)
        assert result.exit_code == 2, (command, result.text)
        assert "revision 9999" in result.text, (command, result.text)


def test_a_database_without_a_chain_is_left_untouched(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(StoreError, match="no chain in this database: run `lien init`"):
        store.upgrade()
    with store.engine.connect() as conn:
        assert inspect(conn).get_table_names() == []
    store.dispose()


def test_the_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'node.db'}")
    store.create(make_genesis("lien-drift", wall_clock_ms()).config)
    assert _revision(store) == migrate.HEAD
    assert _drift(store) == []
    store.dispose()


def test_personal_data_is_erased_per_member_and_the_chain_still_verifies(tmp_path: Path) -> None:
    node_dir = _old_node(tmp_path)
    store = open_store(node_dir)
    data: PersonalData = store.personal
    data.set_profile(Profile(CAMILLE, "Camille Martin", "camille@example.org", 1))
    data.set_profile(Profile(LEA, "Léa Bernard", None, 2))
    assert data.profile(CAMILLE) == Profile(CAMILLE, "Camille Martin", "camille@example.org", 1)

    assert data.erase_member(CAMILLE) == 1
    assert data.profile(CAMILLE) is None
    assert data.profile(LEA) == Profile(LEA, "Léa Bernard", None, 2)
    assert data.erase_member(CAMILLE) == 0
    # The chain never held any of it: it verifies, and the account is still there.
    report = verify_store(store)
    assert report.ok, report.problem
    assert store.account_row(CAMILLE) is not None
    store.dispose()


def test_every_personal_table_is_keyed_by_account_and_apart_from_the_chain() -> None:
    """``erase_member`` deletes by ``account`` in every table of the personal home, and no
    chain or node-local table points into it."""
    from lien.store import schema

    for table in personal.metadata.sorted_tables:
        assert "account" in table.c, table.name
        assert table.name.startswith("personal_"), table.name
    personal_names = set(personal.metadata.tables)
    for home in (schema.chain, schema.local):
        assert not personal_names & set(home.tables)
        for table in home.sorted_tables:
            assert not {fk.column.table.name for fk in table.foreign_keys} & personal_names


def test_the_revisions_known_without_alembic_are_alembics() -> None:
    """``migrate.REVISIONS`` lets a node open an up-to-date database without Alembic: it
    must list exactly the revision files, oldest first, in one line of descent."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrate.SCRIPTS))
    scripts = ScriptDirectory.from_config(config)
    walked = [s.revision for s in scripts.walk_revisions()]  # newest first
    assert tuple(reversed(walked)) == migrate.REVISIONS
    assert scripts.get_heads() == [migrate.HEAD]
