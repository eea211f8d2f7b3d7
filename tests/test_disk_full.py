"""A full disk: payments are refused with 503 ``disk_full`` (nothing accepted, nothing lost),
queries keep working, and the node resumes by itself once space is freed — no restart.

Real filesystems, no simulated errors: each test mounts a small tmpfs (the tests run as root,
as CI does), puts the node on it and fills it with a file that takes every free byte, so that
SQLite, PostgreSQL (a tablespace on the tmpfs) and the signing record really meet ``ENOSPC``.
Freeing space is deleting that file. The served tests run ``lien serve`` as a child process
(its log outside the full disk) and end with ``lien verify``; they print the figures of the
results table (refusals, time to resume, payments accepted and final before and after).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from server_support import Server, poll
from system_support import (
    JSON,
    Bank,
    assert_money_invariants,
    database,
    init_demo,
    post_tx,
    verify,
)

from lien.ledger import Tx
from lien.node.genesis import Genesis, make_genesis
from lien.node.node import DiskFull, Node, Status, wall_clock_ms
from lien.node.signing import SigningRecord
from lien.node.verify import verify_store
from lien.ordering import EmbeddedLog
from lien.store import Store, StoreFull, out_of_space
from lien.wallet import Member, TxMaker

pytestmark = pytest.mark.slow

#: Payments tried on a full disk before giving up on seeing it refuse them (a bound, never
#: reached: the first few fill what SQLite's files had left).
payments_on_full_disk_max = 2000
resume_timeout_s = 30.0
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


# -- a small disk ---------------------------------------------------------------------------------
@contextlib.contextmanager
def small_disk(where: Path, size: str, owner: str | None = None) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` for the duration (unmounted even on failure)."""
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                   check=True, capture_output=True, text=True)
    try:
        if owner is not None:
            subprocess.run(["chown", f"{owner}:{owner}", str(where)], check=True)
        yield where
    finally:
        done = subprocess.run(["umount", str(where)], capture_output=True, text=True)
        if done.returncode:  # still in use: detach it anyway, and say so
            subprocess.run(["umount", "-l", str(where)], check=True)
            raise AssertionError(f"umount {where}: {done.stderr}")


