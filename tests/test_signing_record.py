"""The validator's signing record refuses to sign a height twice for different blocks, and a
node refuses a database that is behind what its validator signed (see ``lien.node.signing``;
the system test ``test_a_lost_wal_is_refused_at_start_and_no_height_is_signed_twice`` shows
the same with a real WAL lost after ``kill -9``)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

import pytest
from server_support import Server, free_port
from system_support import init_demo, lien

from lien.node.genesis import make_genesis
from lien.wallet import Member, TxMaker
from lien.node.node import Node, wall_clock_ms
from lien.node.signing import SigningRecord, SigningRefused
from lien.store import Store

CHAIN = "lien-signing-test"
A, B = "a" * 64, "b" * 64


def test_a_height_is_signed_once_and_only_forward(tmp_path: Path) -> None:
    path = tmp_path / "signing.json"
    record = SigningRecord(path, CHAIN)
    record.advance(1, A)
    record.advance(1, A)  # the same block again (rebuilt after a crash): harmless
    record.advance(2, B)
    with pytest.raises(SigningRefused, match="already signed block 2"):
        record.advance(2, A)  # another block at a height already signed
    with pytest.raises(SigningRefused, match="already signed block 2"):
        record.advance(1, A)  # backwards
    again = SigningRecord(path, CHAIN)  # durable: a new process reads the same
    assert (again.last.height, again.last.hash) == (2, B)
    with pytest.raises(SigningRefused, match="already signed"):
        again.advance(2, A)
    assert json.loads(path.read_text()) == {"chain_id": CHAIN, "height": 2, "hash": B}


def test_a_record_of_another_chain_or_damaged_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing.json"
    SigningRecord(path, CHAIN).advance(3, A)
    with pytest.raises(SigningRefused, match="not this chain's signing record"):
        SigningRecord(path, "another-chain")
    path.write_text("{not json")
    with pytest.raises(SigningRefused, match="unreadable"):
        SigningRecord(path, CHAIN)


def test_the_database_may_be_one_block_behind_never_more(tmp_path: Path) -> None:
    record = SigningRecord(tmp_path / "signing.json", CHAIN)
    record.advance(5, A)
    record.check_database(5, A)
    record.check_database(4, B)  # the crash between signing block 5 and committing it
    with pytest.raises(SigningRefused, match="signed up to block 5"):
        record.check_database(3, B)
    with pytest.raises(SigningRefused, match="not the block this validator signed"):
        record.check_database(5, B)


def test_a_node_signs_only_what_it_recorded_and_refuses_a_database_behind(
    tmp_path: Path,
) -> None:
    genesis = make_genesis(CHAIN, wall_clock_ms())
    record_path = tmp_path / "signing.json"
    store = Store(f"sqlite:///{tmp_path / 'node.db'}")
    store.create(genesis.config)
    node = Node(store, validator_key=genesis.validator, signing_record=record_path)
    node.start()
    try:
        node.run(genesis.bootstrap)
        node.run([TxMaker(node.chain_id, wall_clock_ms).open(Member.new())])
    finally:
        node.stop()
    last = store.last_block()
    assert last is not None
    recorded = json.loads(record_path.read_text())
    assert (recorded["height"], recorded["hash"]) == (last.header.height, last.header.hash)
    store.dispose()
    # Another, empty database for the same chain: far behind what this validator signed.
    behind = Store(f"sqlite:///{tmp_path / 'restored.db'}")
    behind.create(genesis.config)
    with pytest.raises(SigningRefused, match=f"signed up to block {last.header.height}"):
        Node(behind, validator_key=genesis.validator, signing_record=record_path)
    behind.dispose()


def test_a_second_lien_serve_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    """Two processes on one node directory would each sign their own block at the next height
    (a second block for a height, and a signing record the first one's database contradicts:
    neither could start again). The second ``lien serve`` is refused (exit 2, saying why)
    while the first runs, and starts once it has stopped."""
    path = tmp_path / "demo"
    init_demo(path)
    record = path / "signing.json"
    with Server(path) as first:
        signed = record.read_text()
        second = lien("serve", "--dir", path, "--port", free_port(), timeout_s=30)
        assert second.returncode == 2, second.message
        assert "another process" in second.message and str(path) in second.message
        assert "Traceback" not in second.message
        assert record.read_text() == signed
        assert httpx.get(f"{first.api}/chain").status_code == 200
    with Server(path):  # the first has stopped: the directory is free again
        pass


def test_a_lost_signing_record_is_refused_until_the_operator_rebuilds_it(tmp_path: Path) -> None:
    """Without its record a node could not tell a complete database from one that lost its
    last blocks with it: ``lien serve`` and ``lien verify`` refuse, naming the way out; after
    a verification from genesis ``--rebuild-signing-record`` writes it and the node serves."""
    path = tmp_path / "demo"
    init_demo(path)
    record = path / "signing.json"
    signed = json.loads(record.read_text())
    record.unlink()
    refused = lien("serve", "--dir", path, "--port", free_port(), timeout_s=30)
    assert refused.returncode == 2, refused.message
    assert "signing.json is missing" in refused.message, refused.message
    assert "--rebuild-signing-record" in refused.message and "Traceback" not in refused.message
    failed = lien("verify", "--dir", path)
    assert failed.returncode == 3 and "signing.json is missing" in failed.message, failed.message
    assert not record.exists()
    rebuilt = lien("verify", "--dir", path, "--rebuild-signing-record")
    assert rebuilt.returncode == 0, rebuilt.message
    assert json.loads(record.read_text()) == signed
    with Server(path) as server:
        assert httpx.get(f"{server.api}/chain").json()["height"] == signed["height"]
