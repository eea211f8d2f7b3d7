#!/usr/bin/env python3
"""Generate the test vectors of docs/protocol.md from the library, deterministically.

    python scripts/make_vectors.py            # print the generated section
    python scripts/make_vectors.py --write    # replace it in docs/protocol.md
    python scripts/make_vectors.py --check    # exit 1 when docs/protocol.md is out of date

Everything is derived from fixed seeds (``bytes(range(32))`` and the next ranges), fixed times,
fixed expiries and fixed nonces; Ed25519 signatures are deterministic, so the output is the
same on every run. The generated text sits between the two marker comments in the "Test
vectors" section; tests/test_protocol_vectors.py parses it back and recomputes every value.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import nacl.signing

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lien.chain import merkle  # noqa: E402
from lien.chain.block import ValidatorSet, header_for, sign_header  # noqa: E402
from lien.chain.receipt import build_receipt, inclusion  # noqa: E402
from lien.ledger import (  # noqa: E402
    ChainConfig,
    State,
    Tx,
    account_id_for_key,
    apply_block,
    canonical,
    format_account_id,
    parse_json,
    sign_body,
)
from lien.ledger.reasons import TxError  # noqa: E402
from lien.wallet import backup, memo  # noqa: E402

DOC = ROOT / "docs" / "protocol.md"
BEGIN = "<!-- BEGIN GENERATED VECTORS (scripts/make_vectors.py --write) -->"
END = "<!-- END GENERATED VECTORS -->"

NAME = "lien-vectors"
GENESIS_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EXPIRES = GENESIS_MS + 3_600_000  # one hour later: inside expiry_window_ms_max for every block
CODE = "LIEN"

#: name -> (seed, account kind). The seeds are consecutive ranges of bytes.
PEOPLE: dict[str, tuple[bytes, str]] = {
    "admin": (bytes(range(0, 32)), "personal"),
    "comptoir": (bytes(range(32, 64)), "comptoir"),
    "association": (bytes(range(64, 96)), "association"),
    "business": (bytes(range(96, 128)), "business"),
    "member": (bytes(range(128, 160)), "personal"),
    "governor": (bytes(range(160, 192)), ""),
    "validator": (bytes(range(192, 224)), ""),
    "validator-2": (bytes(range(224, 256)), ""),
}
#: RFC 8032 section 7.1, TEST 1: lets an implementer check its Ed25519 key derivation too.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")

KEYS = {name: nacl.signing.SigningKey(seed) for name, (seed, _) in PEOPLE.items()}


def pub(name: str) -> str:
    return bytes(KEYS[name].verify_key).hex()


#: The genesis document, and the chain id derived from it that every body carries.
CONFIG = ChainConfig.new(NAME, GENESIS_MS, validators=(pub("validator"),),
                         governors=(pub("governor"),), governor_quorum=1)
CHAIN = CONFIG.chain_id


def acct(name: str) -> str:
    return account_id_for_key(bytes(KEYS[name].verify_key))


def body(type_: str, nonce: str, expires: int = EXPIRES, **fields: Any) -> dict[str, Any]:
    return {"chain": CHAIN, "type": type_, "expires": expires, "nonce": nonce, **fields}


def signed(signers: list[str], b: dict[str, Any]) -> Tx:
    return sign_body(b, [KEYS[name] for name in signers])


def policy() -> dict[str, Any]:
    return {
        "name": "Le LIEN — Saint-Étienne",
        "association": acct("association"),
        "reconversion_fee_bp": 500,
        "admin_quorum": 2,
        "issue_quorum_above_minor": 500_000,
        "limit_quorum_above_minor": 100_000,
        "credit_floor_default_minor": -20_000,
        "credit_ceiling_default_minor": 200_000,
        "recovery_delay_ms": 172_800_000,
    }


def open_account(name: str, nonce: str, currency: str | None = None) -> Tx:
    fields: dict[str, Any] = {"account": acct(name), "key": pub(name), "kind": PEOPLE[name][1]}
    if currency:
        fields["currency"] = currency
    return signed([name], body("open_account", nonce, **fields))


# -- the scenario: five blocks on a fresh chain ------------------------------------------------
def scenario() -> dict[str, Any]:
    create = signed(
        ["governor"],
        body(
            "create_currency",
            "b1-create-lien",
            code=CODE,
            policy=policy(),
            admins=[acct("admin"), acct("comptoir")],
            issuers=[acct("comptoir")],
        ),
    )
    issue = signed(
        ["comptoir", "admin"],
        body(
            "issue",
            "b2-issue",
            by=acct("comptoir"),
            currency=CODE,
            to=acct("business"),
            amount=1_000_000,
            deposit_ref="DEP-2026-0001",
        ),
    )
    pay = signed(
        ["business"],
        body(
            "transfer",
            "b2-pay-memo",
            **{"from": acct("business")},
            to=acct("member"),
            currency=CODE,
            amount=1250,
            reference="F-2026-001",
            invoice_minor=1250,
            memo="café ☕\nmerci !",
        ),
    )
    too_much = signed(
        ["member"],
        body("transfer", "b2-too-much", **{"from": acct("member")}, to=acct("business"),
             currency=CODE, amount=100_000),
    )
    split = signed(
        ["member"],
        body("transfer", "b3-split", **{"from": acct("member")}, to=acct("business"),
             currency=CODE, amount=5000, nantie=1000),
    )
    reconvert = signed(
        ["business"],
        body("reconvert", "b3-reconvert", account=acct("business"), currency=CODE,
             amount=10_000, payout_ref="VIR-2026-0001"),
    )
    stale = signed(
        ["member"],
        body("transfer", "b3-stale", expires=GENESIS_MS + 2500, **{"from": acct("member")},
             to=acct("business"), currency=CODE, amount=100),
    )
    rotate = signed(["validator"], body("set_validators", "b4-rotate-validator-key",
                                        validators=[pub("validator-2")]))
    after = signed(
        ["member"],
        body("transfer", "b5-after-rotation", **{"from": acct("member")}, to=acct("business"),
             currency=CODE, amount=100),
    )
    blocks = [
        (
            GENESIS_MS + 1000,
            [
                open_account("admin", "b1-open-admin"),
                open_account("comptoir", "b1-open-comptoir"),
                open_account("association", "b1-open-association"),
                open_account("business", "b1-open-business"),
                create,
                open_account("member", "b1-open-member", CODE),
                signed(["business"], body("join_currency", "b1-join-business",
                                          account=acct("business"), currency=CODE)),
                signed(["admin"], body("set_status", "b1-activate-business", by=acct("admin"),
                                       currency=CODE, account=acct("business"),
                                       status="active")),
                signed(["admin"], body("set_status", "b1-activate-member", by=acct("admin"),
                                       currency=CODE, account=acct("member"),
                                       status="active")),
            ],
        ),
        (GENESIS_MS + 2000, [issue, pay, too_much, pay]),
        (GENESIS_MS + 3000, [split, reconvert, stale]),
        # the validator rotates its key: block 4 is certified by the old key, block 5 by the new
        (GENESIS_MS + 4000, [rotate]),
        (GENESIS_MS + 5000, [after]),
    ]
    return {"create": create, "issue": issue, "pay": pay, "rotate": rotate, "after": after,
            "blocks": blocks}


# -- the vectors ---------------------------------------------------------------------------------
def canonical_vectors() -> dict[str, Any]:
    accepted = [
        {"b": 1, "a": [3, {"z": None, "y": True, "x": False}], "A": {}, "_": []},
        {"n": -9007199254740991, "m": 9007199254740991, "zero": 0},
        {"s": "quote \" backslash \\ slash / controls \u0000\u0001\u001f\u007f "
              "\b\f\n\r\t é ☕ 😀 \u2028"},
    ]
    rejected = [
        '{"amount": 1.0}',
        '{"amount": 1e3}',
        '{"amount": 9007199254740992}',
        '{"amount": NaN}',
        '{"a": 1, "a": 2}',
        '{"memo": "\\ud800"}',
    ]
    out_rejected = []
    for text in rejected:
        try:
            canonical(parse_json(text))
        except TxError as refusal:
            out_rejected.append({"json": text, "code": refusal.reason.value})
        else:  # pragma: no cover - would mean the encoder changed
            raise SystemExit(f"{text} was accepted")
    return {
        "kind": "canonical_json",
        "accepted": [
            {"value": v, "canonical_text": canonical(v).decode(), "canonical_hex": canonical(v).hex()}
            for v in accepted
        ],
        "rejected": out_rejected,
    }


def account_vectors() -> dict[str, Any]:
    seeds = [(name, seed) for name, (seed, _) in PEOPLE.items()] + [("rfc8032-test1", RFC8032_SEED)]
    ids = []
    for name, seed in seeds:
        key = bytes(nacl.signing.SigningKey(seed).verify_key)
        account = account_id_for_key(key)
        ids.append({
            "name": name,
            "seed": seed.hex(),
            "public_key": key.hex(),
            "account": account,
            "display": format_account_id(account),
        })
    typed = []
    for entry in ids[:5]:
        display = entry["display"]
        variant = display.lower().replace("-", " ")
        variant = variant.replace("1", "l", 1).replace("0", "o", 1)
        typed.append({"typed": variant, "account": entry["account"]})
    first = ids[0]["account"]
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    changed = first[:3] + alphabet[(alphabet.index(first[3]) + 1) % 32] + first[4:]
    swapped = first[:5] + first[6] + first[5] + first[7:]
    check = first[:10] + f"{(int(first[10:]) + 1) % 100:02d}"
    invalid = [changed, swapped, check, first[:11], first[:4] + "U" + first[5:]]
    return {"kind": "account_ids", "ids": ids, "typed": typed, "invalid": invalid}


def tx_vector(name: str, tx: Tx, signers: list[str]) -> dict[str, Any]:
    by_key = {s.key: s.sig.hex() for s in tx.signatures}
    return {
        "name": name,
        "signers": [
            {
                "seed": PEOPLE[who][0].hex(),
                "public_key": pub(who),
                "account": acct(who),
                "signature": by_key[pub(who)],
            }
            for who in signers
        ],
        "body": tx.body,
        "canonical_text": tx.body_bytes.decode(),
        "canonical_hex": tx.body_bytes.hex(),
        "id": tx.id,
    }


def transaction_vectors(s: dict[str, Any]) -> dict[str, Any]:
    first_block = s["blocks"][0][1]
    return {
        "kind": "transactions",
        "tx_domain_hex": b"LIEN/tx/v1\x00".hex(),
        "vectors": [
            tx_vector("open_account", first_block[0], ["admin"]),
            tx_vector("create_currency (nested policy)", s["create"], ["governor"]),
            tx_vector("issue co-signed by the issuer and a second admin", s["issue"],
                      ["comptoir", "admin"]),
            tx_vector("transfer with a non-ASCII memo and a newline", s["pay"], ["business"]),
        ],
    }


def _inclusion_of(outcome: Any, tx: Tx, header: Any, signatures: dict[str, bytes]
                  ) -> dict[str, Any]:
    leaves = [merkle.leaf_hash_encoded(t.id, r.encoded)
              for t, r in zip(outcome.txs, outcome.results, strict=True)]
    index = [t.id for t in outcome.txs].index(tx.id)
    return inclusion(tx.to_json(), outcome.results[index].to_json(), index, leaves, header,
                     signatures)


def chain_vectors(s: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    config = CONFIG
    state = State(config)
    prev = config.genesis_root().hex()
    blocks = []
    receipt = after_change = None
    change: dict[str, Any] = {}
    merkle_vector: dict[str, Any] = {}
    for time_ms, txs in s["blocks"]:
        in_force = ValidatorSet(state.validators.keys)  # the set before the block executes
        (signer,) = [name for name in ("validator", "validator-2") if pub(name) in in_force.keys]
        outcome = apply_block(state, txs, time_ms, verify_signatures=True)
        lines = state.change_lines()
        state.take_changes()
        header = header_for(CHAIN, prev, outcome)
        sig = sign_header(KEYS[signer], header.hash)
        signatures = {pub(signer): sig}
        assert in_force.is_final(header.hash, signatures)
        blocks.append({
            "time_ms": time_ms,
            "entries": [tx.to_json() for tx in txs],
            "dropped": [{"index": i, "code": err.reason.value}
                        for i, err in zip(_dropped_indexes(txs, outcome.txs),
                                          (e for _, e in outcome.dropped), strict=True)],
            "results": [r.to_json() for r in outcome.results],
            "changed_lines": lines,
            "state_root": outcome.state_root.hex(),
            "header": header.to_json(),
            "header_canonical": header.encode().decode(),
            "hash": header.hash,
            "signatures": [{"key": pub(signer), "sig": sig.hex()}],
        })
        if outcome.height == 2:
            leaves = [merkle.leaf_hash_encoded(tx.id, r.encoded)
                      for tx, r in zip(outcome.txs, outcome.results, strict=True)]
            merkle_vector = {
                "kind": "merkle",
                "block_height": 2,
                "leaves": [
                    {"tx_id": tx.id, "result": r.to_json(),
                     "result_canonical": r.encoded.decode(), "leaf": leaf.hex()}
                    for tx, r, leaf in zip(outcome.txs, outcome.results, leaves, strict=True)
                ],
                "root": merkle.root(leaves).hex(),
                "proofs": [
                    {"index": i, "path": [h.hex() for h in merkle.proof(leaves, i)]}
                    for i in range(len(leaves))
                ],
                "trees": _trees(),
            }
            pay = _inclusion_of(outcome, s["pay"], header, signatures)
            receipt = build_receipt(pay["tx"], pay["result"], pay["index"], leaves, header,
                                    signatures, in_force.keys)
        if outcome.height == 4:
            change = _inclusion_of(outcome, s["rotate"], header, signatures)
        if outcome.height == 5:
            leaves = [merkle.leaf_hash_encoded(tx.id, r.encoded)
                      for tx, r in zip(outcome.txs, outcome.results, strict=True)]
            paid = _inclusion_of(outcome, s["after"], header, signatures)
            after_change = build_receipt(paid["tx"], paid["result"], paid["index"], leaves,
                                         header, signatures, in_force.keys, [change])
        prev = header.hash
    content = {k: v for k, v in config.to_json().items() if k != "chain_id"}
    chain = {
        "kind": "chain",
        "genesis": config.to_json(),
        "chain_id_content_canonical": canonical(content).decode(),
        "chain_id_content_sha256": hashlib.sha256(canonical(content)).hexdigest(),
        "genesis_canonical": canonical(config.to_json()).decode(),
        "genesis_root": config.genesis_root().hex(),
        "block_domain_hex": b"LIEN/block/v1\x00".hex(),
        "keys": {name: {"seed": PEOPLE[name][0].hex(), "public_key": pub(name),
                        "account": acct(name)} for name in PEOPLE},
        "quorum": {str(n): ValidatorSet(tuple(f"{i:064x}" for i in range(n))).quorum
                   for n in range(1, 8)},
        "blocks": blocks,
    }
    receipt_vector = {
        "kind": "receipt",
        "trusted_validators": list(config.validators),
        "receipt": receipt,
        "receipt_after_change": after_change,
    }
    return chain, merkle_vector, receipt_vector


def _dropped_indexes(entries: list[Tx], included: list[Tx]) -> list[int]:
    """Positions in ``entries`` of the dropped ones: included is an in-order subsequence."""
    dropped, j = [], 0
    for i, entry in enumerate(entries):
        if j < len(included) and entry is included[j]:
            j += 1
        else:
            dropped.append(i)
    return dropped


def _trees() -> list[dict[str, Any]]:
    trees = []
    for count in (0, 1, 2, 5, 7):
        leaves = [hashlib.sha256(f"leaf {i}".encode()).digest() for i in range(count)]
        tree: dict[str, Any] = {
            "leaves": [leaf.hex() for leaf in leaves],
            "root": merkle.root(leaves).hex(),
        }
        if count == 5:
            tree["proofs"] = [
                {"index": i, "path": [h.hex() for h in merkle.proof(leaves, i)]}
                for i in range(count)
            ]
        trees.append(tree)
    return trees


# -- the web wallet (section 15) ------------------------------------------------------------------
#: Written decomposed (e + U+0301): the wallet normalises to NFC before deriving or hashing.
WALLET_PASSWORD = "Cafe\u0301 du marche\u0301, mot de passe d'exemple"
WALLET_REFERENCE = "Facture n\u00b0 2026-0042 e\u0301picerie"


def web_wallet_vectors() -> dict[str, Any]:
    params = backup.KdfParams(bytes(range(16)).hex())
    secrets = backup.derive(WALLET_PASSWORD, params)
    master = backup.argon2_master(WALLET_PASSWORD, params)
    member_seed, business_seed = PEOPLE["member"][0], PEOPLE["business"][0]
    nonce = bytes(range(12))
    payer, payee = pub("member"), pub("business")
    memo_text = "pain et café ☕, merci !"
    longest = "é" * (memo.text_bytes_max // 2) + "!" * (memo.text_bytes_max % 2)
    return {
        "kind": "web_wallet",
        "backup": {
            "password": WALLET_PASSWORD,
            "password_nfc_utf8_hex": unicodedata.normalize("NFC", WALLET_PASSWORD).encode().hex(),
            "kdf": params.to_json(),
            "master_hex": master.hex(),
            "login_secret_hex": secrets.login_secret.hex(),
            "kek_hex": secrets.kek.hex(),
            "seed": member_seed.hex(),
            "account": acct("member"),
            "nonce_hex": nonce.hex(),
            "backup": backup.seal(member_seed, secrets.kek, acct("member"), nonce),
        },
        "memo": {
            "payer": {"seed": member_seed.hex(), "public_key": payer,
                      "x25519_secret_hex": memo.memo_secret(member_seed).hex(),
                      "x25519_public_hex": memo.montgomery(payer).hex()},
            "payee": {"seed": business_seed.hex(), "public_key": payee,
                      "x25519_secret_hex": memo.memo_secret(business_seed).hex(),
                      "x25519_public_hex": memo.montgomery(payee).hex()},
            "shared_hex": memo.shared_secret(member_seed, payee).hex(),
            "hkdf_salt_hex": (bytes.fromhex(min(payer, payee)) + bytes.fromhex(max(payer, payee))).hex(),
            "key_hex": memo.memo_key(member_seed, payee).hex(),
            "text": memo_text,
            "nonce_hex": nonce.hex(),
            "box": memo.encrypt(memo_text, member_seed, payee, nonce),
            "text_bytes_max": memo.text_bytes_max,
            "longest_text": longest,
            "longest_box": memo.encrypt(longest, member_seed, payee, nonce),
        },
        "reference": {
            "payee_account": acct("business"),
            "reference": WALLET_REFERENCE,
            "hash": memo.reference_hash(acct("business"), WALLET_REFERENCE),
        },
    }


# -- rendering -----------------------------------------------------------------------------------
_INVISIBLE = re.compile("[\x7f-\x9f\u0300-\u036f\u2028\u2029]")  # and combining marks


def _dumps(value: Any) -> str:
    """JSON text with non-ASCII kept readable, but invisible characters escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def render(value: Any, indent: int = 0, width: int = 96) -> str:
    """JSON, indented by two, with any value that fits on one line kept on one line."""
    flat = _dumps(value)
    if indent + len(flat) <= width or not isinstance(value, (dict, list)) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, list):
        items = [pad + render(v, indent + 2, width) for v in value]
    else:
        items = [f"{pad}{_dumps(k)}: {render(v, indent + 2, width)}" for k, v in value.items()]
    open_, close = ("[", "]") if isinstance(value, list) else ("{", "}")
    return open_ + "\n" + ",\n".join(items) + "\n" + " " * indent + close