def fill(disk: Path) -> Path:
    """A file that takes every free byte of ``disk``; delete it to free the space."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 20)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
    finally:
        os.close(fd)
    assert os.statvfs(disk).f_bavail == 0
    return filler


# -- a node served on a small disk ---------------------------------------------------------------
@dataclass
class Payments:
    """Payments from ``payer`` to ``payee`` through the API, and what each was answered."""

    server: Server
    bank: Bank
    payer: Member
    payee: Member
    client: httpx.Client
    accepted: dict[str, Tx] = field(default_factory=dict)  #: answered accepted or final
    refused: dict[str, Tx] = field(default_factory=dict)  #: answered 503 disk_full, not since
    refusals: int = 0  #: answers 503 disk_full

    def pay(self, tx: Tx | None = None, wait: str = "accepted") -> httpx.Response:
        tx = tx or self.bank.maker.pay(self.payer, self.payee, 1)
        response = post_tx(self.client, self.server.api, tx, wait)
        if response.status_code in (200, 202):
            assert response.json()["status"] in ("accepted", "final"), response.text
            self.accepted[tx.id] = tx
            self.refused.pop(tx.id, None)
        else:
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "disk_full", response.text
            assert response.headers["Retry-After"] == "1"
            self.refused[tx.id] = tx
            self.refusals += 1
        return response

    def pay_batch(self, count: int) -> httpx.Response:
        """``count`` payments in one batch: all answered, or the whole batch refused."""
        txs = [self.bank.maker.pay(self.payer, self.payee, 1) for _ in range(count)]
        response = self.client.post(f"{self.server.api}/transactions/batch", headers=JSON,
                                    content=json.dumps({"transactions": [t.to_json() for t in txs]}))
        if response.status_code == 200:
            for tx, item in zip(txs, response.json()["items"], strict=True):
                assert item["status"] in ("accepted", "final"), item
                self.accepted[tx.id] = tx
        else:
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "disk_full", response.text
            self.refused.update((tx.id, tx) for tx in txs)
            self.refusals += 1
        return response

    def until_refused(self, refusals: int) -> int:
        """Pay until ``refusals`` payments in a row were refused; how many were accepted."""
        accepted, in_a_row = len(self.accepted), 0
        for _ in range(payments_on_full_disk_max):
            in_a_row = in_a_row + 1 if self.pay().status_code == 503 else 0
            if in_a_row == refusals:
                return len(self.accepted) - accepted
        raise AssertionError(f"{payments_on_full_disk_max} payments on a full disk, "
                             f"{len(self.refused)} refused")

    def keep_refused(self, duration_s: float) -> None:
        """For ``duration_s``, resend the refused payments as wallets do: each is refused."""
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            for tx in list(self.refused.values()):
                assert self.pay(tx).status_code == 503

    def node_state(self) -> dict[str, bool]:
        response = self.client.get(f"{self.server.api}/chain")
        assert response.status_code == 200, response.text
        return dict(response.json()["node"])

    def resumed(self) -> bool:
        """Whether a payment refused earlier goes through now (the same signed one)."""
        tx = next(iter(self.refused.values()))
        return self.pay(tx, "final").status_code == 200

    def unknown(self, txs: Iterable[Tx]) -> bool:
        """Whether the node knows none of ``txs`` (refused: in no log, in no block)."""
        return all(self.client.get(f"{self.server.api}/transactions/{tx.id}").status_code
                   == 404 for tx in txs)

    def assert_all_final_once(self, path: Path) -> None:
        """Every payment ever answered accepted is final, stored once; no refused one is."""
        for tx_id in self.accepted:
            status = self.client.get(f"{self.server.api}/transactions/{tx_id}").json()
            assert status["status"] == "final", status
        with database(path) as conn:
            stored = dict(conn.execute("SELECT lower(hex(id)), count(*) FROM transactions "
                                       "GROUP BY id").fetchall())
        assert all(stored.get(tx_id) == 1 for tx_id in self.accepted)
        assert not any(tx_id in stored for tx_id in self.refused)


@contextlib.contextmanager
def served_on_small_disk(tmp_path: Path) -> Iterator[tuple[Path, Payments]]:
    """``lien init --demo`` on a fresh 8 MiB tmpfs, served by ``lien serve`` (its log outside),
    with a payer holding nantie and a payee; the node is stopped (if the test did not) and the
    disk unmounted after."""
    with small_disk(tmp_path / "disk", "8m") as disk:
        path = disk / "node"
        init_demo(path)
        with (path / "node.toml").open("a") as settings:  # the tests resend for seconds
            settings.write("\n[limits]\nenabled = false\n")
        server = Server(path, log_file=tmp_path / "serve.log")
        server.start()
        try:
            bank = Bank(path, server.api)
            payer, payee = Member.new("personal", "payeur"), Member.new("business", "commerce")
            with httpx.Client(timeout=30) as client:
                bank.open_members(client, [payer, payee], nantie=100_000)
                yield path, Payments(server, bank, payer, payee, client)
        finally:
            server.stop()


def test_a_full_disk_refuses_payments_and_the_node_resumes_by_itself(tmp_path: Path) -> None:
    with served_on_small_disk(tmp_path) as (path, payments):
        for _ in range(20):
            assert payments.pay(wait="final").status_code == 200
        before = len(payments.accepted)
        pid = payments.server.proc.pid if payments.server.proc else None

        filler = fill(path.parent)
        # a batch on the full disk: refused whole (or taken whole, had SQLite room left)
        first_batch = payments.pay_batch(10).status_code
        while_full = payments.until_refused(refusals=10)
        assert payments.node_state() == {"running": True, "halted": False, "ready": True,
                                         "disk_full": True}
        # queries keep working; refused payments sent again are refused again, for as long
        # as the disk stays full (2 s: long enough for the node's retries to space out)
        account = payments.client.get(f"{payments.server.api}/accounts/"
                                      f"{payments.payer.account}")
        assert account.status_code == 200, account.text
        assert "disque plein" in payments.client.get(payments.server.url).text
        payments.keep_refused(2.0)
        refused, refusals = len(payments.refused), payments.refusals
        assert payments.unknown(payments.refused.values())  # forgotten, not accepted

        filler.unlink()
        freed = time.monotonic()
        poll(payments.resumed, resume_timeout_s, "the node to take payments again")
        resume_s = time.monotonic() - freed
        assert not payments.node_state()["disk_full"]
        assert payments.unknown(payments.refused.values())
        for tx in list(payments.refused.values()):  # each refused payment, sent again: once
            assert payments.pay(tx, "final").status_code == 200
        for _ in range(20):
            assert payments.pay(wait="final").status_code == 200
        assert payments.server.proc is not None and payments.server.proc.pid == pid
        assert payments.server.starts == 1  # resumed without a restart
        log = payments.server.log()
        assert log.count("the disk is full") == 1 and log.count("disk space is back") == 1, log
        payments.assert_all_final_once(path)
        final = len(payments.accepted)
        payments.server.stop()  # Ctrl-C: a clean stop, exit 0
        done = verify(path)
        assert done.returncode == 0, done.message
        assert_money_invariants(path)
    print(f"\ndisk full (served, SQLite on tmpfs): {before} payments final before; "
          f"a batch of 10 answered {first_batch}; "
          f"{while_full} accepted on the full disk, then {refused} refused ({refusals} "
          "answers 503 disk_full to them and their retries over 2 s); "
          f"space freed -> payments taken again after {resume_s * 1000:.0f} ms, without a "
          f"restart; {final} accepted, all {final} final (none lost, none twice); "
          "lien verify: 0")


def test_kill_9_while_a_block_waits_for_space_loses_nothing(tmp_path: Path) -> None:
    with served_on_small_disk(tmp_path) as (path, payments):
        for _ in range(5):
            assert payments.pay(wait="final").status_code == 200
        # SQLite's WAL starts again from its beginning: the log's next writes fit in the room
        # its file already has, so on the full disk the log still takes a payment and the
        # block loop is what waits (its signing record needs a new page of the disk).
        with database(path) as conn:
            assert conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0] == 0
        filler = fill(path.parent)
        payments.until_refused(refusals=3)
        api = payments.server.api
        waiting = [tx_id for tx_id in payments.accepted
                   if payments.client.get(f"{api}/transactions/{tx_id}").json()["status"]
                   == "accepted"]
        assert waiting, "no payment accepted on the full disk, waiting for its block"
        assert payments.node_state()["disk_full"]

        payments.server.kill9()
        payments.server.start()  # on the disk still full: it serves, re-executes, waits
        poll(lambda: payments.node_state()["disk_full"], 10, "the restarted node to wait")
        assert payments.pay().status_code == 503
        account = payments.client.get(f"{api}/accounts/{payments.payee.account}")
        assert account.status_code == 200, account.text

        filler.unlink()
        poll(payments.resumed, resume_timeout_s, "the restarted node to take payments again")
        payments.assert_all_final_once(path)
        payments.server.stop()
        done = verify(path)
        assert done.returncode == 0, done.message
        assert_money_invariants(path)
    print(f"\ndisk full, kill -9 while {len(waiting)} accepted payment(s) waited for their "
          f"block: restarted on the full disk, then space freed -> all {len(payments.accepted)} "
          "accepted payments final, lien verify: 0")


# -- the block loop, in process, with the log on another disk -------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def full_disk_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A small disk and the URL of an empty database on it: SQLite, or PostgreSQL (a database
    in a tablespace on the disk; PostgreSQL's own WAL stays on its volume)."""
    if request.param == "sqlite":
        with small_disk(tmp_path / "disk", "8m") as disk:
            yield disk, f"sqlite:///{disk / 'node.db'}"
        return
    name = f"lien_full_{uuid.uuid4().hex[:12]}"
    # PostgreSQL's server runs as ``postgres``, which cannot enter pytest's private tmp_path
    home = Path(tempfile.mkdtemp(prefix="lien-pg-"))
    home.chmod(0o755)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(home.rmdir)
        cleanup.callback((home / "disk").rmdir)
        disk = cleanup.enter_context(small_disk(home / "disk", "32m", owner="postgres"))
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE {name} LOCATION '{disk}'")
            conn.execute(f"CREATE DATABASE {name} TABLESPACE {name}")
        try:
            yield disk, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
                conn.execute(f"DROP TABLESPACE {name}")


