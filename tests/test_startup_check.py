"""The start-up check (``lien.node.integrity``) and the full verification in the background.

1. Real processes — ``lien init --demo`` (members, payments, refusals), stopped; on a copy of
   it, one tampering of issue 6 (two transaction rows swapped, the last block deleted — its row
   alone, or whole —, history entries moved, two block rows swapped): ``lien serve`` exits 3
   before it answers, naming what failed and pointing to ``lien verify``. An untouched copy
   starts, and its background verification passes. A tampering the quick check cannot see (an
   old block's transaction, a zero-sum change of two balances) is found by the background
   verification of the running node, which halts: the API says so and refuses submissions.
2. ``quick_check`` in-process on each tampering that ``lien verify`` names
   (tests/test_system.py): it names the same block, row or account — except the few that only
   re-execution can see, listed here with the reason.
   ``lien verify --quick`` runs the same check alone.
3. Each check's limits: how far back it reads, a policy changed inside that window, entries
   past the last block; the background verification's own: ``verify_store(live=True)`` while
   a node commits blocks (SQLite and PostgreSQL), its read-only reader that leaves the WAL of
   a killed node alone, its report reaching ``halt``.

Figures (the time of each check) are printed, not asserted. No mocks, no sleeps as
synchronisation (``poll`` with a deadline).
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cli_support import run
from server_support import Server, free_port, poll
from system_support import CliResult, chain_id, database, founder, lien, post_tx
from pg_support import fresh_database
from tampering_support import (
    STARTUP_TAMPERING,
    TAMPERING,
    Chain,
    change_amount,
    demo_chain_at,
    old_amount_changed,
)

from lien.ledger import Tx
from lien.node.genesis import make_genesis
from lien.node.integrity import (
    CHECKS,
    BackgroundVerification,
    ChainDamaged,
    CheckReport,
    StartupCheck,
    quick_check,
)
from lien.node.node import Node, wall_clock_ms
from lien.node.setup import NodeDir, check_node, open_store
from lien.node.verify import VerifyReport, verify_store
from lien.store import Store
from lien.wallet import Member, TxMaker

pytestmark = pytest.mark.slow

#: ``lien serve`` on a damaged chain exits before it listens: far sooner than this
SERVE_REFUSAL_TIMEOUT_S = 30.0
#: members paying each other while live verifications run (reading their records takes long
#: enough for blocks to commit meanwhile), and how many verifications
LIVE_MEMBERS = 1000
LIVE_VERIFICATIONS = 6


@pytest.fixture(scope="module")
def demo_chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return demo_chain_at(tmp_path_factory.mktemp("startup") / "demo")


def _copy(chain: Chain, path: Path) -> Path:
    shutil.copytree(chain.path, path)
    return path


def _check(path: Path, settings: StartupCheck | None = None) -> CheckReport:
    store = open_store(path)
    try:
        return check_node(path, store, settings)
    finally:
        store.dispose()


def _serve_refused(path: Path) -> tuple[CliResult, float]:
    started = time.perf_counter()
    done = lien("serve", "--dir", path, "--port", str(free_port()),
                timeout_s=SERVE_REFUSAL_TIMEOUT_S)
    return done, time.perf_counter() - started


# == 1. real processes ==============================================================================
@pytest.fixture(scope="module")
def refused(demo_chain: Chain, tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, tuple[list[str], CliResult, float, CliResult]]:
    """Each issue-6 tampering on its own copy; what ``lien serve`` said (and in how long),
    and what ``lien verify`` said."""
    root = tmp_path_factory.mktemp("refused")
    expected: dict[str, list[str]] = {}
    for case, tamper in STARTUP_TAMPERING.items():
        with database(_copy(demo_chain, root / case)) as conn:
            expected[case] = tamper(demo_chain, conn)

    def run(case: str) -> tuple[list[str], CliResult, float, CliResult]:
        served, elapsed = _serve_refused(root / case)
        return expected[case], served, elapsed, lien("verify", "--dir", root / case)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(expected, pool.map(run, expected)))


@pytest.mark.parametrize("case", list(STARTUP_TAMPERING))
def test_serve_refuses_each_tampering_naming_what_failed(
    case: str, refused: dict[str, tuple[list[str], CliResult, float, CliResult]]
) -> None:
    patterns, served, elapsed, verified = refused[case]
    print(f"\n{case}: `lien serve` refused in {elapsed:.2f} s: {served.message}")
    assert served.returncode == 3, f"{case}: exit {served.returncode}: {served.message}"
    message = served.message
    assert "refusing to start" in message and "start-up check failed" in message, message
    assert "lien verify --dir" in message, message
    assert "Traceback" not in message, message
    for pattern in patterns:
        assert re.search(pattern, message), f"{case}: {pattern!r} not in {message!r}"
    # the tampering is real: the full verification fails too
    assert verified.returncode == 3, f"{case}: verify said {verified.message}"


def test_an_untouched_chain_starts_and_its_background_verification_passes(
    demo_chain: Chain, tmp_path: Path
) -> None:
    path = _copy(demo_chain, tmp_path / "node")
    with Server(path) as served:
        log = poll(lambda: "Vérification complète en arrière-plan" in served.log()
                   and served.log(), 60, "the background verification's verdict")
        assert re.search(r"Vérification complète en arrière-plan : ok \(\d+ blocs", log), log
        chain = httpx.get(f"{served.api}/chain", timeout=10).json()
        assert chain["node"]["halted"] is False, chain
    # (Server.stop asserts a clean exit 0, no traceback, nothing halted)


#: Tamperings the quick check does not see: a row older than the one block it reads here, a
#: change of two balances that keeps every sum.
ONLY_A_FULL_VERIFICATION_SEES = {
    "old-transaction-body": old_amount_changed,
    "balances-moved-zero-sum": TAMPERING["balance-credit-zero-sum"],
}


@pytest.mark.parametrize("case", list(ONLY_A_FULL_VERIFICATION_SEES))
def test_the_background_verification_halts_a_node_on_what_the_quick_check_cannot_see(
    case: str, demo_chain: Chain, tmp_path: Path
) -> None:
    path = _copy(demo_chain, tmp_path / "node")
    with database(path) as conn:
        patterns = ONLY_A_FULL_VERIFICATION_SEES[case](demo_chain, conn)
    assert _check(path, StartupCheck(latest_blocks=1)).ok
    started = time.perf_counter()
    served = Server(path, args=["--check-blocks", "1"])
    served.start()
    try:
        with httpx.Client(timeout=10) as client:
            chain = poll(lambda: (c := client.get(f"{served.api}/chain").json())["node"]["halted"]
                         and c, 60, "the node to halt")
            halted_after = time.perf_counter() - started
            assert chain["node"]["running"] is False, chain
            comptoir = founder(path, "comptoir")
            tx = TxMaker(chain_id(path), wall_clock_ms).issue([comptoir], Member.new(), 100)
            response = post_tx(client, served.api, tx)
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "node_halted", response.text
            # queries still answer: the operator can look before stopping it
            assert client.get(f"{served.api}/blocks").status_code == 200
    finally:
        code = served.signal(signal.SIGINT)
    log = " ".join(served.log().split())
    print(f"\n{case}: node halted {halted_after:.2f} s after `lien serve` started: "
          f"{log[log.find('background verification failed'):][:200]}")
    assert code == 4, log
    assert "node halted: background verification failed" in log, log
    for pattern in patterns:
        assert re.search(pattern, log), f"{pattern!r} not in {log!r}"
    assert "Traceback" not in log, log


# == 2. quick_check on what `lien verify` names =====================================================
#: What only re-execution from genesis sees, and why.
QUICK_CHECK_BLIND = {
    "balance-credit-zero-sum": "every sum still holds: only a record-by-record comparison "
                               "with re-execution shows it",
    "tx-signature": "transaction signatures are checked when a transaction is admitted and "
                    "by `lien verify`; the block commits to bodies and results, not to them",
}


#: Where the quick check names something else than ``lien verify`` does.
QUICK_CHECK_NAMES: dict[str, Callable[[Chain], list[str]]] = {
    # a sum over every balance: the currency and the sums, not which balance changed
    "balance-nantie": lambda c: [r"nantie of LIEN sums to \d+, issued - reconverted is \d+"],
    # a result is judged by re-execution; without it, the block's Merkle root shows a change
    "result-digit": lambda c: [rf"\bblock {c.pay_height}\b", "tx_root"],
    "result-refusal-made-ok": lambda c: [rf"\bblock {c.refused_height}\b", "tx_root"],
}


@pytest.fixture(scope="module")
def quick_checked(demo_chain: Chain, tmp_path_factory: pytest.TempPathFactory
                  ) -> dict[str, tuple[list[str], CheckReport]]:
    root = tmp_path_factory.mktemp("quick")
    said = {}
    for case, tamper in TAMPERING.items():
        path = _copy(demo_chain, root / case)
        with database(path) as conn:
            patterns = tamper(demo_chain, conn)
        said[case] = (patterns, _check(path))
    return said


def test_the_whole_demo_chain_is_inside_the_window(demo_chain: Chain) -> None:
    report = _check(demo_chain.path)
    print(f"\nquick check of the demo chain: {report.blocks} blocks linked, {report.latest_blocks} "
          f"blocks' {report.latest_transactions} transactions, {report.elapsed_s * 1000:.1f} ms")
    assert report.ok, report
    assert report.blocks == report.latest_blocks == demo_chain.last_height
    assert report.latest_transactions == demo_chain.last_seq + 1


@pytest.mark.parametrize("case", list(TAMPERING))
def test_quick_check_names_what_verify_names_but_the_blind_spots(
    case: str, demo_chain: Chain, quick_checked: dict[str, tuple[list[str], CheckReport]]
) -> None:
    patterns, report = quick_checked[case]
    if case in QUICK_CHECK_BLIND:
        assert report.ok, f"{case} is seen after all: {report.problem}"
        return
    assert not report.ok, f"{case}: not seen"
    assert report.check in dict(CHECKS), report
    names = QUICK_CHECK_NAMES.get(case)
    for pattern in names(demo_chain) if names else patterns:
        assert re.search(pattern, report.problem), f"{case}: {pattern!r} not in {report}"


def test_verify_quick_runs_the_start_up_check_alone(demo_chain: Chain, tmp_path: Path) -> None:
    untouched = run("verify", "--dir", demo_chain.path, "--quick")
    assert untouched.exit_code == 0, untouched.text
    assert f"{demo_chain.last_height} blocks linked" in untouched.text, untouched.text
    path = _copy(demo_chain, tmp_path / "node")
    with database(path) as conn:
        patterns = STARTUP_TAMPERING["block-rows-swapped"](demo_chain, conn)
    damaged = run("verify", "--dir", path, "--quick")
    assert damaged.exit_code == 3, damaged.text
    assert "start-up check failed (header chain)" in damaged.text, damaged.text
    for pattern in patterns:
        assert re.search(pattern, damaged.text), damaged.text


# == 3. the checks' limits ==========================================================================
def test_the_window_is_the_latest_blocks_and_at_most_a_transaction_budget(
    demo_chain: Chain, tmp_path: Path
) -> None:
    three = _check(demo_chain.path, StartupCheck(latest_blocks=3))
    assert three.ok and three.latest_blocks == 3 and three.blocks == demo_chain.last_height
    # a budget smaller than the last block: the last block is read whole, nothing before it
    one = _check(demo_chain.path, StartupCheck(latest_transactions_max=1))
    assert one.ok and one.latest_blocks == 1 and one.latest_transactions > 1
    # a damaged row just outside the window is not seen; inside, it is
    path = _copy(demo_chain, tmp_path / "node")
    with database(path) as conn:
        height, seq, body = conn.execute(
            "SELECT height, seq, body FROM transactions WHERE height < ? AND "
            "CAST(body AS TEXT) LIKE '%\"amount\":%' ORDER BY seq LIMIT 1",
            (demo_chain.last_height,)).fetchone()
        change_amount(conn, seq, bytes(body))
    outside = demo_chain.last_height - height
    assert _check(path, StartupCheck(latest_blocks=outside)).ok
    inside = _check(path, StartupCheck(latest_blocks=outside + 1))
    assert not inside.ok and inside.check == "latest blocks", inside


def test_a_history_entry_after_the_last_block_is_refused(
    demo_chain: Chain, tmp_path: Path
) -> None:
    path = _copy(demo_chain, tmp_path / "node")
    with database(path) as conn:
        (account,) = conn.execute("SELECT account FROM postings WHERE seq = ?",
                                  (demo_chain.last_seq,)).fetchone()
        conn.execute("INSERT INTO postings (account, seq) VALUES (?, ?)",
                     (account, demo_chain.last_seq + 5))
    report = _check(path)
    assert not report.ok and report.check == "latest history", report
    assert f"history of account {account} lists seq {demo_chain.last_seq + 5}" in report.problem


def _run(node: Node, txs: list[Tx]) -> None:
    statuses = node.run(txs)
    assert all(s.result is not None and s.result["code"] == "ok" for s in statuses), statuses


def test_a_policy_changed_inside_the_window_is_no_false_alarm(tmp_path: Path) -> None:
    """A reconversion's fee goes to the association of its day. When the association changes
    after it inside the window, today's policy no longer says which account that was: the
    check asks only for the accounts its body names (and still refuses a missing one)."""
    genesis = make_genesis("lien-startup-policy", wall_clock_ms())
    url = f"sqlite:///{tmp_path / 'node.db'}"
    store = Store(url)
    store.create(genesis.config)
    node = Node(store, validator_key=genesis.validator)
    node.start()
    try:
        maker = TxMaker(node.chain_id, wall_clock_ms)
        admins, shop, treasury = genesis.admins, Member.new("business"), Member.new()
        _run(node, genesis.bootstrap)
        _run(node, [maker.open(shop), maker.open(treasury)])
        _run(node, [maker.approve(admins[0], shop), maker.approve(admins[0], treasury)])
        _run(node, [maker.issue([genesis.comptoir], shop, 10_000)])
        (reconvert,) = [maker.make([shop], "reconvert", account=shop.account, currency="LIEN",
                                   amount=5_000, payout_ref="virement 1")]
        _run(node, [reconvert])
        (created,) = [tx for tx in genesis.bootstrap if tx.type == "create_currency"]
        policy = {**created.body["policy"], "association": treasury.account}
        _run(node, [maker.make(admins, "set_policy", by=admins[0].account, currency="LIEN",
                               policy=policy)])
    finally:
        node.stop()
    assert quick_check(store).ok
    assert verify_store(store).ok
    seq = store.transaction(reconvert.id).seq  # type: ignore[union-attr]
    store.dispose()
    with sqlite3.connect(tmp_path / "node.db") as conn:
        conn.execute("DELETE FROM postings WHERE seq = ? AND account = ?", (seq, shop.account))
    damaged = Store(url)
    report = quick_check(damaged)
    damaged.dispose()
    assert not report.ok and f"history of account {shop.account} lacks transaction seq {seq}" \
        in report.problem, report


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'node.db'}"
    else:
        with fresh_database() as url:
            yield url


def test_verify_live_checks_the_snapshot_while_a_node_commits(database_url: str) -> None:
    """A node commits payments among many members while ``verify_store(live=True)`` runs,
    again and again: each verification ends ok at the height of its snapshot — the last
    block and the state records read as of one moment — never confused by later rows."""
    genesis = make_genesis("lien-startup-live", wall_clock_ms())
    url = database_url
    store = Store(url)
    store.create(genesis.config)
    node = Node(store, validator_key=genesis.validator)
    node.start()
    stop = threading.Event()
    try:
        maker = TxMaker(node.chain_id, wall_clock_ms)
        members = [Member.new() for _ in range(LIVE_MEMBERS)]
        _run(node, genesis.bootstrap)
        _run(node, [maker.open(m) for m in members])
        _run(node, [maker.approve(genesis.admins[0], m) for m in members])
        _run(node, [maker.issue([genesis.comptoir], m, 10_000) for m in members])
        rng = random.Random(6)

        def pay() -> None:
            while not stop.is_set():
                pairs = [rng.sample(members, 2) for _ in range(50)]
                node.run([maker.pay(a, b, rng.randrange(1, 100)) for a, b in pairs])

        payer_thread = threading.Thread(target=pay)
        payer_thread.start()
        reader = Store(url)
        reports: list[VerifyReport] = []
        try:
            for _ in range(LIVE_VERIFICATIONS):
                reports.append(verify_store(reader, processes=False, live=True))
        finally:
            stop.set()
            payer_thread.join()
            reader.dispose()
    finally:
        node.stop()
    assert all(r.ok for r in reports), [r.problem for r in reports if not r.ok]
    heights = [r.blocks for r in reports]
    print(f"\nlive verifications ended at heights {heights}")
    assert heights == sorted(heights) and heights[-1] > heights[0], heights
    assert verify_store(store).ok  # and once quiet, the whole of it
    store.dispose()


def test_a_failed_background_verification_halts_through_the_callback(
    demo_chain: Chain, tmp_path: Path
) -> None:
    """``BackgroundVerification`` in-process: a failure calls ``halt`` with the reason, a pass
    does not; ``stop`` ends a child still verifying."""
    path = _copy(demo_chain, tmp_path / "node")
    with database(path) as conn:
        patterns = TAMPERING["tx-signature"](demo_chain, conn)
    halted: list[BaseException] = []
    reports: list[VerifyReport] = []
    background = BackgroundVerification(NodeDir(path).database_url, halted.append,
                                        reports.append)
    background.start()
    try:
        poll(lambda: reports, 60, "the background verification's report")
    finally:
        background.stop()
    assert not reports[0].ok and len(halted) == 1 and isinstance(halted[0], ChainDamaged)
    for pattern in patterns:
        assert re.search(pattern, str(halted[0])), halted
    untouched = BackgroundVerification(NodeDir(demo_chain.path).database_url, halted.append,
                                       reports.append)
    untouched.start()
    untouched.stop()  # at once: the child is ended, nothing is reported
    assert len(reports) == 1 and len(halted) == 1


def test_the_background_reader_leaves_the_write_ahead_log_alone(
    demo_chain: Chain, tmp_path: Path
) -> None:
    """The last connection to close checkpoints SQLite's WAL into the database — unless it is
    read-only, as the background verification's is: after a ``kill -9`` of the node, it must
    leave the files as the node wrote them (what a restart, or an operator, then finds)."""
    for read_only in (True, False):
        path = _copy(demo_chain, tmp_path / f"read-only-{read_only}")
        writer = ("import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                  "c.execute('PRAGMA journal_mode=WAL'); "
                  "c.execute('INSERT INTO node_settings VALUES (?, ?)', ('killed', 'yes')); "
                  "c.commit(); os._exit(0)")  # as after kill -9: nothing folded, nothing closed
        done = subprocess.run([sys.executable, "-c", writer, str(path / "node.db")], timeout=30)
        assert done.returncode == 0 and (path / "node.db-wal").stat().st_size > 0
        reader = Store(NodeDir(path).database_url, read_only=read_only)
        assert verify_store(reader, live=True).ok
        reader.dispose()
        wal = path / "node.db-wal"
        kept = wal.exists() and wal.stat().st_size > 0
        assert kept is read_only, f"read_only={read_only}: the WAL was {'kept' if kept else 'folded'}"