SECTIONS = [
    ("canonical_json", "Canonical JSON",
     "Each `value` must encode to exactly `canonical_text` (UTF-8: `canonical_hex`). Each "
     "`rejected` text must be refused with the given code."),
    ("account_ids", "Account ids",
     "`account` is derived from `public_key` (itself derived from `seed`); `typed` shows what "
     "a person may type and must normalise to `account`; every `invalid` text must be refused. "
     "`rfc8032-test1` is the key of RFC 8032 section 7.1 TEST 1."),
    ("transactions", "Transactions",
     "For each body: its canonical text and bytes, its id (SHA-256 of the canonical bytes) and "
     "each signer's Ed25519 signature over `tx_domain_hex` followed by the canonical bytes."),
    ("merkle", "Merkle tree and proofs",
     "The leaves of block 2 of the chain below (transaction id and result), its `tx_root` and "
     "the inclusion proof of every leaf; then trees over arbitrary 32-byte leaves (0, 1, 2, 5 and "
     "7 leaves), identical to RFC 6962's Merkle Tree Hash."),
    ("chain", "A chain of five blocks",
     "A fresh chain with one validator and one governor; in block 4 the validator rotates its "
     "key (`set_validators`, signed by its old key), so block 4 is certified by the old key and "
     "block 5 by the new one (`validator-2`). Its chain id is `name`, `-` and the "
     "first 32 hex digits of `chain_id_content_sha256`, the SHA-256 of "
     "`chain_id_content_canonical` (the genesis document without `chain_id`, section 10.2). "
     "Each block lists the entries given to "
     "the executor (in log order), the ones dropped at admission with their code, the results of "
     "the included ones, the state records the block changed (sorted lines), the state root, "
     "the header (and its canonical text), its hash and the validator's signature on it. "
     "`quorum` gives the finality quorum for validator sets of 1 to 7 keys."),
    ("receipt", "Receipt",
     "A receipt for the memo transfer of block 2, and one for the transfer of block 5 "
     "(`receipt_after_change`), which carries the validator change of block 4: both verify "
     "offline against `trusted_validators`, the genesis document's."),
    ("web_wallet", "Web wallet: password secrets, key backup, memos and references",
     "Section 15. `backup`: the password (written decomposed; its NFC UTF-8 bytes are "
     "`password_nfc_utf8_hex`), the argon2id output `master_hex`, the two HKDF keys and the "
     "member's seed sealed under `kek_hex` with the nonce `nonce_hex`. `memo`: the member pays "
     "the business; each side's X25519 keys, the shared secret, the HKDF salt and key, and the "
     "box of `text` with `nonce_hex` (either side opens it); `longest_text` is the longest memo "
     "that fits (`text_bytes_max` bytes). `reference`: the hash a transfer carries for "
     "`reference` paid to `payee_account`."),
]