@dataclass
class SplitNode:
    """A validator whose chain store is on the small disk and whose ordering log and signing
    record are not: the log takes every payment, and the block's commit is what meets the full
    disk — deterministically."""

    genesis: Genesis
    store: Store
    log_store: Store
    record: Path
    maker: TxMaker
    payer: Member = field(default_factory=lambda: Member.new("personal", "payeur"))
    payee: Member = field(default_factory=lambda: Member.new("business", "commerce"))

    def node(self) -> Node:
        node = Node(self.store, validator_key=self.genesis.validator,
                    ordering=EmbeddedLog(self.log_store), signing_record=self.record)
        node.start()
        return node

    def pay(self) -> Tx:
        return self.maker.pay(self.payer, self.payee, 1)

    def signed(self) -> tuple[int, str]:
        data = json.loads(self.record.read_text())
        return data["height"], data["hash"]


@pytest.fixture
def split(full_disk_url: tuple[Path, str], tmp_path: Path) -> Iterator[SplitNode]:
    _, url = full_disk_url
    genesis = make_genesis("lien-disk-full", wall_clock_ms())
    store, log_store = Store(url), Store(f"sqlite:///{tmp_path / 'log.db'}")
    store.create(genesis.config)
    log_store.create(genesis.config)
    split = SplitNode(genesis, store, log_store, tmp_path / "signing.json",
                      TxMaker(genesis.config.chain_id, wall_clock_ms))
    node = split.node()
    try:
        m = split.maker
        setup = [m.open(split.payer), m.open(split.payee),
                 m.approve(genesis.admins[0], split.payer), m.approve(genesis.admins[0], split.payee),
                 m.issue([genesis.comptoir], split.payer, 100_000)]
        # admission checks signers against the state: the admins exist once the bootstrap ran
        assert all(s.state == "final" for s in node.run(genesis.bootstrap) + node.run(setup))
    finally:
        node.stop()
    try:
        yield split
    finally:
        store.dispose()
        log_store.dispose()


