"""The same node, store and verification on a real PostgreSQL (a fresh database per run)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lien.ledger import check_all_invariants
from lien.node.genesis import make_genesis
from lien.node.integrity import quick_check
from lien.node.node import Node, wall_clock_ms
from lien.node.verify import verify_store
from lien.store import Profile, Store, StoreError, migrate
from lien.wallet import Member, TxMaker

from pg_support import fresh_database, pg_store


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def _chain_with_payments(url: str) -> tuple[Store, list[str]]:
    genesis = make_genesis("lien-pg", wall_clock_ms())
    store = pg_store(url)
    store.create(genesis.config)
    node = Node(store, validator_key=genesis.validator)
    node.start()
    try:
        maker = TxMaker(node.chain_id, wall_clock_ms)
        alice, shop = Member.new(), Member.new("business")
        setup = [maker.open(alice), maker.open(shop), maker.approve(genesis.admins[0], alice),
                 maker.approve(genesis.admins[0], shop), maker.issue([genesis.comptoir], alice, 5000)]
        # the founders' accounts first: admission checks the signer of each approval
        statuses = node.run(genesis.bootstrap) + node.run(setup)
        assert {s.result["code"] for s in statuses if s.result} == {"ok"}
        pays = [maker.pay(alice, shop, 500 * (i + 1), memo=f"achat {i}") for i in range(10)]
        codes = [s.result["code"] for s in node.run(pays) if s.result]
    finally:
        node.stop()
    return store, codes


def test_node_commits_and_verifies_on_postgres(pg_url: str) -> None:
    store, codes = _chain_with_payments(pg_url)
    # 5000 nantie + 20000 of credit (default floor): 500+1000+... reaches 27500 at the 10th.
    assert codes.count("ok") == 9
    assert codes[-1] == "insufficient_funds"
    report = verify_store(store)
    assert report.ok, report.problem
    state = store.load_state()
    check_all_invariants(state)
    assert state.totals["LIEN"].credit == 0


def test_restart_on_postgres_keeps_state_and_history(pg_url: str) -> None:
    store, _ = _chain_with_payments(pg_url)
    before = store.load_state()
    again = pg_store(pg_url)
    after = again.load_state()
    assert after.all_lines() == before.all_lines()
    assert after.state_root == before.state_root
    last = again.last_block()
    assert last is not None and last.header.height == before.height


def test_verify_names_an_altered_balance_on_postgres(pg_url: str) -> None:
    store, _ = _chain_with_payments(pg_url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE memberships SET nantie = nantie + 1 WHERE account = "
            "(SELECT account FROM memberships WHERE nantie > 0 ORDER BY account LIMIT 1)"
        )
    report = verify_store(store)
    assert not report.ok
    assert "balance of account" in report.problem


def test_verify_checks_rows_in_worker_processes_on_postgres(pg_url: str) -> None:
    store, _ = _chain_with_payments(pg_url)
    assert verify_store(store, processes=True).ok
    with store.engine.begin() as conn:  # one bit of one signature
        conn.exec_driver_sql(
            "UPDATE transactions SET signatures = overlay(signatures placing "
            "decode(lpad(to_hex(get_byte(signatures, 40) # 1), 2, '0'), 'hex') from 41 for 1) "
            "WHERE seq = (SELECT max(seq) FROM transactions)"
        )
    report = verify_store(store, processes=True)
    assert not report.ok
    assert "bad signature" in report.problem


def test_the_start_up_check_on_postgres(pg_url: str) -> None:
    """Its database-side reads (block links, history entries, sums) as on SQLite: a chain
    passes; two block rows swapped, then a balance changed, are named."""
    store, _ = _chain_with_payments(pg_url)
    report = quick_check(store)
    assert report.ok and report.blocks == report.latest_blocks > 2, report
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE blocks SET height = -1 WHERE height = 2")
        conn.exec_driver_sql("UPDATE blocks SET height = 2 WHERE height = 3")
        conn.exec_driver_sql("UPDATE blocks SET height = 3 WHERE height = -1")
    swapped = quick_check(store)
    assert (swapped.check, swapped.height) == ("header chain", 2), swapped
    assert "block 2: prev does not link to block 1's hash" in swapped.problem
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE blocks SET height = -1 WHERE height = 2")
        conn.exec_driver_sql("UPDATE blocks SET height = 2 WHERE height = 3")
        conn.exec_driver_sql("UPDATE blocks SET height = 3 WHERE height = -1")
        conn.exec_driver_sql("UPDATE memberships SET credit = credit + 1 WHERE account = "
                             "(SELECT account FROM memberships ORDER BY account LIMIT 1)")
    changed = quick_check(store)
    assert changed.check == "money totals", changed
    assert "mutual credit of LIEN sums to 1, not 0" in changed.problem


def _drift(store: Store) -> list[object]:
    with store.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), migrate.target_metadata()))


def test_the_migrations_build_exactly_the_models_on_postgres(pg_url: str) -> None:
    store, _ = _chain_with_payments(pg_url)
    with store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == migrate.HEAD
    assert _drift(store) == []


def test_a_database_from_before_migrations_is_upgraded_on_postgres(pg_url: str) -> None:
    """Take the chain back to the schema ``create_all`` made before migrations (revision 0001,
    no version table), then open it as a node does: upgraded, backfilled, verified."""
    store, _ = _chain_with_payments(pg_url)
    before = store.load_state()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
        for table in ("validator_sets", "standing_orders", "personal_notifications", "personal_contacts", "personal_sessions",
                      "personal_logins", "personal_profiles"):
            conn.exec_driver_sql(f"DROP TABLE {table}")
        conn.exec_driver_sql("ALTER TABLE transactions DROP COLUMN expires")
    assert _drift(store) != []
    again = pg_store(pg_url)
    assert again.upgrade() == ("0001", migrate.HEAD)
    assert _drift(again) == []
    after = again.load_state()
    assert after.all_lines() == before.all_lines()
    with again.engine.connect() as conn:
        ids = [bytes(i).hex() for (i,) in conn.exec_driver_sql("SELECT id FROM transactions")]
        (backfilled,) = conn.exec_driver_sql(
            "SELECT count(*) FROM transactions WHERE expires > 0").one()
    assert len(ids) == backfilled and set(before.seen) <= set(ids)
    assert again.executed_ids(ids) == set(ids)  # what replay protection reads after a restart
    report = verify_store(again)
    assert report.ok, report.problem


def test_a_newer_database_is_refused_on_postgres(pg_url: str) -> None:
    store, _ = _chain_with_payments(pg_url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="revision 9999, which this version of lien does not"):
        pg_store(pg_url).upgrade()


def test_personal_data_is_erased_per_member_on_postgres(pg_url: str) -> None:
    store, _ = _chain_with_payments(pg_url)
    accounts = sorted(store.load_state().accounts)[:2]
    for i, account in enumerate(accounts):
        store.personal.set_profile(Profile(account, f"membre {i}", None, i))
    assert store.personal.erase_member(accounts[0]) == 1
    assert store.personal.profile(accounts[0]) is None
    assert store.personal.profile(accounts[1]) == Profile(accounts[1], "membre 1", None, 1)
    report = verify_store(store)
    assert report.ok, report.problem


def test_one_node_at_a_time_writes_to_a_postgres_database(pg_url: str) -> None:
    """Two node directories pointing at one database would each write their own block at the
    next height: the second node is refused while the first runs, and starts once it stopped."""
    genesis = make_genesis("lien-pg", wall_clock_ms())
    pg_store(pg_url).create(genesis.config)
    first = Node(pg_store(pg_url), validator_key=genesis.validator)
    first.start()
    try:
        with pytest.raises(StoreError, match="another node writes to this database"):
            Node(pg_store(pg_url), validator_key=genesis.validator)
        assert first.run(genesis.bootstrap)[0].state == "final"
    finally:
        first.stop()
    second = Node(pg_store(pg_url), validator_key=genesis.validator)
    second.start()
    second.stop()
    assert second.summary.height == first.summary.height > 0