def generate() -> str:
    s = scenario()
    chain, merkle_vector, receipt_vector = chain_vectors(s)
    vectors = {
        "canonical_json": canonical_vectors(),
        "account_ids": account_vectors(),
        "transactions": transaction_vectors(s),
        "merkle": merkle_vector,
        "chain": chain,
        "receipt": receipt_vector,
        "web_wallet": web_wallet_vectors(),
    }
    parts = [BEGIN, ""]
    for kind, title, text in SECTIONS:
        parts += [f"### Vectors: {title}", "", text, "", "```json", render(vectors[kind]), "```", ""]
    parts.append(END)
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="update docs/protocol.md in place")
    mode.add_argument("--check", action="store_true", help="fail if docs/protocol.md is stale")
    args = parser.parse_args()
    text = generate()
    if not (args.write or args.check):
        print(text)
        return 0
    doc = DOC.read_text(encoding="utf-8")
    if doc.count(BEGIN) != 1 or doc.count(END) != 1:
        print(f"{DOC}: expected the two marker comments once each", file=sys.stderr)
        return 2
    head, rest = doc.split(BEGIN)
    _, tail = rest.split(END)
    updated = head + text + tail
    if args.check:
        if updated != doc:
            print(f"{DOC} is out of date: run scripts/make_vectors.py --write", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
