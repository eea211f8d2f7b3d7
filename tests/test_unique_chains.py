"""Every chain has its own id, and a transaction of one chain is refused by every other.

Protocol 2 derives the chain id from the genesis document (docs/protocol.md §10.2): its
``name``, ``-``, and 32 hex digits of the SHA-256 of the rest. Every body carries its chain id
and every signature covers the body, so a signature binds the genesis. Shown here: the
derivation as the document words it; an edited genesis refused (by the ledger, by ``lien
serve``/``verify``/``export``); a protocol-1 genesis still read unchanged; the executor dropping
another chain's transaction; and, with real processes, two ``lien init --demo`` chains served
by ``lien serve`` refusing each other's transactions with 400 ``wrong_chain`` — whether the key
holds an account only on the chain it signed for or on both — recording nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from ledger_support import T0, World
from server_support import Server, free_port
from system_support import JSON, Bank, chain_id, founder, init_demo, lien, post_tx, snapshot

from lien.ledger import (
    ChainConfig,
    GenesisInvalid,
    Reason,
    TxError,
    canonical,
    check_freshness,
    limits,
    parse_tx,
)
from lien.ledger.crypto import new_signing_key, public_key_hex
from lien.ledger.fields import CHAIN_RE
from lien.node.genesis import make_genesis
from lien.node.node import wall_clock_ms
from lien.node.setup import init_node
from lien.wallet import Member, TxMaker

FIXTURE_GENESIS = Path(__file__).parent / "fixtures" / "node_before_alembic" / "genesis.json"


def keys(n: int) -> tuple[str, ...]:
    return tuple(public_key_hex(new_signing_key()) for _ in range(n))


def new_config(name: str = "lien-test", time_ms: int = T0, validators: int = 1,
               governors: int = 1, quorum: int = 1) -> ChainConfig:
    return ChainConfig.new(name, time_ms, keys(validators), keys(governors), quorum)


def refusal(document: Any) -> str:
    with pytest.raises(GenesisInvalid) as refused:
        ChainConfig.from_json(document)
    return str(refused.value)


# -- the derivation ---------------------------------------------------------------------------------
def test_a_chain_id_is_the_name_then_a_digest_of_the_rest_of_the_genesis() -> None:
    config = new_config("lien-stetienne")
    document = config.to_json()
    content = {k: v for k, v in document.items() if k != "chain_id"}
    # as section 10.2 words it, with the standard library only
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False).encode()).hexdigest()
    assert config.chain_id == f"lien-stetienne-{digest[:limits.chain_id_digest_hex]}"
    assert (config.name, config.protocol) == ("lien-stetienne", limits.PROTOCOL_VERSION)
    assert set(document) == {"chain_id", "name", "genesis_time_ms", "validators", "governors",
                             "governor_quorum", "protocol"}
    assert ChainConfig.from_json(json.loads(json.dumps(document))) == config
    # the genesis root covers the whole document, the chain id included
    assert config.genesis_root() == hashlib.sha256(canonical(document)).digest()


def test_every_member_of_the_genesis_changes_the_chain_id() -> None:
    base = new_config(governors=2, quorum=1)
    validators, governors = base.validators, base.governors
    variants = [
        ChainConfig.new("lien-other", T0, validators, governors, 1),
        ChainConfig.new("lien-test", T0 + 1, validators, governors, 1),
        ChainConfig.new("lien-test", T0, keys(1), governors, 1),
        ChainConfig.new("lien-test", T0, validators, (governors[0], *keys(1)), 1),
        ChainConfig.new("lien-test", T0, validators, governors, 2),
        ChainConfig.new("lien-test", T0, validators, governors[::-1], 1),
    ]
    ids = {base.chain_id, *(v.chain_id for v in variants)}
    assert len(ids) == len(variants) + 1


def test_two_new_chains_never_share_an_id_even_with_one_name_and_one_time() -> None:
    ids = {make_genesis("lien-demo", T0).config.chain_id for _ in range(20)}
    assert len(ids) == 20
    assert all(re.fullmatch(r"lien-demo-[0-9a-f]{32}", i) for i in ids)


def test_the_name_and_the_validators_at_their_limits() -> None:
    longest = "n" * limits.chain_name_bytes_max
    config = new_config(longest, validators=limits.validators_max)
    assert len(config.chain_id) == limits.chain_id_bytes_max
    assert CHAIN_RE.fullmatch(config.chain_id)  # a body's `chain` can carry every chain id
    assert "chain name" in refusal({**config.to_json(), "name": longest + "n"})
    with pytest.raises(GenesisInvalid, match="name: not a chain name"):
        new_config(longest + "n")
    with pytest.raises(GenesisInvalid, match=f"validators: must hold 1..{limits.validators_max}"):
        new_config(validators=limits.validators_max + 1)
    assert len(config.chain_id.rsplit("-", 1)[1]) == limits.chain_id_digest_hex


# -- refusals ------------------------------------------------------------------------------------------
EDITS = {
    "chain id of another chain": lambda doc: {**doc, "chain_id": new_config().chain_id},
    "chain id chosen by hand": lambda doc: {**doc, "chain_id": "lien-local"},
    "another validator": lambda doc: {**doc, "validators": list(keys(1))},
    "another governor": lambda doc: {**doc, "governors": list(keys(1))},
    "another time": lambda doc: {**doc, "genesis_time_ms": doc["genesis_time_ms"] + 1},
    "another name": lambda doc: {**doc, "name": "lien-demo"},
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_an_edited_genesis_is_refused(edit: str) -> None:
    document = EDITS[edit](new_config().to_json())
    assert "is not the one derived from its content" in refusal(document)


BAD = {
    "not an object": ([], "a genesis document is a JSON object"),
    "newer protocol": ({"protocol": 3}, "protocol 3 is newer than this lien's (2): upgrade"),
    "protocol 0": ({"protocol": 0}, "protocol: must be in 1..2"),
    "missing name": ({"name": ...}, "missing field name"),
    "name with capitals": ({"name": "Lien"}, "name: not a chain name"),
    "unexpected field": ({"comment": "x"}, "unexpected field comment"),
    "no validator": ({"validators": []}, "validators: must hold 1.."),
    "repeated governor": ({"governors": ["ab" * 32] * 2}, "governors: has repeated items"),
    "quorum above governors": ({"governor_quorum": 2}, "governor_quorum 2 is not in 1..1"),
    "time as text": ({"genesis_time_ms": "0"}, "genesis_time_ms: must be an integer"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_genesis_document_is_refused_naming_the_fault(case: str) -> None:
    change, message = BAD[case]
    document: Any = change
    if isinstance(change, dict):
        document = {k: v for k, v in {**new_config().to_json(), **change}.items() if v is not ...}
    assert message in refusal(document)


# -- protocol 1: chains made before keep working ------------------------------------------------------
def test_a_protocol_1_genesis_is_read_unchanged() -> None:
    document = json.loads(FIXTURE_GENESIS.read_text())
    assert document["protocol"] == 1 and "name" not in document
    config = ChainConfig.from_json(document)
    assert (config.chain_id, config.name, config.protocol) == ("lien-local", None, 1)
    assert config.to_json() == document  # so its genesis root, every header, re-verify
    assert config.genesis_root() == hashlib.sha256(canonical(document)).digest()
    # its chain id is taken as written (any chain id of the alphabet), but not a name
    assert ChainConfig.from_json({**document, "chain_id": "lien-ancienne"}).chain_id == (
        "lien-ancienne")
    assert "unexpected field name" in refusal({**document, "name": "lien-local"})


# -- the ledger: another chain's transaction is dropped, whoever signed it ----------------------------
def test_a_transaction_of_another_chain_is_dropped_whatever_the_keys() -> None:
    a, b = World(), World()
    assert a.state.config.chain_id != b.state.config.chain_id
    # the same keys hold funded accounts on both chains
    payer, payee = a.join(label="payer", nantie=10_000), a.join(label="payee")
    assert b.join(label="payer", nantie=10_000).key == payer.key
    assert b.join(label="payee").key == payee.key
    for_a = a.mk.pay(payer, payee, 100)
    for_b = b.mk.pay(payer, payee, 100)
    assert for_a.id != for_b.id  # same keys, same clock, same nonce: the chain makes them two
    with pytest.raises(TxError) as refused:
        check_freshness(for_a, b.state.config.chain_id, T0 + 10)
    assert refused.value.reason is Reason.WRONG_CHAIN
    lines = b.state.all_lines()
    out = b.block([for_a])
    assert out.txs == [] and [e.reason for _, e in out.dropped] == [Reason.WRONG_CHAIN]
    assert b.state.all_lines() == lines
    assert [r.reason for r in a.block([for_a]).results] == ["ok"]
    assert [r.reason for r in b.block([for_b]).results] == ["ok"]


# -- a node refuses a database whose genesis was edited --------------------------------------------
@pytest.mark.parametrize("edit", ["chain id of another chain", "another validator"])
def test_serve_verify_and_export_refuse_an_edited_genesis(tmp_path: Path, edit: str) -> None:
    path = tmp_path / "node"
    init_node(path, password="unique", genesis=make_genesis("lien-test", wall_clock_ms()))
    with sqlite3.connect(path / "node.db") as conn:
        (value,) = conn.execute("SELECT value FROM node_settings WHERE name = 'genesis'").fetchone()
        edited = EDITS[edit](json.loads(value))
        conn.execute("UPDATE node_settings SET value = ? WHERE name = 'genesis'",
                     (json.dumps(edited),))
    for command in (["serve", "--port", str(free_port())], ["verify"], ["export"]):
        # a process with a deadline: a serve that accepted the genesis would never return
        result = lien(*command, "--dir", path, timeout_s=30)
        assert result.returncode == 2, (command, result.message)
        assert "genesis document" in result.message and "not valid" in result.message
        assert "is not the one derived from its content" in result.message, result.message
        assert "Traceback" not in result.message


def test_init_refuses_a_bad_name_before_anything(tmp_path: Path) -> None:
    refused = lien("init", "--dir", tmp_path / "node", "--name", "Le-LIEN", "--password", "x")
    assert refused.returncode == 2, refused.message
    assert "--name 'Le-LIEN' is not a chain name" in refused.message
    assert not (tmp_path / "node").exists() and list(tmp_path.iterdir()) == []


# -- two real demo chains -----------------------------------------------------------------------------
@dataclass
class Chain:
    path: Path
    server: Server
    chain_id: str

    @property
    def api(self) -> str:
        return self.server.api

    def height(self, client: httpx.Client) -> int:
        return int(client.get(f"{self.api}/chain").json()["height"])

    def member(self, index: int) -> Member:
        """The ``index``th demo member, with its key (keystore ``keys/<account>.json``)."""
        demo = json.loads((self.path / "demo.json").read_text())
        entry = demo["members"][index]
        return founder(self.path, entry["account"])


@pytest.fixture(scope="module")
def chains(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Chain, Chain]]:
    """Two chains made by ``lien init --demo`` and served by ``lien serve``."""
    made = []
    for name in ("a", "b"):
        path = tmp_path_factory.mktemp("unique") / name
        init_demo(path)
        made.append((path, Server(path)))
    for _, server in made:
        server.start()
    try:
        yield tuple(Chain(p, s, chain_id(p)) for p, s in made)  # type: ignore[misc]
    finally:
        for _, server in made:
            server.stop()


def refused_as_wrong_chain(response: httpx.Response, chain: Chain) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == Reason.WRONG_CHAIN.value
    assert chain.chain_id in response.json()["error"]["detail"]


def executed_ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()
    assert status["status"] in ("executed", "final") and status["result"]["code"] == "ok", status
    return status


@pytest.mark.slow
def test_two_demo_chains_have_their_own_ids(chains: tuple[Chain, Chain]) -> None:
    a, b = chains
    assert a.chain_id != b.chain_id
    with httpx.Client(timeout=10) as client:
        for chain in chains:
            assert re.fullmatch(r"lien-demo-[0-9a-f]{32}", chain.chain_id)
            answer = client.get(f"{chain.api}/chain").json()
            assert (answer["chain_id"], answer["name"], answer["protocol"]) == (
                chain.chain_id, "lien-demo", limits.PROTOCOL_VERSION)
            genesis = json.loads((chain.path / "genesis.json").read_text())
            assert answer["genesis"] == genesis
            assert ChainConfig.from_json(genesis).chain_id == chain.chain_id


@pytest.mark.slow
def test_a_payment_signed_for_one_demo_chain_is_refused_by_the_other(
        chains: tuple[Chain, Chain]) -> None:
    """The payer holds an account on chain A only (demo keys are new for every init)."""
    a, b = chains
    payer, payee = a.member(0), a.member(1)
    tx = TxMaker(a.chain_id, wall_clock_ms).pay(payer, payee, 100, memo="pour A")
    with httpx.Client(timeout=30) as client:
        height, rows = b.height(client), snapshot(b.path)
        refused_as_wrong_chain(post_tx(client, b.api, tx), b)
        assert client.get(f"{b.api}/transactions/{tx.id}").status_code == 404
        assert (b.height(client), snapshot(b.path)) == (height, rows)
        executed_ok(post_tx(client, a.api, tx))  # valid where it was signed for


@pytest.mark.slow
def test_a_payment_is_refused_by_the_other_chain_even_when_the_keys_hold_accounts_on_both(
        chains: tuple[Chain, Chain]) -> None:
    a, b = chains
    payer, payee = a.member(2), a.member(3)
    with httpx.Client(timeout=30) as client:
        # the same keys open accounts on B, approved and funded by B's founders
        Bank(b.path, b.api).open_members(client, [payer, payee], nantie=10_000)
        for_a = TxMaker(a.chain_id, wall_clock_ms).pay(payer, payee, 250)
        for_b = TxMaker(b.chain_id, wall_clock_ms).pay(payer, payee, 250)
        # A's transaction with its chain rewritten to B's: the signature covers the chain
        rewritten = json.loads(json.dumps(for_a.to_json()))
        rewritten["body"]["chain"] = b.chain_id
        height_b, rows_b = b.height(client), snapshot(b.path)
        refused_as_wrong_chain(post_tx(client, b.api, for_a), b)
        forged = client.post(f"{b.api}/transactions", content=json.dumps(rewritten),
                             headers=JSON)
        assert forged.status_code == 400 and forged.json()["error"]["code"] == "bad_signature"
        assert (b.height(client), snapshot(b.path)) == (height_b, rows_b)
        height_a, rows_a = a.height(client), snapshot(a.path)
        refused_as_wrong_chain(post_tx(client, a.api, for_b), a)
        assert (a.height(client), snapshot(a.path)) == (height_a, rows_a)
        # each is valid on its own chain; on B, the next block holds the probe alone: nothing
        # of the refused ones entered B's log to be executed later
        executed_ok(post_tx(client, a.api, for_a))
        probe = executed_ok(post_tx(client, b.api, for_b))
        assert probe["height"] == height_b + 1
        block = client.get(f"{b.api}/blocks/{height_b + 1}").json()
        assert block["transactions"] == [for_b.id], block


@pytest.mark.slow
def test_the_whole_history_of_one_demo_chain_replayed_on_the_other_is_refused(
        chains: tuple[Chain, Chain]) -> None:
    a, b = chains
    exported = lien("export", "--dir", a.path)
    assert exported.returncode == 0, exported.message
    lines = [json.loads(line) for line in exported.stdout.splitlines()[1:]]
    envelopes = [{"body": t["body"], "signatures": t["signatures"]}
                 for line in lines for t in line["transactions"]]
    assert len(envelopes) >= 300 and all(parse_tx(e) for e in envelopes)
    codes: dict[str, int] = {}
    with httpx.Client(timeout=60) as client:
        height, rows = b.height(client), snapshot(b.path)
        for start in range(0, len(envelopes), 100):
            answer = client.post(f"{b.api}/transactions/batch", headers=JSON, content=json.dumps(
                {"transactions": envelopes[start:start + 100]}))
            assert answer.status_code == 200, answer.text
            for item in answer.json()["items"]:
                code = item["error"]["code"] if "error" in item else item["status"]
                codes[code] = codes.get(code, 0) + 1
        assert (b.height(client), snapshot(b.path)) == (height, rows)
    print(f"\nreplay of chain A's {len(envelopes)} transactions on chain B: {codes}; "
          f"B's height {height} and rows unchanged")
    assert codes == {"wrong_chain": len(envelopes)}
