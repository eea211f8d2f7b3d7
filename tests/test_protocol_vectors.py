"""The test vectors of docs/protocol.md, recomputed value by value with the library.

The vectors are the ```json blocks of the "Test vectors" section (written by
``scripts/make_vectors.py --write``). Each is recomputed here from its inputs — seeds, bodies,
results, leaves — with the library, and where the document describes an algorithm (account
ids, the state commitment, RFC 6962 hashing) also with an independent implementation of the
document's words. When ``node`` is installed, the document's JavaScript is run on them too.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from lien.chain import merkle
from lien.chain.block import Header, ValidatorSet, header_for, sign_header
from lien.chain.receipt import ReceiptInvalid, verify_receipt
from lien.ledger import (
    ChainConfig,
    Reason,
    State,
    TxError,
    account_id_for_key,
    apply_block,
    canonical,
    check_signatures,
    format_account_id,
    is_account_id,
    limits,
    parse_account_id,
    parse_json,
    parse_tx,
    sign_body,
)
from lien.ledger.crypto import BLOCK_DOMAIN, TX_DOMAIN, verify

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "protocol.md"
KINDS = {"canonical_json", "account_ids", "transactions", "merkle", "chain", "receipt",
         "web_wallet"}  # web_wallet: checked by tests/test_web_crypto.py


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    rest = text[start + len(heading) + 2 :]
    end = re.search(r"^## ", rest, re.M)
    return rest[: end.start()] if end else rest


@functools.cache
def vectors() -> dict[str, dict[str, Any]]:
    section = _section(DOC.read_text(encoding="utf-8"), "## Test vectors")
    found: dict[str, dict[str, Any]] = {}
    for block in re.findall(r"^```json\n(.*?)^```$", section, re.M | re.S):
        vector = json.loads(block)
        assert vector["kind"] not in found, f"two vector blocks of kind {vector['kind']}"
        found[vector["kind"]] = vector
    return found


def key(seed_hex: str) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes.fromhex(seed_hex))


def pub(seed_hex: str) -> str:
    return bytes(key(seed_hex).verify_key).hex()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# -- the section itself ----------------------------------------------------------------------------
def test_every_kind_of_vector_is_in_the_document() -> None:
    assert set(vectors()) == KINDS


def test_the_generated_section_is_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_vectors.py"), "--check"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr


# -- canonical JSON ----------------------------------------------------------------------------------
def test_canonical_json_vectors() -> None:
    v = vectors()["canonical_json"]
    assert v["accepted"] and v["rejected"]
    for case in v["accepted"]:
        encoded = canonical(case["value"])
        assert encoded == case["canonical_text"].encode("utf-8")
        assert encoded.hex() == case["canonical_hex"]
        assert parse_json(encoded) == case["value"]
        # the document's rule, independently: sorted keys, no spaces, only required escapes
        assert encoded == json.dumps(
            case["value"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
    for case in v["rejected"]:
        with pytest.raises(TxError) as refused:
            canonical(parse_json(case["json"]))
        assert refused.value.reason.value == case["code"]


# -- account ids -------------------------------------------------------------------------------------
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def account_id_as_documented(public_key: bytes) -> str:
    digest = sha256(b"LIEN/account/v1\x00" + public_key)
    value = int.from_bytes(digest[:8], "big") >> 14
    body = "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(10)))
    check = 98 - (value * 100) % 97
    assert 2 <= check <= 98 and (value * 100 + check) % 97 == 1
    return f"{body}{check:02d}"


def test_account_id_vectors() -> None:
    v = vectors()["account_ids"]
    names = {entry["name"] for entry in v["ids"]}
    assert {"admin", "rfc8032-test1"} <= names
    for entry in v["ids"]:
        public_key = bytes.fromhex(pub(entry["seed"]))
        assert public_key.hex() == entry["public_key"]
        assert account_id_for_key(public_key) == entry["account"]
        assert account_id_as_documented(public_key) == entry["account"]
        assert is_account_id(entry["account"])
        assert format_account_id(entry["account"]) == entry["display"]
        assert parse_account_id(entry["display"]) == entry["account"]
    # RFC 8032 section 7.1, TEST 1
    rfc = next(entry for entry in v["ids"] if entry["name"] == "rfc8032-test1")
    assert rfc["public_key"] == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert v["ids"][0]["seed"] == bytes(range(32)).hex()
    for entry in v["typed"]:
        assert parse_account_id(entry["typed"]) == entry["account"]
    assert any(ch in entry["typed"] for entry in v["typed"] for ch in "lo")
    for text in v["invalid"]:
        assert not is_account_id(text)
        with pytest.raises(TxError) as refused:
            parse_account_id(text)
        assert refused.value.reason is Reason.BAD_FIELD


# -- transactions ------------------------------------------------------------------------------------
def test_transaction_vectors() -> None:
    v = vectors()["transactions"]
    assert bytes.fromhex(v["tx_domain_hex"]) == TX_DOMAIN == b"LIEN/tx/v1\x00"
    types = {vector["body"]["type"] for vector in v["vectors"]}
    assert {"open_account", "transfer", "issue"} <= types
    assert any(len(vector["signers"]) >= 2 for vector in v["vectors"])
    assert any("\n" in vector["body"].get("memo", "") and "é" in vector["body"].get("memo", "")
               for vector in v["vectors"])
    for vector in v["vectors"]:
        body = vector["body"]
        encoded = canonical(body)
        assert encoded == vector["canonical_text"].encode("utf-8")
        assert encoded.hex() == vector["canonical_hex"]
        assert hashlib.sha256(encoded).hexdigest() == vector["id"]
        signing_keys = [key(signer["seed"]) for signer in vector["signers"]]
        for signer, signing_key in zip(vector["signers"], signing_keys, strict=True):
            public_key = bytes(signing_key.verify_key)
            assert public_key.hex() == signer["public_key"]
            assert account_id_for_key(public_key) == signer["account"]
            signature = signing_key.sign(TX_DOMAIN + encoded).signature
            assert signature.hex() == signer["signature"]
            assert verify(public_key, TX_DOMAIN, encoded, signature)
            assert not verify(public_key, BLOCK_DOMAIN, encoded, signature)
        tx = sign_body(body, signing_keys)
        assert tx.id == vector["id"]
        assert [s.sig.hex() for s in tx.signatures] == [s["signature"] for s in vector["signers"]]
        envelope = {"body": body, "signatures": [
            {"key": s["public_key"], "sig": s["signature"]} for s in vector["signers"]
        ]}
        parsed = parse_tx(parse_json(json.dumps(envelope, indent=1)))
        assert parsed.id == vector["id"]
        check_signatures(parsed)


# -- Merkle ------------------------------------------------------------------------------------------
def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 Merkle Tree Hash over already-hashed leaves."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return sha256(b"\x01" + mth(leaves[:split]) + mth(leaves[split:]))


def check_proofs(leaves: list[bytes], root: bytes, proofs: list[dict[str, Any]]) -> None:
    for proof in proofs:
        index, path = proof["index"], [bytes.fromhex(h) for h in proof["path"]]
        assert merkle.proof(leaves, index) == path
        assert merkle.root_from_proof(leaves[index], index, len(leaves), path) == root
        if len(leaves) > 1:
            assert merkle.root_from_proof(leaves[index], index, len(leaves), path[:-1]) != root
            other = (index + 1) % len(leaves)
            assert merkle.root_from_proof(leaves[other], index, len(leaves), path) != root


def test_merkle_vectors() -> None:
    v = vectors()["merkle"]
    assert len(v["leaves"]) == 3
    leaves = []
    for entry in v["leaves"]:
        assert canonical(entry["result"]).decode() == entry["result_canonical"]
        leaf = merkle.leaf_hash(entry["tx_id"], entry["result"])
        assert leaf == sha256(
            b"\x00" + bytes.fromhex(entry["tx_id"]) + sha256(canonical(entry["result"]))
        )
        assert leaf.hex() == entry["leaf"]
        leaves.append(leaf)
    root = merkle.root(leaves)
    assert root.hex() == v["root"] == mth(leaves).hex()
    assert [p["index"] for p in v["proofs"]] == list(range(len(leaves)))
    check_proofs(leaves, root, v["proofs"])
    for tree in v["trees"]:
        tree_leaves = [bytes.fromhex(h) for h in tree["leaves"]]
        assert merkle.root(tree_leaves).hex() == tree["root"] == mth(tree_leaves).hex()
        check_proofs(tree_leaves, bytes.fromhex(tree["root"]), tree.get("proofs", []))
    assert {len(tree["leaves"]) for tree in v["trees"]} >= {0, 1, 2, 5, 7}


# -- the chain: genesis, execution, state commitment, headers, signatures ------------------------------
def test_chain_vectors() -> None:
    v = vectors()["chain"]
    assert bytes.fromhex(v["block_domain_hex"]) == BLOCK_DOMAIN
    config = ChainConfig.from_json(v["genesis"])
    assert config.to_json() == v["genesis"]
    assert canonical(v["genesis"]).decode() == v["genesis_canonical"]
    genesis_root = sha256(canonical(v["genesis"]))
    assert genesis_root == config.genesis_root()
    assert genesis_root.hex() == v["genesis_root"]
    # the chain id, as section 10.2 words it: name, "-", 32 hex digits of the content's SHA-256
    content = {k: value for k, value in v["genesis"].items() if k != "chain_id"}
    assert canonical(content).decode() == v["chain_id_content_canonical"]
    assert sha256(canonical(content)).hex() == v["chain_id_content_sha256"]
    assert v["genesis"]["protocol"] == limits.PROTOCOL_VERSION == 2
    assert config.chain_id == f"{v['genesis']['name']}-{v['chain_id_content_sha256'][:32]}"
    assert all(b["header"]["chain"] == config.chain_id for b in v["blocks"])
    assert all(e["body"]["chain"] == config.chain_id for b in v["blocks"] for e in b["entries"])
    seeds = {}
    for name, entry in v["keys"].items():
        assert pub(entry["seed"]) == entry["public_key"], name
        assert account_id_for_key(bytes.fromhex(entry["public_key"])) == entry["account"]
        seeds[entry["public_key"]] = entry["seed"]
    for n, quorum in v["quorum"].items():
        keys = tuple(f"{i:064x}" for i in range(int(n)))
        assert ValidatorSet(keys).quorum == quorum == int(n) * 2 // 3 + 1
        assert quorum * 3 > int(n) * 2
    state = State(config)
    prev_hash, prev_root = v["genesis_root"], genesis_root
    codes = set()
    for block in v["blocks"]:
        txs = []
        for envelope in block["entries"]:
            tx = parse_tx(envelope)
            resigned = sign_body(tx.body, [key(seeds[s["key"]]) for s in envelope["signatures"]])
            assert resigned.to_json()["signatures"] == envelope["signatures"]
            txs.append(tx)
        # the set that certifies the block: the genesis set, as changed by set_validators
        # from the block after each change (section 10.5)
        validators = ValidatorSet(state.validators.keys)
        outcome = apply_block(state, txs, block["time_ms"], verify_signatures=True)
        dropped = {d["index"]: d["code"] for d in block["dropped"]}
        assert len(outcome.txs) + len(dropped) == len(txs)
        assert [tx.id for tx in outcome.txs] == [
            tx.id for i, tx in enumerate(txs) if i not in dropped
        ]
        assert [err.reason.value for _, err in outcome.dropped] == list(dropped.values())
        assert [r.to_json() for r in outcome.results] == block["results"]
        assert [r.encoded for r in outcome.results] == [canonical(r) for r in block["results"]]
        codes |= {r.reason.value for r in outcome.results} | set(dropped.values())

        lines = state.change_lines()
        state.take_changes()
        assert lines == block["changed_lines"] == sorted(block["changed_lines"])
        root = sha256(prev_root + sha256("\n".join(lines).encode("utf-8")))
        assert root == outcome.state_root
        assert root.hex() == block["state_root"]

        header = header_for(config.chain_id, prev_hash, outcome)
        assert header.to_json() == block["header"]
        assert Header.from_json(block["header"]) == header
        assert block["header"]["prev"] == prev_hash
        assert block["header"]["tx_count"] == len(outcome.txs)
        leaves = [merkle.leaf_hash(tx.id, r.to_json())
                  for tx, r in zip(outcome.txs, outcome.results, strict=True)]
        assert block["header"]["tx_root"] == mth(leaves).hex()
        assert canonical(block["header"]).decode() == block["header_canonical"]
        assert hashlib.sha256(canonical(block["header"])).hexdigest() == block["hash"]
        assert header.hash == block["hash"]

        signatures = {}
        for entry in block["signatures"]:
            sig = sign_header(key(seeds[entry["key"]]), block["hash"])
            assert sig.hex() == entry["sig"]
            assert verify(bytes.fromhex(entry["key"]), BLOCK_DOMAIN, bytes.fromhex(block["hash"]),
                          sig)
            signatures[entry["key"]] = sig
        assert validators.is_final(block["hash"], signatures)
        prev_hash, prev_root = block["hash"], root
    # the scenario shows a refusal and both kinds of drop, not only successes
    assert {"ok", "insufficient_funds", "duplicate", "expired"} <= codes
    # and a key rotation: the last block is certified by a key that is not the genesis's
    assert v["blocks"][-1]["signatures"][0]["key"] not in config.validators
    assert state.validators.keys == (v["keys"]["validator-2"]["public_key"],)


def test_the_worked_example_of_the_chain_id_is_the_vectors_one() -> None:
    v = vectors()["chain"]
    text = _section(DOC.read_text(encoding="utf-8"), "### 10.2 Genesis")
    assert f"```text\n{v['chain_id_content_canonical']}\n```" in text
    assert f"Its SHA-256 is `{v['chain_id_content_sha256']}`" in text
    assert f"is `{v['genesis']['chain_id']}`" in " ".join(text.split())


def test_receipt_vector() -> None:
    v = vectors()["receipt"]
    receipt = v["receipt"]
    header = verify_receipt(receipt, tuple(v["trusted_validators"]))
    block = next(b for b in vectors()["chain"]["blocks"] if b["header"] == header.to_json())
    assert receipt["result"] == block["results"][receipt["index"]]
    tampered = json.loads(json.dumps(receipt))
    tampered["result"]["nantie"] += 1
    with pytest.raises(ReceiptInvalid):
        verify_receipt(tampered, tuple(v["trusted_validators"]))
    with pytest.raises(ReceiptInvalid):
        verify_receipt(receipt, (bytes(32).hex(),))


def test_receipt_after_a_validator_change_vector() -> None:
    v = vectors()["receipt"]
    receipt, trusted = v["receipt_after_change"], tuple(v["trusted_validators"])
    header = verify_receipt(receipt, trusted)
    chain = vectors()["chain"]
    assert header.to_json() == chain["blocks"][4]["header"]
    [change] = receipt["validator_changes"]
    assert change["header"] == chain["blocks"][3]["header"]
    assert receipt["validators"] == change["tx"]["body"]["validators"] != list(trusted)

    def broken(edit: Any) -> None:
        tampered = json.loads(json.dumps(receipt))
        edit(tampered)
        with pytest.raises(ReceiptInvalid):
            verify_receipt(tampered, trusted)

    broken(lambda r: r.update(validator_changes=[]))  # the change left out
    broken(lambda r: r.update(validator_changes=[], validators=list(trusted)))
    broken(lambda r: r["validator_changes"][0]["tx"]["body"].update(nonce="forged"))
    broken(lambda r: r["validator_changes"][0].update(signatures=[]))  # uncertified change
    broken(lambda r: r["validator_changes"][0].update(result={"code": "quorum_not_met"}))
    broken(lambda r: r["validator_changes"].append(r["validator_changes"][0]))  # twice
    # a receipt made before validator changes existed (no such member) still verifies
    old = json.loads(json.dumps(v["receipt"]))
    assert old.pop("validator_changes") == []
    verify_receipt(old, trusted)


# -- the document's JavaScript, run by node on the same vectors --------------------------------------
HARNESS = r"""
import { readFileSync } from "node:fs";
const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const dec = new TextDecoder();
const out = { canonical: [], rejected: [], accounts: [], transactions: [], blocks: [],
              chain_id: await chainId(input.genesis) };
