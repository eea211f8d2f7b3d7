"""A validator rotates its key on a node of a chain with 4 validators.

The node holds validator A's key and, for the rotation, A's new key; the test plays the other
three validators (B, C, D), signing the node's own headers and handing the votes to the node as
a federation's votes stream would (``Node.receive_votes``; the stream also brings back the
node's own votes). Before the change a block is final
with 3 of A, B, C, D; the change (``set_validators``) is certified by that set; from the next
block on the node signs with A's new key, A's old key no longer counts, and a receipt verifies
offline against the genesis validators through the change it carries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import nacl.signing
import pytest

from lien.chain import ValidatorSchedule, sign_header, verify_receipt
from lien.chain.receipt import ReceiptInvalid
from lien.ledger.state import ValidatorChange
from lien.node.finality import Tally, Vote
from lien.node.genesis import Genesis, make_genesis
from lien.node.integrity import quick_check
from lien.node.node import Node, Status, wall_clock_ms
from lien.node.verify import verify_store
from lien.store import Store
from lien.wallet import Member, TxMaker

from server_support import poll


def key(label: str) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(hashlib.sha256(label.encode()).digest())


def pub(k: nacl.signing.SigningKey) -> str:
    return bytes(k.verify_key).hex()


A, B, C, D = (key(f"validator {name}") for name in "ABCD")
NEW_A = key("validator A, new key")


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[Node, Genesis, str]]:
    genesis = make_genesis("rotation", wall_clock_ms(), validators=(A, B, C, D))
    url = f"sqlite:///{tmp_path / 'node.db'}"
    store = Store(url)
    store.create(genesis.config)
    node = Node(store, validator_key=A, more_validator_keys=(NEW_A,))
    node.start()
    try:
        yield node, genesis, url
    finally:
        node.stop()
        store.dispose()


def vote(node: Node, height: int, *keys: nacl.signing.SigningKey) -> str:
    """The validators ``keys`` sign the node's block ``height``, and their votes reach the node
    with its own (as it stored them); returns the block's hash."""
    block = node.store.block(height)
    assert block is not None
    block_hash = block.header.hash
    own = [Vote(height, block_hash, k, sig) for k, sig in block.signatures.items()]
    node.receive_votes(own + [Vote(height, block_hash, pub(k), sign_header(k, block_hash))
                              for k in keys])
    return block_hash


def certify(node: Node, height: int, *keys: nacl.signing.SigningKey) -> None:
    vote(node, height, *keys)
    poll(lambda: node.final_height >= height, 10, f"block {height} final")


def executed(statuses: list[Status]) -> list[dict[str, object]]:
    return [dict(s.result or {}) for s in statuses]


def test_a_key_rotation_on_a_chain_of_four_validators(chain: tuple[Node, Genesis, str]
                                                      ) -> None:
    node, genesis, url = chain
    mk = TxMaker(genesis.config.chain_id, wall_clock_ms)
    assert executed(node.run(genesis.bootstrap)) == [{"code": "ok"}] * len(genesis.bootstrap)
    height = node.summary.height
    assert node.final_height == 0  # A alone is 1 of 4
    certify(node, height, B, C)  # A, B and C: 3 of 4

    rotated = [pub(NEW_A), pub(B), pub(C), pub(D)]
    # signed by A and B only: 2 of 4 validators, not more than 2/3
    [short] = node.run([mk.set_validators([A, B], rotated)])
    assert short.result == {"code": "quorum_not_met", "have": 2, "need": 3}
    certify(node, short.height or 0, B, C)
    [change] = node.run([mk.set_validators([A, B, C], rotated)])
    assert change.result == {"code": "ok"}
    h = change.height or 0
    assert node.state.validators == ValidatorChange(h + 1, tuple(sorted(rotated)))
    assert node.validators.at(h).keys == genesis.config.validators
    assert set(node.validators.at(h + 1).keys) == set(rotated)
    # the block of the change is signed by A's old key: the set before the change certifies it
    block = node.store.block(h)
    assert block is not None and set(block.signatures) == {pub(A)}
    certify(node, h, B, C)

    # from the next block on, the node signs with A's new key
    [paid] = node.run([mk.open(Member.new())])
    assert paid.height == h + 1
    block = node.store.block(h + 1)
    assert block is not None and set(block.signatures) == {pub(NEW_A)}
    # A's old key and B: the old key no longer counts (new A and B are 2 of 4)
    block_hash = vote(node, h + 1, A, B)
    poll(lambda: pub(B) in node.tally.signatures(h + 1, block_hash), 10, "B's vote tallied")
    assert pub(A) not in node.tally.signatures(h + 1, block_hash)
    assert node.final_height == h
    certify(node, h + 1, C)  # new A, B and C
    block = node.store.block(h + 1)
    assert block is not None and set(block.signatures) == {pub(NEW_A), pub(B), pub(C)}

    # a receipt of the block after the change verifies against the genesis validators alone
    receipt = node.receipt(paid.id)
    assert receipt is not None
    assert [c["header"]["height"] for c in receipt["validator_changes"]] == [h]
    assert set(receipt["validators"]) == set(rotated)
    assert verify_receipt(receipt, genesis.config.validators).height == h + 1
    with pytest.raises(ReceiptInvalid):
        verify_receipt({**receipt, "validator_changes": []}, genesis.config.validators)
    # a receipt of a block before the change carries no change
    before = node.receipt(short.id)
    assert before is not None and before["validator_changes"] == []
    verify_receipt(before, genesis.config.validators)

    # the whole chain verifies (each block against the set in force at its height)
    assert node.store.validator_changes() == [ValidatorChange(h + 1, tuple(sorted(rotated)))]
    report = verify_store(node.store)
    assert report.ok, report.problem
    assert quick_check(node.store).ok