def pay_until_a_block_waits(node: Node, split: SplitNode) -> list[Status]:
    """Pay, one block each, until a block cannot be committed; the statuses of its payment."""
    for _ in range(payments_on_full_disk_max):
        statuses: list[Status] = []
        node.submit(split.pay(), statuses.append)
        poll(lambda: node.disk_full or any(s.state == "final" for s in statuses), 10,
             "the payment to be final, or its block to wait for space")
        if node.disk_full:
            return statuses
    raise AssertionError(f"{payments_on_full_disk_max} blocks committed on a full disk")


def test_a_block_the_full_disk_refuses_is_committed_as_it_was_once_space_returns(
    split: SplitNode, full_disk_url: tuple[Path, str]
) -> None:
    disk, _ = full_disk_url
    node = split.node()
    try:
        filler = fill(disk)
        statuses = pay_until_a_block_waits(node, split)
        waiting = statuses[0].id
        height = node.summary.height
        signed = split.signed()  # recorded (another disk) before the commit failed
        assert signed[0] == height + 1
        # accepted (the log holds it), nothing of its block in the store, queries answered
        assert [s.state for s in statuses] == ["accepted"]
        assert node.status(waiting) == Status(waiting, "accepted")
        last = split.store.last_block()
        assert last is not None and last.header.height == height
        assert split.store.transaction(waiting) is None
        state_lines = split.store.stored_state_lines()
        with pytest.raises(DiskFull, match="disk is full"):
            node.submit(split.pay())
        # the block loop tries the same block again and again, and nothing after it
        poll(lambda: split.log_store.log_last_position() > 0, 1, "the log to hold it")
        assert split.store.stored_state_lines() == state_lines

        filler.unlink()
        poll(lambda: statuses[-1].state == "final", resume_timeout_s, "the block to commit")
        assert not node.disk_full
        last = split.store.last_block()
        assert last is not None and (last.header.height, last.header.hash) == signed
        assert node.run([split.pay()])[0].state == "final"
    finally:
        node.stop()
    assert node.failure is None
    report = verify_store(split.store)
    assert report.ok, report.problem


