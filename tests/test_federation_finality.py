"""Finality against faulty validators, in a federation of 4 nodes (real NATS servers): more
than 2/3 is 3 of 4, so one validator may fail or lie without stopping the others."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from lien.chain import sign_header
from lien.ledger.crypto import new_signing_key, public_key_hex
from lien.node.genesis import make_genesis
from lien.node.node import wall_clock_ms
from lien.store import Store
from lien.node.finality import StateDiverged, Vote
from lien.node.node import Node, Status

from federation_support import Federated, federation, people
from server_support import poll

pytestmark = pytest.mark.slow


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[Federated]:
    yield from federation(tmp_path, 4)


def ok(statuses: list[Status]) -> None:
    assert [s.to_json() for s in statuses if s.result is None or s.result["code"] != "ok"] == []


def members(fed: Federated, node: Node, count: int) -> list:  # type: ignore[type-arg]
    """``count`` new members, open, approved and given 10 000 each, through ``node``."""
    g, mk = fed.genesis, fed.maker
    ok(node.run(g.bootstrap))
    found = people(fed, count)
    ok(node.run([mk.open(m) for m in found] + [mk.approve(g.admins[0], m) for m in found]
                + [mk.issue([g.comptoir], m, 10_000) for m in found]))
    # every node has executed them before another node is asked to admit their payments
    # (admission checks the signer against the admitting node's own state)
    fed.wait_executed(node.summary.height)
    return found


def test_a_validator_signing_a_wrong_state_cannot_make_it_final_and_is_caught(
        fed: Federated) -> None:
    a, b, c, d = fed.running()
    liar_key = fed.nodes[3].key
    honest_sink = d.vote_sink
    assert honest_sink is not None
    forged: list[Vote] = []

    def lie(vote: Vote) -> None:
        """Sign another header at the same height (a wrong state), and the true one too."""
        wrong = os.urandom(32).hex()
        fake = Vote(vote.height, wrong, vote.key, sign_header(liar_key, wrong))
        forged.append(fake)
        honest_sink(fake)
        honest_sink(vote)

    d.vote_sink = lie
    alice, bob = members(fed, a, 2)
    ok(b.run([fed.maker.pay(alice, bob, 500)]))
    top = max(n.summary.height for n in fed.running())
    fed.wait_final(top)
    # The wrong headers were never certified: every node's blocks are its own, equal on all.
    for node in fed.running():
        hashes = {blk.header.hash for blk in node.store.blocks(0, top)}
        assert not hashes & {v.block_hash for v in forged}
    # ... and every honest node holds the evidence: the liar's two signatures at one height.
    for node in (a, b, c):
        poll(lambda node=node: node.evidence, 30, "evidence of the equivocation")
        evidence = node.evidence[0]
        assert evidence.key == liar_key.verify_key.encode().hex()
        hashes = {evidence.first[0], evidence.second[0]}
        assert len(hashes) == 2 and hashes & {v.block_hash for v in forged}
    # The evidence is kept: node a, restarted, still shows it.
    kept = list(a.evidence)
    fed.nodes[0].stop()
    a = fed.nodes[0].start()
    assert a.evidence[: len(kept)] == kept


def test_a_wrong_validator_alone_is_not_enough_and_the_rest_still_finalise(
        fed: Federated) -> None:
    a, b, c, d = fed.running()
    liar_key = fed.nodes[3].key
    sink = d.vote_sink
    assert sink is not None

    def only_lies(vote: Vote) -> None:
        wrong = os.urandom(32).hex()
        sink(Vote(vote.height, wrong, vote.key, sign_header(liar_key, wrong)))

    d.vote_sink = only_lies
    alice, bob = members(fed, c, 2)
    ok(a.run([fed.maker.pay(alice, bob, 700)]))
    top = a.summary.height
    fed.wait_final(top, [a, b, c])
    liar = liar_key.verify_key.encode().hex()
    for node in (a, b, c):
        for block in node.store.blocks(0, top):
            if block.header.height > 0 and len(block.signatures) > 1:
                assert liar not in block.signatures  # certified by a, b, c: 3 of 4
        # ... and the liar is caught: its signature of a header other than the certified one
        poll(lambda node=node: node.evidence, 30, "evidence of the wrong header")
        evidence = node.evidence[0]
        assert evidence.key == liar
        certified = node.store.block(evidence.height)
        assert certified is not None and evidence.first[0] == certified.header.hash
        assert evidence.second[0] != certified.header.hash


def test_a_node_whose_state_differs_from_the_certified_header_stops_with_a_report(
        fed: Federated) -> None:
    a, b, c, d = fed.running()
    alice, bob = members(fed, a, 2)
    fed.wait_final(a.summary.height)
    # Node d's database is edited behind its back while it is stopped: alice's credit ceiling.
    fed.nodes[3].stop()
    database = fed.nodes[3].url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as conn:
        changed = conn.execute("UPDATE memberships SET ceiling = ceiling + 1 WHERE account = ?",
                               (alice.account,)).rowcount
    assert changed == 1
    d = fed.nodes[3].start()
    ok(b.run([fed.maker.pay(alice, bob, 300)]))  # touches alice: d computes another state
    poll(lambda: d.failure is not None, 60, "node d halting")
    assert isinstance(d.failure, StateDiverged)
    report = d.failure.report
    assert report["own_hash"] != report["certified_hash"]
    assert len(report["signers"]) >= 3
    honest = a.store.block(report["height"])
    assert honest is not None and honest.header.hash == report["certified_hash"]
    assert d.final_height < report["height"]  # d never called its own block final
    fed.wait_final(a.summary.height, [a, b, c])


def test_a_block_final_through_a_later_one_gets_its_own_certificate_when_votes_come(
        tmp_path: Path) -> None:
    """Finality is sequential: a certified block makes the ones before it final. Each block
    still gets its own certificate (receipts and peers catching up check each block's own)
    once the votes it lacked arrive, even late. (One node of a 4-validator chain; the other
    validators' votes are handed to it directly.)"""
    keys = tuple(new_signing_key() for _ in range(4))
    genesis = make_genesis("late-votes", wall_clock_ms(), validators=keys)
    store = Store(f"sqlite:///{tmp_path / 'node.db'}")
    store.create(genesis.config)
    node = Node(store, validator_key=keys[0])
    node.start()
    try:
        ok(node.run(genesis.bootstrap[:1]))
        ok(node.run(genesis.bootstrap[1:]))
        first, second = 1, node.summary.height
        assert second > first and node.final_height == 0

        def votes(height: int, signers: tuple[int, ...]) -> list[Vote]:
            block = store.block(height)
            assert block is not None
            return [Vote(height, block.header.hash, public_key_hex(keys[i]),
                         sign_header(keys[i], block.header.hash)) for i in signers]

        node.receive_votes(votes(second, (1, 2)))  # 3 of 4 on the later block: both final
        poll(lambda: node.final_height == second, 30, "final through the later block")
        early = store.block(first)
        assert early is not None and len(early.signatures) == 1  # its own only
        node.receive_votes(votes(first, (1, 3)))  # its votes arrive, late
        poll(lambda: len(store.block(first).signatures) == 3, 30,  # type: ignore[union-attr]
             "the early block's own certificate")
        early = store.block(first)
        assert early is not None
        assert node.validators.at(first).is_final(early.header.hash, early.signatures)
    finally:
        node.stop()
        store.dispose()