for (const value of input.canonical) out.canonical.push(dec.decode(canonicalBytes(value)));
for (const value of [1.5, 2 ** 53, -(2 ** 53), NaN]) {
  try { canonicalBytes({ amount: value }); out.rejected.push(false); }
  catch (e) { out.rejected.push(e instanceof RangeError); }
}
for (const seed of input.seeds) {
  const { publicKey } = await keyFromSeed(fromHex(seed));
  out.accounts.push({ public_key: hex(publicKey), account: await accountId(publicKey) });
}
for (const { seeds, body } of input.transactions) {
  const signatures = [];
  for (const seed of seeds) {
    const { privateKey, publicKey } = await keyFromSeed(fromHex(seed));
    signatures.push(await signBody(body, privateKey, hex(publicKey)));
  }
  out.transactions.push({ id: await txId(body), canonical: dec.decode(canonicalBytes(body)),
                          signatures });
}
for (const { header, key, sig } of input.blocks) {
  const hash = await blockHash(header);
  out.blocks.push({ hash, verified: await verifyBlockSignature(hash, key, sig),
                    forged: await verifyBlockSignature(hash.replace(/^./, (c) => c === "0" ? "1" : "0"), key, sig) });
}
process.stdout.write(JSON.stringify(out));
"""


def test_the_documented_javascript_reproduces_the_vectors(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    snippets = re.findall(r"^```js\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.M | re.S)
    assert len(snippets) == 1, "docs/protocol.md has one ```js block"
    v = vectors()
    chain = v["chain"]
    seeds = {entry["public_key"]: entry["seed"] for entry in chain["keys"].values()}
    transactions = [
        {"seeds": [s["seed"] for s in vector["signers"]], "body": vector["body"],
         "expect": {"id": vector["id"], "canonical": vector["canonical_text"],
                    "signatures": [{"key": s["public_key"], "sig": s["signature"]}
                                   for s in vector["signers"]]}}
        for vector in v["transactions"]["vectors"]
    ] + [
        {"seeds": [seeds[s["key"]] for s in envelope["signatures"]], "body": envelope["body"],
         "expect": {"id": parse_tx(envelope).id, "canonical": canonical(envelope["body"]).decode(),
                    "signatures": envelope["signatures"]}}
        for block in chain["blocks"] for envelope in block["entries"]
    ]
    blocks = [{"header": b["header"], "key": s["key"], "sig": s["sig"], "hash": b["hash"]}
              for b in chain["blocks"] for s in b["signatures"]]
    accounts = v["account_ids"]["ids"]
    payload = {
        "canonical": [case["value"] for case in v["canonical_json"]["accepted"]],
        "seeds": [entry["seed"] for entry in accounts],
        "transactions": [{"seeds": t["seeds"], "body": t["body"]} for t in transactions],
        "blocks": [{k: b[k] for k in ("header", "key", "sig")} for b in blocks],
        "genesis": chain["genesis"],
    }
    (tmp_path / "input.json").write_text(json.dumps(payload), encoding="utf-8")
    script = tmp_path / "lien.mjs"
    script.write_text(snippets[0] + HARNESS, encoding="utf-8")
    done = subprocess.run([node, str(script), str(tmp_path / "input.json")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["canonical"] == [c["canonical_text"] for c in v["canonical_json"]["accepted"]]
    assert out["rejected"] == [True] * 4
    assert out["accounts"] == [{"public_key": e["public_key"], "account": e["account"]}
                               for e in accounts]
    assert out["transactions"] == [t["expect"] for t in transactions]
    assert out["blocks"] == [{"hash": b["hash"], "verified": True, "forged": False} for b in blocks]
    assert out["chain_id"] == chain["genesis"]["chain_id"]
