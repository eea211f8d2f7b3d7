"""A federation on loopback: 3 real NATS servers (one JetStream cluster, a stream of 3
replicas) and 3 nodes, each a validator, each on its own database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lien.federation.resume import resume_stream
from lien.ledger import check_all_invariants
from lien.store import Store
from lien.node.node import Node, Status

from federation_support import Federated, federation, people
from server_support import poll

pytestmark = pytest.mark.slow


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[Federated]:
    yield from federation(tmp_path, 3)


def ok(statuses: list[Status]) -> None:
    bad = [s.to_json() for s in statuses if s.result is None or s.result["code"] != "ok"]
    assert bad == []


def same_chain(nodes: list[Node]) -> int:
    """Every node holds the same blocks up to the lowest final height; returns that height."""
    height = min(n.final_height for n in nodes)
    chains = [[(b.header.height, b.header.hash, b.header.state_root)
               for b in n.store.blocks(0, height)] for n in nodes]
    assert all(chain == chains[0] for chain in chains)
    assert len(chains[0]) == height
    return height


def test_payments_submitted_through_any_node_become_final_on_all_three(fed: Federated) -> None:
    a, b, c = fed.running()
    g, mk = fed.genesis, fed.maker
    ok(a.run(g.bootstrap))
    fed.wait_final(a.summary.height)
    alice, bob, carol = people(fed, 3)
    # Admission checks signers against the admitting node's state: each step through one node
    # waits until every node has executed the previous one.
    ok(b.run([mk.open(m) for m in (alice, bob, carol)]))
    fed.wait_executed(b.summary.height)
    ok(c.run([mk.approve(g.admins[0], m) for m in (alice, bob, carol)]))
    fed.wait_executed(c.summary.height)
    ok(a.run([mk.issue([g.comptoir], m, 10_000) for m in (alice, bob, carol)]))
    fed.wait_executed(a.summary.height)
    finals: list[Status] = []
    for node, (payer, payee) in zip((a, b, c), ((alice, bob), (bob, carol), (carol, alice)),
                                    strict=True):
        node.submit(mk.pay(payer, payee, 1_234), lambda s: finals.append(s)
                    if s.state == "final" else None)
    poll(lambda: len(finals) == 3, 60, "three payments final on the nodes they entered")
    fed.wait_final(max(n.summary.height for n in fed.running()))
    height = same_chain(fed.running())
    assert height >= 5
    for node in fed.running():
        check_all_invariants(node.state)
        assert node.status(finals[0].id).state == "final"
        for m in (alice, bob, carol):
            account = node.state.accounts[m.account]
            assert account is not None
    # a receipt from any node verifies against the genesis validators (3 of 3 signed)
    from lien.chain import verify_receipt
    receipt = b.receipt(finals[0].id)
    assert receipt is not None
    verify_receipt(receipt, g.config.validators)


def test_a_stream_that_loses_its_storage_halts_every_node_loudly_and_no_block_is_lost(
        fed: Federated) -> None:
    a, b, c = fed.running()
    g, mk = fed.genesis, fed.maker
    ok(a.run(g.bootstrap))
    alice, bob = people(fed, 2)
    ok(b.run([mk.open(m) for m in (alice, bob)]))
    fed.wait_final(max(n.summary.height for n in fed.running()))
    before = [(n.final_height, n.last_hash) for n in fed.running()]
    # Every NATS server loses its JetStream storage (a disk replaced, a bad restore).
    for server in fed.cluster.servers:
        server.stop()
    for server in fed.cluster.servers:
        import shutil
        shutil.rmtree(server.spec.store_dir)
    for server in fed.cluster.servers:
        server.start()
    for server in fed.cluster.servers:
        server.wait_ready()
    # Every node notices, says so and halts: nothing read from a stream it cannot trust.
    for node in fed.running():
        poll(lambda node=node: node.failure is not None, 60, "the node halting")
        assert "stream" in str(node.failure)
    # ... and keeps every certified block it held.
    assert [(n.final_height, n.last_hash) for n in fed.running()] == before
    for node in fed.running():
        assert node.store.last_block() is not None
        assert node.store.last_block().header.hash == node.last_hash
    # A node started again on the new, empty stream refuses it too (its creation time differs).
    fed.nodes[0].stop()
    restarted = fed.nodes[0].start()
    poll(lambda: restarted.failure is not None, 60, "the restarted node halting")
    assert "recreated" in str(restarted.failure)
    assert restarted.final_height == before[0][0]
    # The operators resume: every node continues on the new stream from its last certified
    # block, nothing rewritten, and the federation finalises new payments.
    for n in fed.nodes:
        n.stop()
    for n in fed.nodes:
        store = Store(n.url)
        try:
            report = resume_stream(store, n.config(), n.directory / "stream.json")
        finally:
            store.dispose()
        assert report.height == before[0][0]
    for n in fed.nodes:
        n.start()
    a, b, c = fed.running()
    carol = people(fed, 1)[0]
    ok(c.run([mk.open(carol)]))
    fed.wait_final(before[0][0] + 1)
    height = same_chain(fed.running())
    assert height > before[0][0]
    assert a.store.block(before[0][0]).header.hash == before[0][1]  # history kept
    for node in fed.running():
        assert node.failure is None
