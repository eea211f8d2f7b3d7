"""System tests: the real ``lien`` command and the real HTTP server, as separate processes.

1. Tampering — ``lien init --demo`` once, then for each case a copy of the node directory
   whose database has ONE stored value changed with the plain ``sqlite3`` module; ``lien verify``
   must exit 3 and name what was changed (block height, transaction, account). The cases cover
   bodies, balances, headers, results, signatures and deleted rows, and also the values that
   re-executing the transactions never reads but the API serves (a row's height and seq, a
   block's first seq, rows outside any block, the history index, bytes that are not UTF-8).
2. Concurrency — 200 payments from one payer fired at ``lien serve`` all at once, together
   worth more than the payer has: exactly the affordable ones execute, in the order the chain
   records, and the money invariants hold.
3. Crash — ``kill -9`` the server again and again while clients stream payments (half of the
   kills when payments wait accepted in the durable log, half at a random moment): every
   payment the API called final is still final, with the same result, stored exactly once;
   every payment the API called *accepted* (and that its client never sent again) executes,
   exactly once; nothing is half applied; resubmitting any of them returns its first outcome
   and changes nothing.

No mocks, no skips, no sleeps used as synchronisation (``poll`` waits for a condition with a
deadline; the only timed wait picks a random moment to kill). Helpers: ``system_support.py``,
``tampering_support.py`` (the tampering cases).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lien.ledger import Tx
from lien.node.node import wall_clock_ms
from lien.wallet import Member, TxMaker

from server_support import Server, free_port, poll
from system_support import (
    JSON,
    Bank,
    CliResult,
    assert_money_invariants,
    balances,
    database,
    lien,
    post_tx,
    snapshot,
    verify,
)
from tampering_support import TAMPERING, Chain, demo_chain_at

pytestmark = pytest.mark.slow


# == 1. tampering ===================================================================================
@pytest.fixture(scope="module")
def demo_chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return demo_chain_at(tmp_path_factory.mktemp("tamper") / "demo")


@pytest.fixture(scope="module")
def verified(demo_chain: Chain, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, tuple[list[str], CliResult]]:
    """Each case on its own copy, then every ``lien verify`` at once (one per core): for each
    case, the patterns its message must match and what ``lien verify`` said."""
    root = tmp_path_factory.mktemp("tampered")
    expected: dict[str, list[str]] = {"untouched": [r"\bok\b"]}
    shutil.copytree(demo_chain.path, root / "untouched")
    for case, tamper in TAMPERING.items():
        shutil.copytree(demo_chain.path, root / case)
        with database(root / case) as conn:
            expected[case] = tamper(demo_chain, conn)
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        said = dict(zip(expected, pool.map(lambda case: verify(root / case), expected)))
    return {case: (expected[case], said[case]) for case in expected}


def test_untouched_copy_verifies(verified: dict[str, tuple[list[str], CliResult]]) -> None:
    patterns, done = verified["untouched"]
    assert done.returncode == 0, done.message
    assert re.search(patterns[0], done.message), done.message


@pytest.mark.parametrize("case", list(TAMPERING))
def test_verify_names_what_was_tampered(
    case: str, verified: dict[str, tuple[list[str], CliResult]]
) -> None:
    patterns, done = verified[case]
    assert done.returncode == 3, f"{case}: exit {done.returncode}: {done.message}"
    assert "verification failed" in done.message
    for pattern in patterns:
        assert re.search(pattern, done.message), f"{case}: {pattern!r} not in {done.message!r}"


# == 2. concurrency through the real HTTP server ====================================================
def _fresh_node(demo_chain: Chain, tmp_path: Path) -> Path:
    path = tmp_path / "node"
    shutil.copytree(demo_chain.path, path)
    return path


PAYER_NANTIE = 100_000
PAYMENTS = 200


def test_concurrent_overspending_executes_exactly_the_affordable_payments(
    demo_chain: Chain, tmp_path: Path
) -> None:
    path = _fresh_node(demo_chain, tmp_path)
    server = Server(path)
    server.start()
    try:
        with httpx.Client() as client:
            bank = Bank(path, server.api)
            payer = Member.new("personal", "payer")
            payees = [Member.new("business", f"payee {i}") for i in range(4)]
            bank.open_members(client, [payer], nantie=PAYER_NANTIE, floor=0, ceiling=0)
            bank.open_members(client, payees)
            assert balances(client, server.api, payer.account) == (PAYER_NANTIE, 0)
            rng = random.Random(2024)
            txs = [bank.maker.pay(payer, payees[i % len(payees)], rng.randrange(400, 1600, 10))
                   for i in range(PAYMENTS)]
            amounts = {tx.id: tx.body["amount"] for tx in txs}
            assert sum(amounts.values()) > 1.5 * PAYER_NANTIE  # far more than the payer has

            statuses = asyncio.run(_fire_all_at_once(server.api, txs))

            # every payment was executed once, with a result: ok or a refusal with its code
            assert sorted(s["id"] for s in statuses) == sorted(amounts)
            for s in statuses:
                assert s["status"] in ("executed", "final"), s
            by_seq = sorted(statuses, key=lambda s: s["seq"])
            assert len({s["seq"] for s in by_seq}) == PAYMENTS
            # replayed one by one in the chain's order, a balance predicts each outcome exactly
            left = PAYER_NANTIE
            for s in by_seq:
                amount = amounts[s["id"]]
                if amount <= left:
                    assert s["result"] == {"code": "ok", "nantie": amount, "credit": 0}, s
                    left -= amount
                else:
                    assert s["result"]["code"] == "insufficient_funds", (left, amount, s)
            paid = [s for s in statuses if s["result"]["code"] == "ok"]
            refused = [s for s in statuses if s["result"]["code"] != "ok"]
            assert paid and refused
            spent = sum(amounts[s["id"]] for s in paid)
            assert spent == PAYER_NANTIE - left
            # what the API shows now
            assert balances(client, server.api, payer.account) == (PAYER_NANTIE - spent, 0)
            received = [balances(client, server.api, p.account) for p in payees]
            assert sum(n for n, _ in received) == spent
            assert all(c == 0 for _, c in received)
            for s in rng.sample(statuses, 20):
                again = client.get(f"{server.api}/transactions/{s['id']}").json()
                assert again["result"] == s["result"] and again["seq"] == s["seq"]
    finally:
        server.stop()
    assert_money_invariants(path)
    done = verify(path)
    assert done.returncode == 0, done.message


async def _fire_all_at_once(api: str, txs: list[Tx]) -> list[dict[str, Any]]:
    """Every payment on its own connection, all sent before any answer is awaited."""
    limits = httpx.Limits(max_connections=len(txs), max_keepalive_connections=len(txs))
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        async def one(tx: Tx) -> dict[str, Any]:
            response = await client.post(f"{api}/transactions", params={"wait": "executed"},
                                         content=json.dumps(tx.to_json()), headers=JSON)
            assert response.status_code == 200, response.text
            return dict(response.json())

        return list(await asyncio.gather(*(one(tx) for tx in txs)))


# == 3. kill -9 ======================================================================================
CRASHES = 5
MEMBERS = 6
MEMBER_NANTIE = 50_000
CLIENTS = 5  # 3 wait for final, 2 stop at accepted


@dataclass
class Outcome:
    tx: Tx
    status: dict[str, Any]


class PaymentStream:
    """Client threads paying each other through the API, whatever happens to the server.

    Each payment is retried, the same signed transaction, until the API answers it (a crash
    makes the answer unknown, never the question): every payment ends with one outcome.
    """

    def __init__(self, api: str, bank: Bank, members: list[Member], seed: int) -> None:
        self.api = api
        self.bank = bank
        self.members = members
        self.seed = seed
        self.up = threading.Event()
        self.up.set()
        self.stopping = threading.Event()  #: finish the payment in hand, then stop
        self.aborted = threading.Event()  #: the test failed: give up at once
        self.lock = threading.Condition()
        self.sent = 0  #: POSTs of the clients waiting for final so far, answered or not
        self.outcomes: dict[str, Outcome] = {}
        #: payments answered 202 accepted to a client that then never sends them again
        self.accepted: dict[str, Tx] = {}
        self.retried: set[str] = set()  #: ids whose first answer a crash swallowed
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                        for i in range(CLIENTS)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout_s)
            assert not thread.is_alive(), "a client never got its last payment answered"

    def abort(self) -> None:
        self.aborted.set()
        self.up.set()
        for thread in self.threads:
            thread.join(10)

    def wait_sent(self, count: int, timeout_s: float = 30.0) -> None:
        with self.lock:
            assert self.lock.wait_for(lambda: self.sent >= count or bool(self.errors),
                                      timeout_s), f"only {self.sent} payments sent"

    def _client(self, index: int) -> None:
        rng = random.Random(self.seed * 100 + index)
        maker = TxMaker(self.bank.maker.chain_id, wall_clock_ms)  # its nonces: one per thread
        with httpx.Client(timeout=30) as client:
            while not (self.stopping.is_set() or self.aborted.is_set() or self.errors):
                try:
                    payer, payee = rng.sample(self.members, 2)
                    tx = maker.pay(payer, payee, rng.randrange(100, 5_000, 10))
                    # even clients wait for final; odd ones stop at accepted and trust it
                    self._until_answered(client, tx, "final" if index % 2 == 0 else "accepted")
                except Exception as exc:  # reported by the test, not lost in a thread
                    with self.lock:
                        self.errors.append(f"client {index}: {exc!r}")
                        self.lock.notify_all()

    def _until_answered(self, client: httpx.Client, tx: Tx, wait: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.aborted.is_set():
            if wait == "final":  # the crashes are paced by these (the others run freely)
                with self.lock:
                    self.sent += 1
                    self.lock.notify_all()
            try:
                response = post_tx(client, self.api, tx, wait)
            except httpx.TransportError:
                self.retried.add(tx.id)
                assert self.up.wait(30), "the server did not come back"
                continue
            if response.status_code == 202 and wait == "accepted":
                assert response.json()["status"] == "accepted", response.text
                with self.lock:
                    self.accepted[tx.id] = tx
                    self.lock.notify_all()
                return
            if response.status_code == 202:  # accepted, not final within the API's wait
                continue
            assert response.status_code == 200, f"{response.status_code} {response.text}"
            status = response.json()
            assert status["status"] == "final", status
            with self.lock:
                self.outcomes[tx.id] = Outcome(tx, status)
                self.lock.notify_all()
            return
        raise AssertionError("no answer within 60 s (or aborted)")


def _executed(client: httpx.Client, api: str, tx_id: str) -> dict[str, Any] | None:
    status: dict[str, Any] = client.get(f"{api}/transactions/{tx_id}").json()
    return status if status.get("status") in ("executed", "final") else None


def _waiting_in_log(path: Path) -> int:
    """Transactions in the node's ordering log not yet executed in a committed block."""
    with database(path) as conn:
        (count,) = conn.execute("SELECT count(*) FROM node_log WHERE tx IS NOT NULL").fetchone()
    return int(count)