def test_a_restarted_node_follows_the_stored_changes(chain: tuple[Node, Genesis, str]) -> None:
    node, genesis, url = chain
    mk = TxMaker(genesis.config.chain_id, wall_clock_ms)
    node.run(genesis.bootstrap)
    rotated = [pub(NEW_A), pub(B), pub(C), pub(D)]
    [change] = node.run([mk.set_validators([A, B, C], rotated)])
    h = change.height or 0
    certify(node, h, B, C)
    [later] = node.run([mk.open(Member.new())])
    certify(node, h + 1, B, C)
    node.stop()
    # a restart: the schedule comes from the store; finality is found with each height's set
    again = Node(node.store, validator_key=NEW_A)
    try:
        assert again.final_height == h + 1
        assert set(again.validators.at(h + 1).keys) == set(rotated)
        assert again.state.validators.from_height == h + 1
    finally:
        again.stop()
    store = Store(url)
    try:
        assert verify_store(store).ok
    finally:
        store.dispose()
    assert later.result == {"code": "ok"}


def test_the_tally_keeps_votes_of_a_set_it_does_not_know_yet() -> None:
    """A vote for a height above the blocks a node executed may be by a key of a set that a
    block it has not executed yet made: kept aside, counted once the node learns the change."""
    schedule = ValidatorSchedule(tuple(pub(k) for k in (A, B, C, D)))
    tally = Tally(schedule)
    block_hash = "ab" * 32
    early = Vote(6, block_hash, pub(NEW_A), sign_header(NEW_A, block_hash))
    assert tally.add(early) is None
    assert tally.signatures(6, block_hash) == {}
    schedule.add(ValidatorChange(5, tuple(sorted(pub(k) for k in (NEW_A, B, C, D)))))
    assert tally.recount() == []
    assert tally.signatures(6, block_hash) == {pub(NEW_A): early.signature}
    # a vote by a key in no set stays aside until its height is final, then is forgotten
    stranger = key("stranger")
    tally.add(Vote(7, block_hash, pub(stranger), sign_header(stranger, block_hash)))
    tally.recount()
    assert tally.signatures(7, block_hash) == {}
    tally.forget_through(7)
    assert tally._aside == []


def test_verify_and_the_start_up_check_see_a_tampered_validator_change(
        chain: tuple[Node, Genesis, str]) -> None:
    node, genesis, url = chain
    mk = TxMaker(genesis.config.chain_id, wall_clock_ms)
    node.run(genesis.bootstrap)
    rotated = [pub(NEW_A), pub(B), pub(C), pub(D)]
    [change] = node.run([mk.set_validators([A, B, C], rotated)])
    node.run([mk.open(Member.new())])
    h = change.height or 0
    node.stop()
    store = Store(url)
    try:
        assert verify_store(store).ok and quick_check(store).ok
        forged = ",".join(sorted([pub(key("forger")), pub(B), pub(C), pub(D)]))
        with store.engine.begin() as conn:  # the new set replaced by another
            conn.exec_driver_sql("UPDATE validator_sets SET keys = ?", (forged,))
        report = verify_store(store)
        assert not report.ok and "validator set" in report.problem, report.problem
        # the start-up check reads the certificates with the forged set: A's new key's
        # signature on the block after the change is no validator's any more
        checked = quick_check(store)
        assert not checked.ok and checked.height == h + 1, checked
        with store.engine.begin() as conn:  # a change beyond the next block
            conn.exec_driver_sql("UPDATE validator_sets SET from_height = 99, keys = ?",
                                 (",".join(sorted(rotated)),))
        checked = quick_check(store)
        assert not checked.ok and checked.check == "validator sets", checked
        assert "beyond the block after the last" in checked.problem
        with store.engine.begin() as conn:  # the change deleted
            conn.exec_driver_sql("DELETE FROM validator_sets")
        report = verify_store(store)
        assert not report.ok, report
    finally:
        store.dispose()