def test_stopped_while_a_block_waits_for_space_the_same_block_is_signed_after_a_restart(
    split: SplitNode, full_disk_url: tuple[Path, str]
) -> None:
    disk, _ = full_disk_url
    node = split.node()
    filler = fill(disk)
    statuses = pay_until_a_block_waits(node, split)
    signed = split.signed()
    node.stop()  # as Ctrl-C (or a crash: the store holds nothing of the block either way)
    assert isinstance(node.failure, StoreFull) and "next start" in str(node.failure)
    assert split.store.transaction(statuses[0].id) is None
    last = split.store.last_block()
    assert last is not None and last.header.height == signed[0] - 1

    filler.unlink()
    again = split.node()  # re-executes the log: the same block, which it may sign again
    try:
        poll(lambda: split.store.transaction(statuses[0].id), 10, "the block to commit")
        last = split.store.last_block()
        assert last is not None and (last.header.height, last.header.hash) == signed
    finally:
        again.stop()
    report = verify_store(split.store)
    assert report.ok, report.problem


# -- the store and the signing record --------------------------------------------------------------
def test_a_write_the_full_disk_refuses_writes_nothing_and_the_store_stays_usable(
    full_disk_url: tuple[Path, str]
) -> None:
    disk, url = full_disk_url
    store = Store(url)
    try:
        store.create(make_genesis("lien-disk-full", wall_clock_ms()).config)
        store.log_append([(1, 1, b"first")])
        filler = fill(disk)
        entries = [(2 + i, 2, os.urandom(10_000)) for i in range(10)]  # more than any slack
        with pytest.raises(StoreFull, match="the disk is full: the ordering log") as refused:
            store.log_append(entries)
        assert out_of_space(refused.value)
        assert store.log_read(0, 100) == [(1, 1, b"first")]  # nothing of it, and reads work
        filler.unlink()
        store.log_append(entries)  # the same write, on the same store
        assert [e[0] for e in store.log_read(0, 100)] == list(range(1, 12))
    finally:
        store.dispose()


def test_other_failures_are_not_taken_for_a_full_disk(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'node.db'}")
    try:
        store.create(make_genesis("lien-disk-full", wall_clock_ms()).config)
        store.log_append([(1, 1, b"first")])
        with pytest.raises(Exception) as taken:  # the position is taken: an integrity error
            store.log_append([(1, 1, b"again")])
        assert not out_of_space(taken.value) and not isinstance(taken.value, StoreFull)
    finally:
        store.dispose()
    with pytest.raises(OSError) as missing:
        os.open(tmp_path / "no" / "such" / "file", os.O_WRONLY | os.O_CREAT)
    assert not out_of_space(missing.value)
    with psycopg.connect(ADMIN_DSN) as conn, pytest.raises(psycopg.Error) as sql:
        conn.execute("SELECT * FROM no_such_table")
    assert not out_of_space(sql.value)


def test_the_signing_record_on_a_full_disk_is_left_as_it_was(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "1m") as disk:
        record = SigningRecord(disk / "signing.json", "lien-disk-full")
        record.advance(1, "a" * 64)
        before = (disk / "signing.json").read_bytes()
        filler = fill(disk)
        with pytest.raises(StoreFull, match="the signing record could not be written"):
            record.advance(2, "b" * 64)
        assert (disk / "signing.json").read_bytes() == before
        assert record.last.height == 1
        filler.unlink()
        record.advance(2, "b" * 64)  # the same record, once there is room
        assert SigningRecord(disk / "signing.json", "lien-disk-full").last.height == 2
