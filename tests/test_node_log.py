"""The node as a pure consumer of its ordering log.

Two nodes (each its own database) read ONE shared log, as the nodes of a federation read one
stream. Entries written by "another node" — a second writer on the log that checked nothing —
are checked by every node at block time: a bad or missing signature is refused with its
reason, recorded, never executed, identically on both nodes, which build byte-identical
blocks. What one node admitted executes on the other too (it re-verifies what it did not
admit itself).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_support import bootstrapped_chain

from lien.ledger import sign_body
from lien.ledger.crypto import sha256_hex
from lien.node.genesis import Genesis, make_genesis
from lien.wallet import Member, TxMaker
from lien.node.node import Node, TxEvent, wall_clock_ms
from lien.ordering import EmbeddedLog
from lien.store import Store

CHAIN = "lien-log-test"


class Seen:
    """Collects a node's events; ``wait_for(id)`` returns once that transaction executed."""

    def __init__(self, node: Node) -> None:
        self.events: dict[str, TxEvent] = {}
        self._changed = threading.Condition()
        node.add_listener(self.on_event)

    def on_event(self, _account: str, event: TxEvent) -> None:
        with self._changed:
            self.events[event.id] = event
            self._changed.notify_all()

    def wait_for(self, tx_id: str, timeout_s: float = 10.0) -> TxEvent:
        with self._changed:
            assert self._changed.wait_for(lambda: tx_id in self.events, timeout_s), tx_id
            return self.events[tx_id]


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[tuple[Genesis, EmbeddedLog, list[Node], list[Seen]]]:
    genesis = make_genesis(CHAIN, wall_clock_ms())
    log_store = Store(f"sqlite:///{tmp_path / 'log.db'}")
    log_store.create(genesis.config)  # a database that only carries the shared log
    shared = EmbeddedLog(log_store)
    nodes = []
    for name in ("a", "b"):
        store = Store(f"sqlite:///{tmp_path / name}.db")
        store.create(genesis.config)
        nodes.append(Node(store, validator_key=genesis.validator, ordering=shared))
    seen = [Seen(node) for node in nodes]
    for node in nodes:
        node.start()
    try:
        yield genesis, shared, nodes, seen
    finally:
        for node in nodes:
            node.stop()
        for node in nodes:
            node.store.dispose()
        log_store.dispose()


def test_entries_of_another_writer_are_checked_at_block_time_on_every_node(
    federation: tuple[Genesis, EmbeddedLog, list[Node], list[Seen]],
) -> None:
    genesis, shared, nodes, seen = federation
    # Node a admits the bootstrap; node b executes it from the log, re-verifying it.
    statuses = nodes[0].run(genesis.bootstrap)
    assert all(s.result is not None and s.result["code"] == "ok" for s in statuses)
    for tx in genesis.bootstrap:
        seen[1].wait_for(tx.id)

    maker = TxMaker(genesis.config.chain_id, wall_clock_ms)
    honest, forger, victim = Member.new(), Member.new(), Member.new()
    good = maker.open(honest)
    # A victim's account opening signed by the forger's key under the victim's key name.
    forged_body = maker.body("open_account", account=victim.account, key=victim.public_key,
                             kind="personal", currency="LIEN")
    forged = sign_body(forged_body, [forger.key])
    forged_json = forged.to_json()
    forged_json["signatures"][0]["key"] = victim.public_key
    forged_bytes = json.dumps(forged_json).encode()
    unsigned_body = maker.body("open_account", account=forger.account, key=forger.public_key,
                               kind="personal", currency="LIEN")
    unsigned_bytes = json.dumps({"body": unsigned_body, "signatures": []}).encode()
    # The other writer appends what no node admitted, good last: when it has executed on a
    # node, that node has committed the whole block, refusals included.
    shared.append([forged_bytes, unsigned_bytes, good.encode()], wall_clock_ms(), tick=True)

    blocks = []
    for node, node_seen in zip(nodes, seen, strict=True):
        event = node_seen.wait_for(good.id)
        assert event.result["code"] == "ok"
        bad = node.status(forged.id)
        assert bad is not None and (bad.state, bad.reason) == ("rejected", "bad_signature"), bad
        missing = node.status(sha256_hex(sign_body(unsigned_body, []).body_bytes))
        assert missing is not None, "the unsigned entry is not recorded"
        assert (missing.state, missing.reason) == ("rejected", "missing_signature"), missing
        assert node.store.transaction(forged.id) is None
        assert node.store.account_row(victim.account) is None
        assert node.store.account_row(forger.account) is None
        last = node.store.last_block()
        assert last is not None
        blocks.append((last.header.height, last.header.hash))
    assert blocks[0] == blocks[1], "the two nodes built different chains from one log"


def test_what_one_node_admits_executes_on_the_other(
    federation: tuple[Genesis, EmbeddedLog, list[Node], list[Seen]],
) -> None:
    genesis, _shared, nodes, seen = federation
    nodes[1].run(genesis.bootstrap)  # admitted by b this time
    maker = TxMaker(genesis.config.chain_id, wall_clock_ms)
    member = Member.new()
    opened = nodes[1].run([maker.open(member)])[0]
    on_a = seen[0].wait_for(opened.id)
    assert (on_a.height, on_a.seq, on_a.result) == (opened.height, opened.seq, opened.result)
    assert nodes[0].summary.last_hash == nodes[1].summary.last_hash
    assert nodes[0].summary.accounts == nodes[1].summary.accounts


def test_a_node_loading_its_state_in_the_background_answers_at_once(tmp_path: Path) -> None:
    """``lien serve`` opens its node with the state loading in the block loop: before it is
    loaded the read model already tells the chain's height, accounts and currencies (from
    the store), submissions are taken, and a retry of an executed id gets its first outcome."""
    chain = bootstrapped_chain(tmp_path, CHAIN)
    genesis, executed, expected = chain.genesis, chain.bootstrap, chain.summary
    node = Node(Store(chain.url), validator_key=genesis.validator, load_in_background=True)
    loading = node.summary
    assert not loading.ready and not node.wait_ready(0)
    assert (loading.height, loading.last_hash, loading.accounts, loading.currencies) == (
        expected.height, expected.last_hash, expected.accounts, expected.currencies)
    node.start()
    try:
        opened = node.run([TxMaker(node.chain_id, wall_clock_ms).open(Member.new())])[0]
        again = node.run(genesis.bootstrap[:1])[0]
    finally:
        node.stop()
        node.store.dispose()
    assert node.summary.ready and node.summary.accounts == expected.accounts + 1
    assert opened.result == {"code": "ok"} and opened.height == expected.height + 1
    assert again.to_json() == executed[0].to_json()
