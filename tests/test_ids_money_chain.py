"""Account ids, amounts as people read and type them, Merkle proofs and receipts."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import nacl.signing
import pytest

from lien.chain import (
    Header,
    ReceiptInvalid,
    ValidatorSet,
    build_receipt,
    header_for,
    leaf_hash,
    sign_header,
    verify_receipt,
)
from lien.chain import merkle
from lien.ledger import (
    Reason,
    TxError,
    account_id_for_key,
    format_account_id,
    format_amount,
    is_account_id,
    parse_account_id,
    parse_amount,
)
from lien.ledger.crypto import TX_DOMAIN, sign
from lien.ledger.ids import ALPHABET

from ledger_support import World, member

KEYS = [hashlib.sha256(f"key {i}".encode()).digest() for i in range(150)]
IDS = [account_id_for_key(k) for k in KEYS]
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# ================================================================================================
# Account ids
# ================================================================================================
def expected_id(public_key: bytes) -> str:
    """The derivation documented in ids.py, written again independently."""
    digest = hashlib.sha256(b"LIEN/account/v1\x00" + public_key).digest()
    value = int.from_bytes(digest, "big") >> (256 - 50)
    body = "".join(CROCKFORD[(value >> (5 * (9 - i))) & 31] for i in range(10))
    return body + f"{98 - (value * 100) % 97:02d}"


def test_account_ids_are_derived_from_the_key_as_documented() -> None:
    assert ALPHABET == CROCKFORD
    for key in KEYS[:20] + [bytes(32), b"\xff" * 32]:
        account_id = account_id_for_key(key)
        assert account_id == expected_id(key)
        assert len(account_id) == 12 and is_account_id(account_id)
    assert len(set(IDS)) == len(IDS)


def test_every_single_character_substitution_is_detected() -> None:
    others = "".join(sorted(set(CROCKFORD + "ILOU" + CROCKFORD.lower() + "- ")))
    checked = 0
    for account_id in IDS:
        for i, original in enumerate(account_id):
            for ch in others:
                if ch != original:
                    typo = account_id[:i] + ch + account_id[i + 1:]
                    assert not is_account_id(typo), (account_id, typo)
                    checked += 1
    assert checked == len(IDS) * 12 * (len(others) - 1)


def test_every_swap_of_two_neighbours_is_detected() -> None:
    checked = 0
    for account_id in IDS:
        for i in range(11):
            a, b = account_id[i], account_id[i + 1]
            if a != b:
                swapped = account_id[:i] + b + a + account_id[i + 2:]
                assert not is_account_id(swapped), (account_id, swapped)
                with pytest.raises(TxError) as info:
                    parse_account_id(swapped)
                assert info.value.reason is Reason.BAD_FIELD
                checked += 1
    assert checked > len(IDS) * 10


def test_format_groups_by_four_and_parses_back() -> None:
    for account_id in IDS[:20]:
        shown = format_account_id(account_id)
        assert shown == f"{account_id[:4]}-{account_id[4:8]}-{account_id[8:]}"
        assert parse_account_id(shown) == account_id


def test_parse_accepts_what_people_type() -> None:
    with_digits = [i for i in IDS if "1" in i and "0" in i]
    assert with_digits
    for account_id in with_digits[:10]:
        typed = [
            account_id.lower(),
            f"  {format_account_id(account_id).lower()}  ",
            " ".join(format_account_id(account_id).split("-")),
            account_id.replace("1", "I"),
            account_id.replace("1", "l").lower(),
            account_id.replace("1", "L"),
            account_id.replace("0", "O"),
            account_id.replace("0", "o"),
        ]
        for text in typed:
            assert parse_account_id(text) == account_id, text


@pytest.mark.parametrize("text", ["", "K7QM", "UUUUUUUUUU00", "K7QM-3XZ9-WT4", "€" * 12])
def test_parse_refuses_what_is_not_an_id(text: str) -> None:
    with pytest.raises(TxError) as info:
        parse_account_id(text)
    assert info.value.reason is Reason.BAD_FIELD


def test_is_account_id_is_strict() -> None:
    account_id = IDS[0]
    assert is_account_id(account_id)
    for other in (account_id.lower(), format_account_id(account_id), None, 12, b"x" * 12,
                  account_id[:10] + "٠١"):
        assert not is_account_id(other)


# ================================================================================================
# Amounts
# ================================================================================================
NNBSP = "\u202f"


@pytest.mark.parametrize(
    ("minor", "fr", "en"),
    [
        (0, "0,00", "0.00"),
        (5, "0,05", "0.05"),
        (100, "1,00", "1.00"),
        (123_456, f"1{NNBSP}234,56", "1,234.56"),
        (-123_456, f"-1{NNBSP}234,56", "-1,234.56"),
        (99_999, "999,99", "999.99"),
        (100_000, f"1{NNBSP}000,00", "1,000.00"),
        (100_000_000_000, f"1{NNBSP}000{NNBSP}000{NNBSP}000,00", "1,000,000,000.00"),
    ],
)
def test_format_amount(minor: int, fr: str, en: str) -> None:
    assert format_amount(minor) == fr
    assert format_amount(minor, "LIEN") == f"{fr} LIEN"
    assert format_amount(minor, "LIEN", locale="en") == f"{en} LIEN"
    assert parse_amount(fr) == minor


def test_the_french_thousands_separator_is_a_narrow_no_break_space() -> None:
    text = format_amount(123_456, "LIEN")
    assert text == "1\u202f234,56 LIEN"
    assert [hex(ord(c)) for c in text if not c.isalnum() and c != ","] == ["0x202f", "0x20"]


@pytest.mark.parametrize("value", [1.5, 12.0, True, "12", None])
def test_format_amount_refuses_what_is_not_an_integer(value: Any) -> None:
    with pytest.raises(TypeError):
        format_amount(value)


@pytest.mark.parametrize(
    ("text", "minor"),
    [("12,50", 1250), ("12.5", 1250), ("12,5", 1250), ("12", 1200), ("0,05", 5), (",5", 50),
     ("5.", 500), ("1 234,56", 123_456), (f"1{NNBSP}234,56", 123_456),
     ("1\u00a0234,56", 123_456), ("  7,00 ", 700), ("-3,20", -320), ("+7", 700),
     ("- 3,20", -320), ("0", 0)],
)
def test_parse_amount(text: str, minor: int) -> None:
    assert parse_amount(text) == minor


@pytest.mark.parametrize(
    "text",
    ["", " ", ".", ",", "abc", "12,345", "1.2.3", "1e3", "12,5€", "--5", "+-5",
     "-", "١٢", "12,-5", "0x10", "1_000", "1,23,456", "1,234,56", "1,2.3,4", "12,5.0", "1,,234",
     "1.234.5", "12,3456"],
)
def test_parse_amount_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)


@pytest.mark.parametrize(
    ("text", "minor"),
    [("1,234.56", 123_456), ("1.234,56", 123_456), ("1,234,567", 123_456_700),
     ("1,234,567.89", 123_456_789), ("-1,234.5", -123_450), ("1,234.", 123_400),
     ("12.50", 1250), ("1234,5", 123_450)],
)
def test_parse_amount_reads_english_thousands_separators(text: str, minor: int) -> None:
    assert parse_amount(text) == minor


@pytest.mark.parametrize("text", ["1,234", "1.234", "12,345", "-1,234", "1 234,567"])
def test_parse_amount_refuses_one_mark_before_three_digits_as_ambiguous(text: str) -> None:
    """``1,234`` is 1234 in English and 1,234 in French: refused, never guessed."""
    with pytest.raises(ValueError, match="ambiguous"):
        parse_amount(text)


@pytest.mark.parametrize("minor", [0, 5, 1_234_56, -98_765_432_10])
def test_amounts_round_trip_through_english_text(minor: int) -> None:
    assert parse_amount(format_amount(minor, locale="en")) == minor


def test_amounts_round_trip_through_french_text() -> None:
    for minor in [0, 1, 9, 10, 99, 100, 101, 1_000_00, 123_456_789, -1, -100_001,
                  100_000_000_000]:
        assert parse_amount(format_amount(minor)) == minor


# ================================================================================================
# Merkle trees
# ================================================================================================
def leaves_of(n: int) -> list[bytes]:
    return [leaf_hash(hashlib.sha256(bytes([i])).hexdigest(), {"code": "ok", "i": i})
            for i in range(n)]


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """RFC 6962's MTH, recursively: split at the largest power of two below n."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_root(leaves[:k]) + rfc6962_root(leaves[k:])).digest()


def flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def test_leaf_hash_commits_to_the_id_and_the_result() -> None:
    tx_id = "ab" * 32
    ok, refused = {"code": "ok"}, {"code": "insufficient_funds"}
    assert leaf_hash(tx_id, ok) == hashlib.sha256(
        b"\x00" + bytes.fromhex(tx_id) + hashlib.sha256(b'{"code":"ok"}').digest()).digest()
    assert leaf_hash(tx_id, ok) != leaf_hash(tx_id, refused)
    assert leaf_hash(tx_id, ok) != leaf_hash("ac" * 32, ok)


def test_the_root_of_an_empty_block() -> None:
    assert merkle.root([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", range(1, 18))
def test_merkle_roots_are_rfc6962(n: int) -> None:
    leaves = leaves_of(n)
    assert merkle.root(leaves) == rfc6962_root(leaves)


@pytest.mark.parametrize("n", range(1, 18))
def test_every_inclusion_proof_verifies_and_any_tampering_fails(n: int) -> None:
    leaves = leaves_of(n)
    root = merkle.root(leaves)
    for index, leaf in enumerate(leaves):
        path = merkle.proof(leaves, index)
        assert len(path) <= n.bit_length()
        assert merkle.root_from_proof(leaf, index, n, path) == root

        def proves(leaf_: bytes, index_: int, count: int, path_: list[bytes]) -> bool:
            return merkle.root_from_proof(leaf_, index_, count, path_) == root

        assert not proves(flip(leaf), index, n, path)
        for other in range(n):
            if other != index:
                assert not proves(leaf, other, n, path)
        for at in range(len(path)):
            assert not proves(leaf, index, n, path[:at] + [flip(path[at], 31)] + path[at + 1:])
        if path:
            assert merkle.root_from_proof(leaf, index, n, path[:-1]) is None
            assert not proves(leaf, index, n, path[::-1]) or len(set(path)) == 1
        assert merkle.root_from_proof(leaf, index, n, [*path, root]) is None
        assert merkle.root_from_proof(leaf, n, n, path) is None
        assert merkle.root_from_proof(leaf, -1, n, path) is None


# ================================================================================================
# Receipts
# ================================================================================================
VALIDATORS = [nacl.signing.SigningKey(hashlib.sha256(f"validator {i}".encode()).digest())
              for i in range(4)]
VALIDATOR_KEYS = tuple(bytes(k.verify_key).hex() for k in VALIDATORS)


@pytest.mark.parametrize(("n", "quorum"), [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (6, 5),
                                           (7, 5), (10, 7)])
def test_finality_needs_more_than_two_thirds(n: int, quorum: int) -> None:
    keys = tuple(bytes(member(f"v{i}").key.verify_key).hex() for i in range(n))
    assert ValidatorSet(keys).quorum == quorum
    assert quorum * 3 > 2 * n and (quorum - 1) * 3 <= 2 * n


def test_a_validator_set_is_non_empty_and_distinct() -> None:
    for keys in ((), (VALIDATOR_KEYS[0], VALIDATOR_KEYS[0])):
        with pytest.raises(ValueError):
            ValidatorSet(keys)


@pytest.fixture(scope="module")
def block() -> dict[str, Any]:
    """A block of five transactions (one refused) with its header."""
    w = World()
    a, b = w.join(nantie=10_000), w.join()
    out = w.block([w.mk.pay(a, b, 100), w.mk.pay(a, b, 1_000_000), w.mk.pay(b, a, 10),
                   w.mk.pay(a, b, 200, memo="merci"), w.mk.issue([w.comptoir], b, 5)])
    assert [r.reason for r in out.results] == ["ok", "insufficient_funds", "ok", "ok", "ok"]
    header = header_for(w.state.config.chain_id, "00" * 32, out)
    leaves = [leaf_hash(tx.id, r.to_json()) for tx, r in zip(out.txs, out.results, strict=True)]
    return {"out": out, "header": header, "leaves": leaves}


def receipt(block: dict[str, Any], index: int = 3, signers: tuple[int, ...] | list[int] = (0, 1, 2),
            validators: tuple[str, ...] = VALIDATOR_KEYS) -> dict[str, Any]:
    out, header = block["out"], block["header"]
    sigs = {VALIDATOR_KEYS[i]: sign_header(VALIDATORS[i], header.hash) for i in signers}
    return copy.deepcopy(build_receipt(out.txs[index].to_json(), out.results[index].to_json(),
                                       index, block["leaves"], header, sigs, validators))


def invalid(r: Any, trusted: tuple[str, ...] | None = None) -> str:
    with pytest.raises(ReceiptInvalid) as info:
        verify_receipt(r, trusted)
    return str(info.value)


@pytest.mark.parametrize("index", range(5))
def test_a_receipt_verifies_for_every_transaction_of_the_block(
    block: dict[str, Any], index: int
) -> None:
    r = receipt(block, index)
    assert verify_receipt(r, VALIDATOR_KEYS) == block["header"]
    assert verify_receipt(json.loads(json.dumps(r))) == block["header"]
    assert r["result"] == block["out"].results[index].to_json()


def test_a_receipt_of_a_refusal_proves_the_refusal(block: dict[str, Any]) -> None:
    r = receipt(block, 1)
    verify_receipt(r)
    r["result"] = {"code": "ok", "nantie": 0, "credit": 1_000_000}
    assert "inclusion proof" in invalid(r)


def test_a_changed_result_is_invalid(block: dict[str, Any]) -> None:
    r = receipt(block)
    r["result"] = {**r["result"], "nantie": r["result"]["nantie"] + 1}
    assert "inclusion proof" in invalid(r)


def test_a_changed_proof_is_invalid(block: dict[str, Any]) -> None:
    good = receipt(block)
    assert good["proof"]
    for at in range(len(good["proof"])):
        r = copy.deepcopy(good)
        r["proof"][at] = flip(bytes.fromhex(r["proof"][at])).hex()
        assert "inclusion proof" in invalid(r)
    for proof in (good["proof"][:-1], good["proof"] + good["proof"][:1], []):
        assert "inclusion proof" in invalid({**good, "proof": proof})
    assert "inclusion proof" in invalid({**good, "index": 2})


@pytest.mark.parametrize(
    ("field", "value"),
    [("time_ms", 1), ("height", 1), ("prev", "11" * 32), ("state_root", "22" * 32),
     ("tx_root", "33" * 32), ("tx_count", 1), ("chain", "lien-other")],
)
def test_a_changed_header_is_invalid(block: dict[str, Any], field: str, value: Any) -> None:
    r = receipt(block)
    original = r["header"][field]
    r["header"][field] = original + value if isinstance(value, int) else value
    invalid(r)


def test_a_changed_transaction_is_invalid(block: dict[str, Any]) -> None:
    r = receipt(block)
    r["tx"]["body"]["amount"] += 1
    assert "signature" in invalid(r)
    r = receipt(block)
    r["tx"]["signatures"] = []
    assert "malformed" in invalid(r)


def test_missing_validator_signatures(block: dict[str, Any]) -> None:
    for signers in ([0, 1, 2], [1, 2, 3], [0, 1, 2, 3], [0, 2, 3]):
        verify_receipt(receipt(block, signers=signers), VALIDATOR_KEYS)
    for signers in ([], [0], [2, 3], [0, 3]):
        assert "2/3" in invalid(receipt(block, signers=signers), VALIDATOR_KEYS)


def test_signatures_that_do_not_count(block: dict[str, Any]) -> None:
    header = block["header"]
    r = receipt(block, signers=[0, 1])
    outsider = member("outsider").key
    # a signature by a key outside the set
    extra = {"key": bytes(outsider.verify_key).hex(),
             "sig": sign_header(outsider, header.hash).hex()}
    assert "2/3" in invalid({**r, "signatures": [*r["signatures"], extra]})
    # a validator's signature on another block, or in the transactions' domain
    other = {"key": VALIDATOR_KEYS[2], "sig": sign_header(VALIDATORS[2], "44" * 32).hex()}
    assert "2/3" in invalid({**r, "signatures": [*r["signatures"], other]})
    tx_domain = {"key": VALIDATOR_KEYS[2],
                 "sig": sign(VALIDATORS[2], TX_DOMAIN, bytes.fromhex(header.hash)).hex()}
    assert "2/3" in invalid({**r, "signatures": [*r["signatures"], tx_domain]})
    # one validator's signature repeated is one signature
    assert "2/3" in invalid({**r, "signatures": [*r["signatures"], r["signatures"][0]]})


def test_the_verifier_decides_whom_to_trust(block: dict[str, Any]) -> None:
    forger = [member(f"forger {i}").key for i in range(3)]
    forger_keys = tuple(bytes(k.verify_key).hex() for k in forger)
    r = receipt(block, signers=[])
    header = block["header"]
    r["validators"] = list(forger_keys)
    r["signatures"] = [{"key": k, "sig": sign_header(s, header.hash).hex()}
                       for k, s in zip(forger_keys, forger, strict=True)]
    verify_receipt(r)  # consistent with itself...
    assert "trusted" in invalid(r, VALIDATOR_KEYS)  # ...but not with the genesis


def test_a_single_validator_chain() -> None:
    w = World()
    a, b = w.join(nantie=500), w.join()
    out = w.block([w.mk.pay(a, b, 50)])
    header = header_for(w.state.config.chain_id, "00" * 32, out)
    key = w.genesis.validator
    validators = w.genesis.config.validators
    leaves = [leaf_hash(tx.id, r.to_json()) for tx, r in zip(out.txs, out.results, strict=True)]
    r = build_receipt(out.txs[0].to_json(), out.results[0].to_json(), 0, leaves, header,
                      {validators[0]: sign_header(key, header.hash)}, validators)
    assert r["proof"] == []
    assert verify_receipt(r, validators) == header
    assert "2/3" in invalid({**r, "signatures": []}, validators)


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.pop("header"),
        lambda r: r.pop("proof"),
        lambda r: r.update(index="3"),
        lambda r: r.update(index=None),
        lambda r: r.update(index=True),
        lambda r: r["header"].update(tx_count="5"),
        lambda r: r["header"].pop("tx_root"),
        lambda r: r.update(proof="zz"),
        lambda r: r.update(proof=[7]),
        lambda r: r.update(signatures=[{"key": VALIDATOR_KEYS[0]}]),
        lambda r: r.update(signatures=[{"key": VALIDATOR_KEYS[0], "sig": "zz"}]),
        lambda r: r.update(signatures="all of them"),
        lambda r: r.update(validators=[[1, 2]]),
        lambda r: r.update(validators=[]),
        lambda r: r.update(validators=[VALIDATOR_KEYS[0]] * 4),
        lambda r: r.update(tx="not a transaction"),
        lambda r: r.update(result=None) or r.pop("result"),
    ],
)
def test_a_malformed_receipt_is_invalid_not_a_crash(block: dict[str, Any], change: Any) -> None:
    r = receipt(block)
    change(r)
    invalid(r)
    invalid(r, VALIDATOR_KEYS)


def test_a_receipt_that_is_not_an_object_is_invalid() -> None:
    for r in (None, [], "receipt", 3):
        invalid(r)


def test_header_json_round_trip(block: dict[str, Any]) -> None:
    header = block["header"]
    assert Header.from_json(json.loads(json.dumps(header.to_json()))) == header
    assert header.tx_count == 5
    assert header.tx_root == merkle.root(block["leaves"]).hex()
    assert header.state_root == block["out"].state_root.hex()
