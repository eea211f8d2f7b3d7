"""Joining and catching up (issue 7): a node fetches the certified blocks it lacks from its
peers over HTTP, verifies and re-executes every one, and never rewrites its own.

Real processes throughout: node A is ``lien init --demo`` served by ``lien serve``; the other
nodes are made by ``lien join`` and brought up to date by ``lien catch-up`` (child processes),
served by ``lien serve`` to compare what they answer. Lying peers are served copies of A
whose database was tampered with (``tampering_support``); a conflicting peer is a copy of A
that certified another block at the same height (its validator signed two histories). One
joined node runs on PostgreSQL.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import API, api_env
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)
from pg_support import fresh_database
from server_support import Server, free_port
from system_support import Bank, CliResult, database, flip_byte, lien, snapshot
from tampering_support import Chain, change_amount, demo_chain_at

from lien.federation.catchup import CatchUpSettings, UnconsumedLog, catch_up
from lien.node.node import Node
from lien.node.setup import open_store
from lien.store import Store
from lien.wallet import Member
from lien.web import ApiSettings, create_app

SERVE_ARGS = ("--no-verify-in-background",)


@dataclass
class A:
    """The demo chain, served; and where its demo history was struck in the lying copies."""

    chain: Chain
    server: Server
    bank: Bank

    @property
    def path(self) -> Path:
        return self.chain.path

    @property
    def url(self) -> str:
        return self.server.url


def copy_node(source: Path, to: Path) -> Path:
    """A copy of a node directory whose node runs: its database through SQLite's backup API
    (consistent), everything else as it is."""
    shutil.copytree(source, to, ignore=shutil.ignore_patterns("node.db*"))
    with sqlite3.connect(source / "node.db") as src, sqlite3.connect(to / "node.db") as dst:
        src.backup(dst)
    return to


def pay_block(a: A, client: httpx.Client, count: int = 2) -> list[Member]:
    """New members on A, funded, and a payment between them: new blocks."""
    members = [Member.new() for _ in range(count)]
    a.bank.open_members(client, members, nantie=10_000)
    a.bank.run(client, [a.bank.maker.pay(members[0], members[1], 1_234)])
    return members


# -- lying peers: copies of A, each struck in a block of the demo's history -----------------------
def _tx_body(chain: Chain, conn: sqlite3.Connection) -> tuple[int, str]:
    """An amount changed: another id, which the payer's signature does not cover."""
    change_amount(conn, chain.pay_seq, chain.pay_body)
    return chain.pay_height, "has a bad signature"


def _result(chain: Chain, conn: sqlite3.Connection) -> tuple[int, str]:
    """A recorded result changed (the transaction as signed): not the certified tx_root."""
    result = chain.pay_result.replace('"code":"ok"', '"code":"insufficient_funds"', 1)
    assert result != chain.pay_result
    conn.execute("UPDATE transactions SET result = ? WHERE seq = ?", (result, chain.pay_seq))
    return chain.pay_height, "do not give its certified tx_root"


def _tx_signature(chain: Chain, conn: sqlite3.Connection) -> tuple[int, str]:
    flip_byte(conn, "transactions", "signatures", "seq = ?", (chain.pay_seq,), 32 + 20)
    return chain.pay_height, f"transaction {chain.pay_id} has a bad signature"


def _certificate(chain: Chain, conn: sqlite3.Connection) -> tuple[int, str]:
    flip_byte(conn, "blocks", "signatures", "height = ?", (chain.pay_height,), 32 + 20)
    return chain.pay_height, "not certified"


#: case -> strike a copy; returns (the block struck, what the report must say about it)
LIES: dict[str, Callable[[Chain, sqlite3.Connection], tuple[int, str]]] = {
    "transaction-body": _tx_body,
    "result": _result,
    "transaction-signature": _tx_signature,
    "block-certificate": _certificate,
}


@pytest.fixture(scope="module")
def a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[A]:
    chain = demo_chain_at(tmp_path_factory.mktemp("catchup") / "a")
    with Server(chain.path, args=SERVE_ARGS) as server:
        node = A(chain, server, Bank(chain.path, server.api))
        with httpx.Client() as client:
            pay_block(node, client)  # the demo's blocks are no longer the last ones
        yield node


Liars = dict[str, tuple[Server, int, str]]