def test_kill_9_loses_no_accepted_payment_and_executes_none_twice(
    demo_chain: Chain, tmp_path: Path
) -> None:
    path = _fresh_node(demo_chain, tmp_path)
    server = Server(path)
    server.start()
    rng = random.Random(7)
    members = [Member.new("business" if i % 2 else "personal", f"m{i}") for i in range(MEMBERS)]
    stream: PaymentStream | None = None
    try:
        bank = Bank(path, server.api)
        with httpx.Client() as client:
            bank.open_members(client, members, nantie=MEMBER_NANTIE)
        stream = PaymentStream(server.api, bank, members, seed=7)
        stream.start()
        waiting_at_kill = []

        def crash_and_restart() -> int:
            stream.up.clear()
            server.kill9()
            waiting = _waiting_in_log(path)
            server.start()
            stream.up.set()
            return waiting

        for crash in range(CRASHES):
            stream.wait_sent(stream.sent + rng.randrange(5, 40))
            assert not stream.errors, stream.errors
            if crash % 2 == 0:
                # the moment payments are accepted (in the durable log) but not yet executed:
                # the block loop may still execute them between the look and the kill, so
                # crash again (a bounded number of times) until a kill catches some
                for _ in range(10):
                    poll(lambda: _waiting_in_log(path), 10, "accepted payments in the log")
                    waiting_at_kill.append(crash_and_restart())
                    if waiting_at_kill[-1]:
                        break
                    stream.wait_sent(stream.sent + 5)
                assert waiting_at_kill[-1], "no kill hit accepted payments not yet executed"
            else:
                # any moment: admission, execution, the commit itself, the answer
                threading.Event().wait(rng.uniform(0.0, 0.2))
                waiting_at_kill.append(crash_and_restart())
        stream.wait_sent(stream.sent + 10)
        stream.stop()
        assert not stream.errors, stream.errors
        finals = stream.outcomes
        assert len(finals) > 3 * CRASHES and stream.retried, (len(finals), stream.retried)
        assert len(stream.accepted) > 3 * CRASHES, len(stream.accepted)

        with httpx.Client() as client, database(path) as conn:
            # every payment called final is still final, with the same result, stored once
            for tx_id, outcome in finals.items():
                now = client.get(f"{server.api}/transactions/{tx_id}").json()
                assert now["status"] == "final", now
                assert (now["result"], now["seq"]) == (outcome.status["result"],
                                                        outcome.status["seq"]), now
                rows = conn.execute("SELECT count(*), min(seq), min(result) FROM transactions "
                                    "WHERE id = ?", (bytes.fromhex(tx_id),)).fetchone()
                assert rows[0] == 1 and rows[1] == outcome.status["seq"], (tx_id, rows)
                assert json.loads(rows[2]) == outcome.status["result"]
            # every payment answered accepted executed, exactly once (its client never retried)
            for tx_id in stream.accepted:
                now = poll(lambda: _executed(client, server.api, tx_id), 30,
                           f"accepted payment {tx_id} to execute")
                count = conn.execute("SELECT count(*) FROM transactions WHERE id = ?",
                                     (bytes.fromhex(tx_id),)).fetchone()[0]
                assert count == 1 and now["status"] == "final", (tx_id, count, now)
            before = snapshot(path)
            # resubmitting every one of them answers its first outcome and changes nothing
            for tx_id, outcome in finals.items():
                again = post_tx(client, server.api, outcome.tx, "final")
                assert again.status_code == 200, again.text
                assert again.json() == outcome.status
            assert snapshot(path) == before
            member_ids = [m.account for m in members]
            held = [balances(client, server.api, a) for a in member_ids]
        # the members only paid each other: their money is all there, their credit sums to 0
        assert sum(n for n, _ in held) == MEMBERS * MEMBER_NANTIE
        assert sum(c for _, c in held) == 0
    finally:
        if stream is not None:
            stream.abort()
        server.stop()
    assert_money_invariants(path)
    done = verify(path)
    assert done.returncode == 0, done.message