@pytest.fixture(scope="module")
def liars(a: A, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Liars]:
    """Each lie on its own served copy of A (whose start-up check reads the last block only:
    the struck block is older), with the block struck and what its refusal must say."""
    root = tmp_path_factory.mktemp("liars")
    served: dict[str, tuple[Server, int, str]] = {}
    try:
        for case, strike in LIES.items():
            path = copy_node(a.path, root / case)
            with database(path) as conn:
                height, words = strike(a.chain, conn)
            server = Server(path, args=(*SERVE_ARGS, "--check-blocks", "1"))
            server.start()
            served[case] = (server, height, words)
        yield served
    finally:
        for server, _, _ in served.values():
            server.stop()


def join(path: Path, *peers: str, extra: tuple[str, ...] = ()) -> CliResult:
    args: list[str | Path] = ["join", "--dir", path, *extra]
    for peer in peers:
        args += ["--peer", peer]
    return lien(*args, timeout_s=120)


def hashes(path: Path) -> list[tuple[int, str, int]]:
    """(height, hash, log position) of every block of a SQLite node."""
    with database(path) as conn:
        return [(h, bytes(x).hex(), p) for h, x, p in conn.execute(
            "SELECT height, hash, log_position FROM blocks ORDER BY height")]


def served_blocks(url: str) -> list[tuple[int, str]]:
    """(height, hash) of every block a served node lists."""
    found: list[tuple[int, str]] = []
    after: int | None = 0
    with httpx.Client(timeout=10) as client:
        while after is not None:
            page = client.get(f"{url}/api/v1/blocks", params={"after": after}).json()
            found += [(b["height"], b["hash"]) for b in page["items"]]
            after = page["next"]
    return found


def chain_of(url: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{url}/api/v1/chain", timeout=10).json()
    return data


def peer_line(result: CliResult, peer: str) -> str:
    """The report's line about ``peer``."""
    (line,) = [line for line in result.stdout.splitlines()
               if re.match(rf"\s*{re.escape(peer)}[ :]", line)]
    return line


# == joining =======================================================================================
def test_a_joined_node_holds_the_same_blocks_verifies_and_serves_the_same_balances(
        a: A, tmp_path: Path) -> None:
    b = tmp_path / "b"
    done = join(b, a.url)
    assert done.returncode == 0, done.message
    height = chain_of(a.url)["final_height"]
    assert f"height 0 -> {height}: {height} blocks" in done.message
    assert hashes(b) == hashes(a.path)  # the same blocks, certificates' log positions included
    verified = lien("verify", "--dir", b)
    assert verified.returncode == 0, verified.message
    assert f"ok: {height} blocks" in verified.message
    settings = (b / "node.toml").read_text()
    assert "validator_key" not in settings and f'peers = ["{a.url}"]' in settings
    assert (b / "genesis.json").read_text() == (a.path / "genesis.json").read_text()
    with Server(b, args=SERVE_ARGS) as served:
        mine, theirs = chain_of(served.url), chain_of(a.url)
        for key in ("chain_id", "height", "final_height", "last_hash", "genesis_root"):
            assert mine[key] == theirs[key], key
        members = json.loads((a.path / "demo.json").read_text())["members"]
        with httpx.Client(timeout=10) as client:
            for m in members:
                path = f"/api/v1/accounts/{m['account']}"
                assert client.get(served.url + path).json() == client.get(a.url + path).json()
            assert (client.get(f"{served.url}/api/v1/currencies").json()
                    == client.get(f"{a.url}/api/v1/currencies").json())
        # A joined node serves its certified blocks in turn: a third joins from it alone.
        c = tmp_path / "c"
        assert join(c, served.url).returncode == 0
        assert hashes(c) == hashes(a.path)


def test_join_refuses_another_chain_and_leaves_nothing(a: A, tmp_path: Path) -> None:
    done = join(tmp_path / "b", a.url, extra=("--chain-id", "lien-other-0123"))
    assert done.returncode == 4, done.message
    assert "not lien-other-0123" in done.message
    assert not (tmp_path / "b").exists() and not list(tmp_path.iterdir())


def test_join_with_no_peer_answering_exits_4_and_leaves_nothing(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    done = join(tmp_path / "b", dead)
    assert done.returncode == 4, done.message
    assert dead in done.message and "ConnectError" in done.message
    assert not list(tmp_path.iterdir())


def test_join_refuses_a_bad_peer_url(tmp_path: Path) -> None:
    done = join(tmp_path / "b", "ftp://example.org")
    assert done.returncode == 2 and "not the base URL of a node" in done.message


# == from an export ===============================================================================
def test_join_from_an_export_then_catch_up_what_came_after(a: A, tmp_path: Path) -> None:
    out = tmp_path / "chain.jsonl"
    assert lien("export", "--dir", a.path, "--out", out).returncode == 0
    exported = len(out.read_text().splitlines()) - 1
    with httpx.Client() as client:
        pay_block(a, client)
    c = tmp_path / "c"
    done = join(c, a.url, extra=("--from-export", str(out)))
    assert done.returncode == 0, done.message
    assert f"height 0 -> {exported}: {exported} blocks" in done.message
    assert hashes(c) == hashes(a.path)[:exported]
    assert f'peers = ["{a.url}"]' in (c / "node.toml").read_text()
    caught = lien("catch-up", "--dir", c)
    assert caught.returncode == 0, caught.message
    assert hashes(c) == hashes(a.path)
    assert lien("verify", "--dir", c).returncode == 0


def _rewrite(lines: list[str], change: Callable[[dict[str, Any]], None]) -> str:
    """The export with ``change`` applied to each block line (the genesis line as it is)."""
    blocks = [json.loads(line) for line in lines[1:]]
    for block in blocks:
        change(block)
    return "\n".join([lines[0], *(json.dumps(b, ensure_ascii=False) for b in blocks)]) + "\n"


def _a_result_changed(block: dict[str, Any]) -> None:
    for t in block["transactions"]:
        if t["result"].get("code") == "ok" and t["body"]["type"] == "transfer":
            t["result"]["code"] = "insufficient_funds"
            return


def _no_log_position(block: dict[str, Any]) -> None:
    del block["log_position"]


@pytest.mark.parametrize("change, words", [
    (_a_result_changed, "do not give its certified tx_root"),
    (_no_log_position, "has no log_position (an export made before lien wrote them"),
], ids=["result-changed", "no-log-position"])
def test_join_refuses_an_export_that_does_not_verify(
        a: A, tmp_path: Path, change: Callable[[dict[str, Any]], None], words: str) -> None:
    out = tmp_path / "chain.jsonl"
    assert lien("export", "--dir", a.path, "--out", out).returncode == 0
    out.write_text(_rewrite(out.read_text().splitlines(), change))
    done = join(tmp_path / "c", extra=("--from-export", str(out)))
    assert done.returncode == 4, done.message
    assert words in done.message and str(out) in done.message
    assert not (tmp_path / "c").exists()


# == catching up ===================================================================================
@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_catch_up_fetches_only_the_new_blocks_on_postgresql(a: A, tmp_path: Path,
                                                           pg_url: str) -> None:
    b = tmp_path / "b"
    assert join(b, a.url, extra=("--database", pg_url)).returncode == 0
    before = chain_of(a.url)["final_height"]
    with httpx.Client() as client:
        pay_block(a, client)
    after = chain_of(a.url)["final_height"]
    assert after > before
    done = lien("catch-up", "--dir", b)
    assert done.returncode == 0, done.message
    assert f"height {before} -> {after}: {after - before} blocks" in done.message
    verified = lien("verify", "--dir", b)
    assert verified.returncode == 0, verified.message
    store = Store(pg_url)
    try:
        assert [(s.header.height, s.header.hash, s.log_position) for s in store.blocks(0, 1000)
                ] == hashes(a.path)
    finally:
        store.dispose()
    again = lien("catch-up", "--dir", b)
    assert again.returncode == 0 and f"height {after} -> {after}: 0 blocks" in again.message


def test_catch_up_refuses_a_directory_a_node_runs_on_or_without_peers(a: A,
                                                                       tmp_path: Path) -> None:
    running = lien("catch-up", "--dir", a.path, "--peer", a.url)
    assert running.returncode == 2 and "a `lien serve` already runs" in running.message
    b = tmp_path / "b"
    assert join(b, a.url).returncode == 0
    (b / "node.toml").write_text((b / "node.toml").read_text().split("[federation]")[0])
    alone = lien("catch-up", "--dir", b)
    assert alone.returncode == 2 and "no [federation] peers" in alone.message


def test_catch_up_goes_page_by_page(a: A, tmp_path: Path) -> None:
    b = tmp_path / "b"
    assert join(b, a.url).returncode == 0
    with httpx.Client() as client:
        for _ in range(3):
            pay_block(a, client)
    target = chain_of(a.url)["final_height"]
    store = open_store(b)
    try:
        start = store.last_block()
        assert start is not None
        seen: list[int] = []
        report = catch_up(store, [a.url], settings=CatchUpSettings(page_blocks=2),
                          progress=seen.append)
        assert seen == list(range(start.header.height + 1, target + 1))
        assert (report.height_before, report.height_after) == (start.header.height, target)
        assert report.peers[0].blocks == len(seen) and report.peers[0].final_height == target
    finally:
        store.dispose()
    assert hashes(b) == hashes(a.path)


# == lying peers ===================================================================================
@pytest.mark.parametrize("case", list(LIES))
def test_a_lying_peer_is_refused_named_and_the_next_peer_used(
        a: A, liars: Liars, tmp_path: Path, case: str) -> None:
    liar, struck, words = liars[case]
    dead = f"http://127.0.0.1:{free_port()}"
    b = tmp_path / "b"
    done = join(b, dead, liar.url, a.url)
    assert done.returncode == 0, done.message
    assert "ConnectError" in peer_line(done, dead)
    lied = peer_line(done, liar.url)
    assert f"skipped after {struck - 1} blocks" in lied, lied
    assert re.search(rf"\bblock {struck}\b", lied) and words in lied, lied
    height = hashes(a.path)[-1][0]
    assert f"{a.url} (final height {height}): {height - struck + 1} blocks" in done.message
    assert hashes(b) == hashes(a.path)  # nothing of the lie was kept
    assert lien("verify", "--dir", b).returncode == 0


def test_only_lying_peers_is_exit_4_and_no_directory(
        liars: Liars, tmp_path: Path) -> None:
    liar, struck, _ = liars["transaction-body"]
    done = join(tmp_path / "b", liar.url)
    assert done.returncode == 4, done.message
    assert f"block {struck}" in done.message
    assert not list(tmp_path.iterdir())


# == this node's own blocks are authoritative ======================================================
def test_a_conflicting_certified_block_stops_loudly_and_overwrites_nothing(
        a: A, tmp_path: Path) -> None:
    """A copy of A whose validator then certifies other blocks than A does at the same
    heights (two histories signed by one key): B, which holds A's block, refuses the other."""
    with httpx.Client() as client:
        payer, payee = pay_block(a, client)
        b = tmp_path / "b"
        assert join(b, a.url).returncode == 0
        twin = copy_node(a.path, tmp_path / "twin")
        a.bank.run(client, [a.bank.maker.pay(payer, payee, 100)])
        assert lien("catch-up", "--dir", b).returncode == 0
        h, ours, _ = hashes(b)[-1]
        with Server(twin, args=SERVE_ARGS) as other:
            Bank(twin, other.api).open_members(client, [Member.new()], nantie=100)
            theirs = dict((height, x) for height, x, _ in hashes(twin))[h]
            assert theirs != ours
            held = snapshot(b)
            done = lien("catch-up", "--dir", b, "--peer", other.url)
    assert done.returncode == 3, done.message
    assert f"ALARM: {other.url} serves a certified block {h} that is not this node's" in \
        done.message
    assert ours in done.message and theirs in done.message  # both headers, with their hashes
    assert snapshot(b) == held  # nothing overwritten, nothing added


@pytest.mark.parametrize("altered", ["payee", "payer"])
def test_a_state_that_differs_from_a_certified_header_stops_loudly(
        a: A, tmp_path: Path, altered: str) -> None:
    """B's stored balances altered so that every sum still holds (credit moved from a third
    member): the next certified block does not re-execute here to its state commitment (the
    payee's balance), or even to its result (the payer's: the split takes credit first).
    Nothing is committed."""
    b = tmp_path / "b"
    assert join(b, a.url).returncode == 0
    with httpx.Client() as client:
        payer, payee, third = [Member.new() for _ in range(3)]
        a.bank.open_members(client, [payer, payee, third], nantie=10_000)
        assert lien("catch-up", "--dir", b).returncode == 0
        moved = {"payee": payee, "payer": payer}[altered]
        with database(b) as conn:
            for account, change in ((moved.account, 100), (third.account, -100)):
                assert conn.execute("UPDATE memberships SET credit = credit + ? WHERE account = ?",
                                    (change, account)).rowcount == 1
        held = snapshot(b)
        height = hashes(b)[-1][0]
        a.bank.run(client, [a.bank.maker.pay(payer, payee, 500)])
    done = lien("catch-up", "--dir", b)
    assert done.returncode == 3, done.message
    assert (f"ALARM: this node does not re-execute the certified block {height + 1} "
            f"served by {a.url} to its header") in done.message
    why = ("state_root differs from re-execution" if altered == "payee" else
           'certified result {"code":"ok","credit":0,"nantie":500}, re-execution gives '
           '{"code":"ok","credit":100,"nantie":400}')
    assert why in done.message
    assert f"height {height} -> {height}: 0 blocks" in done.message
    assert snapshot(b) == held


# == in process: the bounds and refusals of the function itself =================================
def test_a_node_whose_own_log_holds_unexecuted_entries_does_not_catch_up(
        a: A, tmp_path: Path) -> None:
    b = tmp_path / "b"
    assert join(b, a.url).returncode == 0
    store = open_store(b)
    try:
        last = store.last_block()
        assert last is not None
        store.log_append([(last.log_position + 1, last.header.time_ms, b"{}")])
        with pytest.raises(UnconsumedLog, match="start the node once"):
            catch_up(store, [a.url])
    finally:
        store.dispose()


# == the replication API ===========================================================================
@pytest.mark.anyio
async def test_certified_pages_hold_whole_blocks_within_the_transaction_bound(
        tmp_path: Path) -> None:
    settings = ApiSettings(certified_page_transactions_max=3)
    async with api_env(tmp_path, settings) as env:
        for i in range(3):
            await env.join(f"member {i}", nantie=100)  # a block of three each
        final = env.height()
        page = (await env.client.get(f"{API}/blocks/certified")).json()
        assert page["final_height"] == final
        sizes = [len(b["transactions"]) for b in page["items"]]
        assert sum(sizes) <= 3 or len(sizes) == 1
        assert page["next"] == page["items"][-1]["height"] < final
        seen = []
        after: int | None = 0
        while after is not None:
            page = (await env.client.get(f"{API}/blocks/certified",
                                         params={"after": after, "limit": 2})).json()
            assert 1 <= len(page["items"]) <= 2
            seen += page["items"]
            after = page["next"]
        assert [b["height"] for b in seen] == list(range(1, final + 1))
        for item in seen:  # the exact stored bytes, and the block as GET /blocks/{h} shows it
            block = (await env.client.get(f"{API}/blocks/{item['height']}")).json()
            assert (item["hash"], item["header"], item["signatures"]) == (
                block["hash"], block["header"], block["signatures"])
            ids = [env.store.transaction(i) for i in block["transactions"]]
            assert [t["tx"].encode() for t in item["transactions"]] == [
                s.tx.encode() for s in ids if s is not None]
        empty = (await env.client.get(f"{API}/blocks/certified", params={"after": final})).json()
        assert empty == {"items": [], "next": None, "final_height": final}


def test_blocks_that_are_not_final_are_not_served(tmp_path: Path) -> None:
    """A node without the validator's key executes blocks it cannot certify: it lists them,
    never serves them for replication."""
    import asyncio

    from lien.node.genesis import make_genesis
    from lien.node.node import wall_clock_ms

    genesis = make_genesis("lien-unsigned", wall_clock_ms())
    store = Store(f"sqlite:///{tmp_path / 'node.db'}")
    store.create(genesis.config)
    node = Node(store)
    node.start()
    try:
        node.run(genesis.bootstrap)
        app = create_app(node)

        async def get(path: str) -> Any:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://lien.test") as c:
                return (await c.get(path)).json()

        listed = asyncio.run(get(f"{API}/blocks"))
        certified = asyncio.run(get(f"{API}/blocks/certified"))
        app.state.lien.close()
    finally:
        node.stop()
        store.dispose()
    assert listed["items"] and not any(b["final"] for b in listed["items"])
    assert certified == {"items": [], "next": None, "final_height": 0}