@pytest.mark.parametrize("loss", ["deleted", "truncated"])
def test_a_lost_wal_is_refused_at_start_and_no_height_is_signed_twice(
    demo_chain: Chain, tmp_path: Path, loss: str
) -> None:
    """kill -9, then the WAL file is lost (or a backup is restored without it) or cut short
    (a copy interrupted, a damaged disk): the database silently ends blocks earlier than the
    validator signed. The node must refuse to start — it would otherwise sign new, different
    blocks at heights it already signed — and ``lien verify`` must fail, both saying why."""
    path = _fresh_node(demo_chain, tmp_path)
    server = Server(path)
    server.start()
    try:
        bank = Bank(path, server.api)
        with httpx.Client() as client:
            bank.open_members(client, [Member.new() for _ in range(3)], nantie=1_000)
        server.kill9()
    finally:
        server.stop()
    signed = json.loads((path / "signing.json").read_text())["height"]
    # Not a byte of the database is read before the WAL goes: reading would fold it in.
    (path / "node.db-shm").unlink()
    wal = path / "node.db-wal"
    if loss == "deleted":
        wal.unlink()
    else:  # the first half kept: SQLite stops at the last commit it finds whole
        os.truncate(wal, wal.stat().st_size // 2)
    with database(path) as conn:
        (height,) = conn.execute("SELECT max(height) FROM blocks").fetchone()
    # (one block behind is the ordinary crash between signing and commit: that one the node
    # rebuilds from its log, and may sign again only if it is the very same block)
    assert height < signed - 1, "the WAL held too few blocks: the test proves nothing"

    refused = lien("serve", "--dir", path, "--port", str(free_port()))
    assert refused.returncode == 2, refused.message
    assert f"signed up to block {signed}" in refused.message, refused.message
    failed = verify(path)
    assert failed.returncode == 3, failed.message
    assert f"signed up to block {signed}" in failed.message, failed.message
    quick = lien("verify", "--dir", path, "--quick")  # the check `lien serve` makes, alone
    assert quick.returncode == 3 and f"signed up to block {signed}" in quick.message, quick.message
    assert json.loads((path / "signing.json").read_text())["height"] == signed
