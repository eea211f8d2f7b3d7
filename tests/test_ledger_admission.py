"""Admission: what never enters a block, and why — by example, at the edge of every limit.

Parsing (``decode_tx``/``parse_tx``) refuses what is not a well-formed transaction; signatures,
chain, expiry and duplicates are checked by ``check_signatures``/``check_freshness`` and again
by ``apply_block``, which *drops* such a transaction (it is not recorded, its id is not spent).
The signer (``check_signer``) is checked at admission only, against the state.
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import nacl.signing
import pytest

from lien.ledger import (
    Reason,
    Signature,
    Tx,
    TxError,
    check_body,
    check_freshness,
    check_signatures,
    decode_tx,
    limits,
    parse_tx,
    sign_body,
)
from lien.ledger.crypto import BLOCK_DOMAIN, TX_DOMAIN, sign
from lien.ledger.reasons import ADMISSION
from lien.ledger.signers import Signer, check_signer, signer_of

from ledger_support import CHAIN, CODE, T0, World, member

ALICE, BOB = member("alice"), member("bob")
NOW = T0 + 1_000
EXPIRES = NOW + 60_000


def body_of(type_: str = "transfer", **fields: Any) -> dict[str, Any]:
    """A well-formed body; ``fields`` override (or, set to ``...``, remove) its fields."""
    base: dict[str, Any] = {"chain": CHAIN, "type": type_, "expires": EXPIRES, "nonce": "n-1"}
    base.update(FIELDS[type_])
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


POLICY = {
    "name": "Le LIEN", "association": ALICE.account, "reconversion_fee_bp": 500,
    "admin_quorum": 2, "issue_quorum_above_minor": 500_000, "limit_quorum_above_minor": 100_000,
    "credit_floor_default_minor": -20_000, "credit_ceiling_default_minor": 200_000,
    "recovery_delay_ms": 172_800_000,
}
FIELDS: dict[str, dict[str, Any]] = {
    "open_account": {"account": ALICE.account, "key": ALICE.public_key, "kind": "personal"},
    "join_currency": {"account": ALICE.account, "currency": CODE},
    "set_status": {"by": ALICE.account, "currency": CODE, "account": BOB.account,
                   "status": "active"},
    "set_roles": {"by": ALICE.account, "currency": CODE, "account": BOB.account,
                  "roles": ["admin", "issuer"]},
    "set_limits": {"by": ALICE.account, "currency": CODE, "account": BOB.account,
                   "floor": -100, "ceiling": 100},
    "issue": {"by": ALICE.account, "currency": CODE, "to": BOB.account, "amount": 100,
              "deposit_ref": "dépôt 1"},
    "reconvert": {"account": ALICE.account, "currency": CODE, "amount": 100,
                  "payout_ref": "virement 1"},
    "transfer": {"from": ALICE.account, "to": BOB.account, "currency": CODE, "amount": 100},
    "rotate_key": {"account": ALICE.account, "add": [BOB.public_key], "remove": []},
    "recover_key": {"by": ALICE.account, "currency": CODE, "account": BOB.account,
                    "key": ALICE.public_key},
    "veto_recovery": {"account": ALICE.account},
    "delegate": {"account": ALICE.account, "currency": CODE, "key": BOB.public_key,
                 "cap_per_payment_minor": 100, "cap_total_minor": 1_000},
    "revoke_delegation": {"account": ALICE.account, "key": BOB.public_key},
    "create_currency": {"code": "BIS", "policy": POLICY, "admins": [ALICE.account],
                        "issuers": []},
    "set_policy": {"by": ALICE.account, "currency": CODE, "policy": POLICY},
}


def signed(body: dict[str, Any], *signers: nacl.signing.SigningKey) -> Tx:
    return sign_body(body, signers or [ALICE.key])


def encoded(body: dict[str, Any]) -> bytes:
    return signed(body).encode()


def refusal(call: Any, *args: Any) -> Reason:
    with pytest.raises(TxError) as info:
        call(*args)
    return info.value.reason


def decode_reason(data: bytes) -> Reason:
    return refusal(decode_tx, data)


def body_reason(body: dict[str, Any]) -> Reason:
    """The reason ``parse_tx`` gives for ``body`` in an envelope with a (well-formed)
    signature."""
    sig = {"key": ALICE.public_key, "sig": "00" * 64}
    return refusal(parse_tx, {"body": body, "signatures": [sig]})


def parses(body: dict[str, Any]) -> Tx:
    tx = decode_tx(encoded(body))
    assert tx.body == body
    check_signatures(tx)
    return tx


def with_raw(value: str, field: str = "amount", body: dict[str, Any] | None = None) -> bytes:
    """The encoded transaction with ``field``'s JSON value replaced by ``value`` verbatim."""
    data = encoded(body or body_of()).decode()
    new, count = re.subn(rf'"{field}":[^,}}]*', f'"{field}":{value}', data, count=1)
    assert count == 1
    return new.encode()


# ================================================================================================
# Every type parses when well formed
# ================================================================================================
@pytest.mark.parametrize("type_", FIELDS)
def test_every_type_parses_and_its_signature_verifies(type_: str) -> None:
    tx = parses(body_of(type_))
    assert tx.type == type_
    assert re.fullmatch("[0-9a-f]{64}", tx.id)


def test_the_id_does_not_depend_on_how_the_json_was_written() -> None:
    tx = signed(body_of())
    loose = json.dumps({"signatures": [s.to_json() for s in tx.signatures],
                        "body": dict(reversed(list(tx.body.items())))}, indent=2)
    again = decode_tx(loose.encode())
    assert (again.id, again.body_bytes) == (tx.id, tx.body_bytes)
    check_signatures(again)


# ================================================================================================
# malformed
# ================================================================================================
@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"{", b'{"body": 1,}', b"\xff\xfe{}", b"[]", b"null", b"1",
     b'{"body": {}}', b'{"signatures": []}'],
)
def test_not_a_transaction_is_malformed(data: bytes) -> None:
    assert decode_reason(data) is Reason.MALFORMED


@pytest.mark.parametrize(
    "value",
    ["1.5", "1e3", "1E3", "100.0", "-0.0", '"100"', "true", "false", "null", "[100]",
     '{"minor": 100}', "NaN", "Infinity", "-Infinity"],
)
def test_an_amount_that_is_not_a_json_integer_is_malformed(value: str) -> None:
    assert decode_reason(with_raw(value)) is Reason.MALFORMED


@pytest.mark.parametrize("field", ["expires", "nonce", "to", "currency"])
def test_a_wrong_json_type_is_malformed(field: str) -> None:
    wrong = '"soon"' if field == "expires" else "7"
    assert decode_reason(with_raw(wrong, field)) is Reason.MALFORMED


def test_a_duplicate_key_is_malformed() -> None:
    data = encoded(body_of()).replace(b'"amount":100', b'"amount":100,"amount":1')
    assert decode_reason(data) is Reason.MALFORMED
    data = encoded(body_of()).replace(b'"body":{', b'"body":{"chain":"x",')
    assert decode_reason(data) is Reason.MALFORMED


def test_unknown_and_missing_fields_are_malformed() -> None:
    assert body_reason(body_of(colour="blue")) is Reason.MALFORMED
    assert body_reason(body_of("veto_recovery", memo="hello")) is Reason.MALFORMED
    for field in ("chain", "expires", "nonce", "from", "to", "currency", "amount"):
        assert body_reason(body_of(**{field: ...})) is Reason.MALFORMED, field
    policy = {k: v for k, v in POLICY.items() if k != "recovery_delay_ms"}
    assert body_reason(body_of("set_policy", policy=policy)) is Reason.MALFORMED
    assert body_reason(body_of("set_policy", policy={**POLICY, "x": 1})) is Reason.MALFORMED
    assert body_reason(body_of("set_policy", policy=[])) is Reason.MALFORMED
    assert body_reason(body_of("rotate_key", add=BOB.public_key)) is Reason.MALFORMED


def test_a_malformed_envelope_or_signature_list() -> None:
    tx = signed(body_of())
    sig = tx.signatures[0].to_json()
    for envelope in (
        {"body": tx.body},
        {"body": tx.body, "signatures": [sig], "id": tx.id},
        {"body": tx.body, "signatures": sig},
        {"body": tx.body, "signatures": [[sig["key"], sig["sig"]]]},
        {"body": tx.body, "signatures": [{**sig, "alg": "ed25519"}]},
        {"body": tx.body, "signatures": [{"key": sig["key"]}]},
        {"body": tx.body, "signatures": [sig, sig]},
        {"body": [tx.body], "signatures": [sig]},
    ):
        assert refusal(parse_tx, envelope) is Reason.MALFORMED, envelope


def test_a_lone_surrogate_is_malformed() -> None:
    data = encoded(body_of(memo="x")).replace(b'"memo":"x"', b'"memo":"\\ud800"')
    assert decode_reason(data) is Reason.MALFORMED


# ================================================================================================
# unknown_type
# ================================================================================================
@pytest.mark.parametrize("kind", ["mint", "Transfer", "", 5, None, ["transfer"], {"t": 1}])
def test_an_unknown_type(kind: Any) -> None:
    assert body_reason(body_of(type=kind)) is Reason.UNKNOWN_TYPE


def test_a_missing_type_is_an_unknown_type() -> None:
    assert body_reason(body_of(type=...)) is Reason.UNKNOWN_TYPE
    assert refusal(check_body, "transfer") is Reason.MALFORMED


# ================================================================================================
# bad_field
# ================================================================================================
def mistyped(account_id: str) -> list[str]:
    last = account_id[-1]
    return [
        account_id[:-1] + str((int(last) + 1) % 10),  # wrong check digit
        account_id.lower(),  # the wire form is canonical: upper case, no hyphens
        account_id[:4] + "-" + account_id[4:8] + "-" + account_id[8:],
        account_id[:-1],
        account_id + "0",
        "",
    ]


@pytest.mark.parametrize("bad", mistyped(BOB.account))
@pytest.mark.parametrize("field", ["from", "to"])
def test_a_bad_account_id_is_a_bad_field(field: str, bad: str) -> None:
    assert body_reason(body_of(**{field: bad})) is Reason.BAD_FIELD


def test_bad_account_ids_everywhere_they_appear() -> None:
    bad = mistyped(BOB.account)[0]
    assert body_reason(body_of("create_currency", admins=[bad])) is Reason.BAD_FIELD
    assert body_reason(body_of("set_policy", policy={**POLICY, "association": bad})) is (
        Reason.BAD_FIELD)
    assert body_reason(body_of("issue", by=bad)) is Reason.BAD_FIELD


@pytest.mark.parametrize(
    ("code", "ok"),
    [("AB", True), ("A" * limits.currency_code_bytes_max, True), ("E2025", True),
     ("A", False), ("A" * (limits.currency_code_bytes_max + 1), False), ("lien", False),
     ("2EUR", False), ("LI-EN", False), ("LIEN ", False), ("LÏEN", False), ("", False)],
)
def test_currency_codes(code: str, ok: bool) -> None:
    assert limits.currency_code_bytes_min == 2
    if ok:
        parses(body_of(currency=code))
        parses(body_of("create_currency", code=code))
    else:
        assert body_reason(body_of(currency=code)) is Reason.BAD_FIELD
        assert body_reason(body_of("create_currency", code=code)) is Reason.BAD_FIELD


@pytest.mark.parametrize(
    "key", [BOB.public_key.upper(), BOB.public_key[:-1], BOB.public_key + "0", "zz" * 32, "",
            BOB.public_key + "\n"]
)
def test_a_bad_public_key_is_a_bad_field(key: str) -> None:
    assert body_reason(body_of("open_account", key=key)) is Reason.BAD_FIELD
    assert body_reason(body_of("delegate", key=key)) is Reason.BAD_FIELD
    assert body_reason(body_of("rotate_key", add=[key])) is Reason.BAD_FIELD
    tx = signed(body_of())
    envelope = {"body": tx.body, "signatures": [{"key": key, "sig": tx.signatures[0].sig.hex()}]}
    assert refusal(parse_tx, envelope) is Reason.BAD_FIELD


@pytest.mark.parametrize(
    ("fields", "type_"),
    [({"kind": "alien"}, "open_account"), ({"status": "frozen"}, "set_status"),
     ({"roles": ["owner"]}, "set_roles"), ({"roles": ["admin", "admin"]}, "set_roles"),
     ({"roles": ["admin", "issuer", "admin"]}, "set_roles"),
     ({"add": [BOB.public_key, BOB.public_key]}, "rotate_key"),
     ({"admins": []}, "create_currency"), ({"nonce": ""}, "transfer"),
     ({"deposit_ref": ""}, "issue"), ({"payout_ref": ""}, "reconvert"),
     ({"policy": {**POLICY, "name": ""}}, "set_policy"),
     ({"policy": {**POLICY, "admin_quorum": 0}}, "set_policy"),
     ({"policy": {**POLICY, "recovery_delay_ms": -1}}, "set_policy"),
     ({"policy": {**POLICY, "recovery_delay_ms": 30 * 24 * 3600 * 1000 + 1}}, "set_policy"),
     ({"expires": -1}, "transfer"), ({"expires": 2**53}, "transfer"),
     ({"chain": "Lien-test"}, "transfer"), ({"chain": "-lien"}, "transfer"),
     ({"chain": ""}, "transfer"), ({"chain": CHAIN + "\n"}, "transfer"),
     ({"currency": CODE + "\n"}, "transfer"), ({"key": BOB.public_key + "\n"}, "delegate"),
     ({"kind": "personal\n"}, "open_account")],
)
def test_bad_values_are_bad_fields(fields: dict[str, Any], type_: str) -> None:
    assert body_reason(body_of(type_, **fields)) is Reason.BAD_FIELD


def test_chain_id_length() -> None:
    at_limit = "c" * limits.chain_id_bytes_max
    assert parses(body_of(chain=at_limit)).body["chain"] == at_limit
    assert body_reason(body_of(chain=at_limit + "c")) is Reason.BAD_FIELD


def test_basis_points_and_quorum_bounds() -> None:
    parses(body_of("set_policy", policy={**POLICY, "reconversion_fee_bp": limits.basis_points_max}))
    assert body_reason(body_of("set_policy", policy={
        **POLICY, "reconversion_fee_bp": limits.basis_points_max + 1})) is Reason.BAD_FIELD
    parses(body_of("set_policy", policy={**POLICY, "admin_quorum": limits.signatures_max}))
    assert body_reason(body_of("set_policy", policy={
        **POLICY, "admin_quorum": limits.signatures_max + 1})) is Reason.BAD_FIELD


def test_list_lengths_at_their_limits() -> None:
    admins = [member(f"admin {i}").account for i in range(limits.signatures_max + 1)]
    parses(body_of("create_currency", admins=admins[:-1]))
    assert body_reason(body_of("create_currency", admins=admins)) is Reason.BAD_FIELD
    assert body_reason(body_of("create_currency", issuers=admins)) is Reason.BAD_FIELD
    keys = [member(f"key {i}").public_key for i in range(limits.owner_keys_max + 1)]
    parses(body_of("rotate_key", add=keys[:-1], remove=keys[:-1]))
    assert body_reason(body_of("rotate_key", add=keys)) is Reason.BAD_FIELD
    assert body_reason(body_of("rotate_key", remove=keys)) is Reason.BAD_FIELD


# ================================================================================================
# amount_invalid
# ================================================================================================
@pytest.mark.parametrize("amount", [0, -1, -limits.amount_minor_max,
                                    limits.amount_minor_max + 1, 2**53, 2**64])
def test_an_amount_out_of_range(amount: int) -> None:
    assert body_reason(body_of(amount=amount)) is Reason.AMOUNT_INVALID
    assert body_reason(body_of("issue", amount=amount)) is Reason.AMOUNT_INVALID
    assert body_reason(body_of("reconvert", amount=amount)) is Reason.AMOUNT_INVALID


def test_amounts_at_their_limits_parse() -> None:
    for amount in (1, limits.amount_minor_max):
        assert parses(body_of(amount=amount)).body["amount"] == amount
    parses(body_of("delegate", cap_per_payment_minor=limits.amount_minor_max,
                   cap_total_minor=limits.amount_minor_max))
    parses(body_of("delegate", cap_per_payment_minor=1, cap_total_minor=1))
    # a till may not be allowed more in one payment than in all
    assert body_reason(body_of("delegate", cap_per_payment_minor=2, cap_total_minor=1)) is (
        Reason.AMOUNT_INVALID)
    assert body_reason(body_of("delegate", cap_per_payment_minor=0)) is Reason.AMOUNT_INVALID
    assert body_reason(body_of("delegate", cap_total_minor=limits.amount_minor_max + 1)) is (
        Reason.AMOUNT_INVALID)


def test_the_nantie_part_of_a_transfer() -> None:
    for nantie in (0, 1, 100):
        parses(body_of(nantie=nantie))
    assert body_reason(body_of(nantie=101)) is Reason.AMOUNT_INVALID
    assert body_reason(body_of(nantie=-1)) is Reason.AMOUNT_INVALID
    parses(body_of(invoice_minor=0))
    assert body_reason(body_of(invoice_minor=-1)) is Reason.AMOUNT_INVALID


def test_limits_at_their_bounds() -> None:
    top = limits.supply_minor_max
    parses(body_of("set_limits", floor=-top, ceiling=top))
    parses(body_of("set_limits", floor=0, ceiling=0))
    for floor, ceiling in ((1, 100), (-top - 1, 100), (-100, -1), (-100, top + 1)):
        assert body_reason(body_of("set_limits", floor=floor, ceiling=ceiling)) is (
            Reason.AMOUNT_INVALID), (floor, ceiling)
    assert body_reason(body_of("set_policy", policy={
        **POLICY, "credit_floor_default_minor": 1})) is Reason.AMOUNT_INVALID
    assert body_reason(body_of("set_policy", policy={
        **POLICY, "issue_quorum_above_minor": -1})) is Reason.AMOUNT_INVALID


# ================================================================================================
# too_large
# ================================================================================================
@pytest.mark.parametrize(
    "fill", ["a", "é", "€", "☕", "🌻"], ids=["1-byte", "2-byte", "3-byte", "3-byte-cup", "4-byte"]
)
def test_memo_size_is_counted_in_utf8_bytes(fill: str) -> None:
    width = len(fill.encode())
    at_limit = fill * (limits.memo_bytes_max // width)
    at_limit += "a" * (limits.memo_bytes_max - len(at_limit.encode()))
    assert len(at_limit.encode()) == limits.memo_bytes_max
    assert parses(body_of(memo=at_limit)).body["memo"] == at_limit
    assert body_reason(body_of(memo=at_limit + "a")) is Reason.TOO_LARGE
    assert body_reason(body_of(memo=fill * (limits.memo_bytes_max // width + 1))) is (
        Reason.TOO_LARGE)


@pytest.mark.parametrize(
    ("type_", "field", "limit"),
    [("transfer", "reference", limits.reference_bytes_max),
     ("issue", "deposit_ref", limits.reference_bytes_max),
     ("reconvert", "payout_ref", limits.reference_bytes_max),
     ("transfer", "nonce", limits.nonce_bytes_max)],
)
def test_texts_at_their_limits(type_: str, field: str, limit: int) -> None:
    parses(body_of(type_, **{field: "é" * (limit // 2)}))
    assert body_reason(body_of(type_, **{field: "é" * (limit // 2) + "a"})) is Reason.TOO_LARGE


def test_currency_name_at_its_limit() -> None:
    name = "n" * limits.name_bytes_max
    parses(body_of("set_policy", policy={**POLICY, "name": name}))
    assert body_reason(body_of("set_policy", policy={**POLICY, "name": name + "é"})) is (
        Reason.TOO_LARGE)


def test_body_size_at_body_bytes_max() -> None:
    # A control character is one byte of UTF-8 but six of JSON (\u0001): texts within their
    # own limits can make a body longer than body_bytes_max.
    def body(controls: int, nonce: str) -> dict[str, Any]:
        return body_of(memo="\x01" * controls, reference="\x01" * limits.reference_bytes_max,
                       nonce=nonce)

    def size(b: dict[str, Any]) -> int:
        return len(signed(b).body_bytes)

    controls = max(n for n in range(limits.memo_bytes_max + 1)
                   if size(body(n, "x")) <= limits.body_bytes_max)
    assert controls < limits.memo_bytes_max  # the memo alone can overflow the body
    nonce = "x" * (limits.body_bytes_max - size(body(controls, "x")) + 1)
    assert len(parses(body(controls, nonce)).body_bytes) == limits.body_bytes_max
    assert body_reason(body(controls, nonce + "x")) is Reason.TOO_LARGE
    assert body_reason(body(limits.memo_bytes_max, "x")) is Reason.TOO_LARGE


def test_transaction_size_at_transaction_bytes_max() -> None:
    data = encoded(body_of())
    padded = data[:-1] + b" " * (limits.transaction_bytes_max - len(data)) + data[-1:]
    assert len(padded) == limits.transaction_bytes_max
    assert decode_tx(padded).id == decode_tx(data).id
    assert decode_reason(padded[:-1] + b" " + padded[-1:]) is Reason.TOO_LARGE


def test_signatures_at_signatures_max() -> None:
    keys = [member(f"signer {i}").key for i in range(limits.signatures_max + 1)]
    body = body_of()
    tx = sign_body(body, keys[:-1])
    check_signatures(parse_tx(tx.to_json()))
    too_many = sign_body(body, keys).to_json()
    assert refusal(parse_tx, too_many) is Reason.TOO_LARGE


# ================================================================================================
# bad_signature and missing_signature
# ================================================================================================
def test_a_tampered_body_has_a_bad_signature() -> None:
    data = encoded(body_of(amount=100))
    tampered = decode_tx(data.replace(b'"amount":100', b'"amount":900'))
    assert tampered.body["amount"] == 900
    assert refusal(check_signatures, tampered) is Reason.BAD_SIGNATURE


def test_a_signature_by_another_key_is_bad() -> None:
    tx = signed(body_of())
    forged = {"body": tx.body,
              "signatures": [{"key": BOB.public_key, "sig": tx.signatures[0].sig.hex()}]}
    assert refusal(check_signatures, parse_tx(forged)) is Reason.BAD_SIGNATURE
    # one bad signature among good ones spoils the transaction
    both = signed(body_of(), ALICE.key, BOB.key).to_json()
    both["signatures"][1]["sig"] = both["signatures"][0]["sig"]
    assert refusal(check_signatures, parse_tx(both)) is Reason.BAD_SIGNATURE


def test_signatures_are_bound_to_the_transaction_domain() -> None:
    tx = signed(body_of())
    for sig in (ALICE.key.sign(tx.body_bytes).signature,  # no domain tag
                sign(ALICE.key, BLOCK_DOMAIN, tx.body_bytes)):  # a block's domain
        envelope = {"body": tx.body, "signatures": [{"key": ALICE.public_key, "sig": sig.hex()}]}
        assert refusal(check_signatures, parse_tx(envelope)) is Reason.BAD_SIGNATURE
    good = sign(ALICE.key, TX_DOMAIN, tx.body_bytes)
    check_signatures(parse_tx({"body": tx.body,
                               "signatures": [{"key": ALICE.public_key, "sig": good.hex()}]}))


@pytest.mark.parametrize("sig", ["00" * 63, "00" * 65, "AB" * 64, "zz" * 64, 7, "00" * 64 + "\n"])
def test_a_signature_that_is_not_128_hex_digits_is_bad(sig: Any) -> None:
    tx = signed(body_of())
    envelope = {"body": tx.body, "signatures": [{"key": ALICE.public_key, "sig": sig}]}
    assert refusal(parse_tx, envelope) is Reason.BAD_SIGNATURE


def test_no_signature() -> None:
    tx = signed(body_of())
    assert refusal(parse_tx, {"body": tx.body, "signatures": []}) is Reason.MISSING_SIGNATURE


# ================================================================================================
# wrong_chain, expired, expiry_too_far (check_freshness)
# ================================================================================================
def test_wrong_chain() -> None:
    tx = parses(body_of(chain="lien-other"))
    assert refusal(check_freshness, tx, CHAIN, NOW) is Reason.WRONG_CHAIN
    check_freshness(tx, "lien-other", NOW)


def test_expiry_window_edges() -> None:
    window = limits.expiry_window_ms_max
    check_freshness(parses(body_of(expires=NOW + 1)), CHAIN, NOW)
    check_freshness(parses(body_of(expires=NOW + window)), CHAIN, NOW)
    assert refusal(check_freshness, parses(body_of(expires=NOW)), CHAIN, NOW) is Reason.EXPIRED
    assert refusal(check_freshness, parses(body_of(expires=NOW - 1)), CHAIN, NOW) is (
        Reason.EXPIRED)
    assert refusal(check_freshness, parses(body_of(expires=NOW + window + 1)), CHAIN, NOW) is (
        Reason.EXPIRY_TOO_FAR)


# ================================================================================================
# The same rules inside apply_block: dropped, not recorded, the id not spent
# ================================================================================================
@pytest.fixture
def w() -> Iterator[World]:
    world = World()
    yield world
    world.replay()


def payment(w: World, payer: Any, payee: Any, amount: int, **body: Any) -> Tx:
    fields = w.mk.body("transfer", **{"from": payer.account}, to=payee.account, currency=CODE,
                       amount=amount)
    fields.update(body)
    return sign_body(fields, [payer.key])


def drops(w: World, txs: list[Tx], advance_ms: int = 1) -> list[str]:
    """Apply a block; assert that the dropped transactions changed nothing and are absent."""
    before = w.state.all_lines()
    out = w.block(txs, advance_ms)
    dropped_ids = {tx.id for tx, _ in out.dropped}
    assert not dropped_ids & {tx.id for tx in out.txs}
    if not out.txs:
        assert w.state.all_lines() == before
    return [e.reason.value for _, e in out.dropped]


def test_apply_block_drops_another_chains_transaction(w: World) -> None:
    a, b = w.join(nantie=1_000), w.join()
    assert drops(w, [payment(w, a, b, 100, chain="lien-other")]) == ["wrong_chain"]
    assert w.balance(b) == (0, 0)


def test_apply_block_drops_expired_and_too_far(w: World) -> None:
    a, b = w.join(nantie=1_000), w.join()
    now = w.time_ms + 1
    window = limits.expiry_window_ms_max
    assert drops(w, [payment(w, a, b, 1, expires=now),
                     payment(w, a, b, 2, expires=now + window + 1)]) == [
        "expired", "expiry_too_far"]
    out = w.block([payment(w, a, b, 4, expires=w.time_ms + 2),
                   payment(w, a, b, 8, expires=w.time_ms + 1 + window)])
    assert [r.reason for r in out.results] == ["ok", "ok"] and not out.dropped
    assert w.balance(b) == (12, 0)


def test_a_transaction_dropped_as_too_early_may_enter_later(w: World) -> None:
    a, b = w.join(nantie=1_000), w.join()
    early = payment(w, a, b, 100, expires=w.time_ms + limits.expiry_window_ms_max + 2)
    assert drops(w, [early]) == ["expiry_too_far"]
    assert w.run(early).to_json() == {"code": "ok", "nantie": 100, "credit": 0}


def test_apply_block_drops_a_bad_signature_and_the_id_stays_free(w: World) -> None:
    a, b = w.join(nantie=1_000), w.join()
    good = payment(w, a, b, 100)
    forged = Tx(good.id, good.body, good.body_bytes,
                (Signature(a.public_key, sign(b.key, TX_DOMAIN, good.body_bytes)),))
    assert drops(w, [forged]) == ["bad_signature"]
    assert w.run(good).reason is Reason.OK
    assert w.balance(b) == (100, 0)


def test_the_same_transaction_twice_in_a_block_executes_once(w: World) -> None:
    a, b = w.join(nantie=1_000), w.join()
    tx = payment(w, a, b, 100)
    out = w.block([tx, tx])
    assert [t.id for t in out.txs] == [tx.id]
    assert [(t.id, e.reason.value) for t, e in out.dropped] == [(tx.id, "duplicate")]
    assert w.balance(b) == (100, 0)
    # and again in a later block
    assert drops(w, [tx]) == ["duplicate"]
    # signatures are not part of the id: the same body signed otherwise is the same payment
    resigned = sign_body(tx.body, [a.key, b.key])
    assert resigned.id == tx.id
    assert drops(w, [resigned]) == ["duplicate"]
    assert w.balance(b) == (100, 0)


def test_a_refused_transaction_spends_its_id(w: World) -> None:
    a, b = w.join(), w.join()
    tx = payment(w, a, b, 50_000)
    w.refuse(tx, Reason.INSUFFICIENT_FUNDS)
    w.issue(a, 50_000)
    assert drops(w, [tx]) == ["duplicate"]
    assert w.balance(a) == (50_000, 0)


def test_a_transaction_is_remembered_until_it_expires(w: World) -> None:
    a, b = w.join(nantie=1_000), w.join()
    tx = payment(w, a, b, 100, expires=w.time_ms + 1_000)
    w.ok(tx)
    assert drops(w, [tx], advance_ms=998) == ["duplicate"]
    # from its expiry on it can never enter again, whether still remembered or forgotten
    assert drops(w, [tx], advance_ms=1) in (["duplicate"], ["expired"])
    for _ in range(64):
        w.block([])
    assert tx.id not in w.state.seen  # the memory of ids is bounded by the expiry window
    assert drops(w, [tx]) == ["expired"]
    assert w.balance(b) == (100, 0)


def test_apply_block_verifies_signatures_when_asked() -> None:
    w = World()
    a, b = w.join(nantie=1_000), w.join()
    tampered = decode_tx(payment(w, a, b, 100).encode().replace(b'"amount":100',
                                                                  b'"amount":999'))
    assert drops(w, [tampered]) == ["bad_signature"]
    assert w.balance(b) == (0, 0)
    w.replay()


# ================================================================================================
# unknown_signer, signer_not_active (check_signer: against the state, at admission only)
# ================================================================================================
def signer_refusal(w: World, tx: Tx) -> Reason | None:
    try:
        check_signer(w.state, tx)
    except TxError as error:
        return error.reason
    return None


def test_a_key_that_holds_no_account_is_an_unknown_signer(w: World) -> None:
    """Whatever it signs — and then no signature is even verified (the cheap check first)."""
    a, stranger = w.join(nantie=1_000), w.new_member()
    assert signer_refusal(w, w.mk.pay(stranger, a, 1)) is Reason.UNKNOWN_SIGNER
    for type_, fields in [("join_currency", {"account": stranger.account, "currency": CODE}),
                          ("rotate_key", {"account": a.account, "add": [], "remove": []}),
                          ("veto_recovery", {"account": a.account})]:
        assert signer_refusal(w, w.mk.make([stranger], type_, **fields)) is (
            Reason.UNKNOWN_SIGNER), type_
    # a signature by the owner among others is enough, as for execution
    assert signer_refusal(w, w.mk.make([stranger, a], "transfer", **{"from": a.account},
                                       to=w.association.account, currency=CODE,
                                       amount=1)) is None
    assert signer_of(w.state, w.mk.pay(stranger, a, 1)) == Signer(None, False)


def test_a_till_signs_for_its_business(w: World) -> None:
    shop, till, buyer = w.join("business", nantie=1_000), w.new_member(), w.join()
    payment = w.mk.make([till], "transfer", **{"from": shop.account}, to=buyer.account,
                        currency=CODE, amount=10)
    assert signer_refusal(w, payment) is Reason.UNKNOWN_SIGNER
    w.ok(w.mk.make([shop], "delegate", account=shop.account, currency=CODE,
                   key=till.public_key, cap_per_payment_minor=100, cap_total_minor=1_000))
    assert signer_refusal(w, payment) is None
    assert signer_of(w.state, payment) == Signer(shop.account, True)
    w.ok(payment)
    w.ok(w.mk.make([shop], "revoke_delegation", account=shop.account, key=till.public_key))
    assert signer_refusal(w, w.mk.make([till], "transfer", **{"from": shop.account},
                                       to=buyer.account, currency=CODE, amount=11)) is (
        Reason.UNKNOWN_SIGNER)


def test_an_opening_is_signed_by_the_key_it_opens(w: World) -> None:
    newcomer, other = w.new_member(), w.join()
    assert signer_refusal(w, w.mk.open(newcomer)) is None
    assert signer_of(w.state, w.mk.open(newcomer)) == Signer(None, False)
    by_another = w.mk.make([other], "open_account", account=newcomer.account,
                           key=newcomer.public_key, kind="personal")
    assert signer_refusal(w, by_another) is Reason.UNKNOWN_SIGNER
    w.refuse(by_another, Reason.NOT_AUTHORISED)  # what it would have been on chain


def test_only_a_governor_signs_a_new_currency(w: World) -> None:
    def currency(signers: list[Any]) -> Tx:
        return w.mk.make(signers, "create_currency", code="ECO",
                         policy={**w.policy, "name": "Éco"}, admins=[a.account for a in w.admins],
                         issuers=[w.comptoir.account])

    assert signer_refusal(w, currency(list(w.admins))) is Reason.UNKNOWN_SIGNER
    assert signer_refusal(w, currency([w.governor])) is None  # who holds no account
    w.ok(currency([w.governor]))


def test_what_only_an_active_member_can_do_waits_for_the_approval(w: World) -> None:
    """A pending account may join, change its keys, set up its tills; it may not pay: that
    could only be refused, recorded on chain (``account_not_active``)."""
    a, b = w.join(active=False), w.join(nantie=1_000)
    assert signer_refusal(w, w.mk.pay(a, b, 1)) is Reason.SIGNER_NOT_ACTIVE
    assert signer_of(w.state, w.mk.pay(a, b, 1)) == Signer(a.account, False)
    w.refuse(w.mk.pay(a, b, 1), Reason.ACCOUNT_NOT_ACTIVE)
    spare = w.new_member()
    for type_, fields in [("rotate_key", {"account": a.account, "add": [spare.public_key],
                                          "remove": []}),
                          ("join_currency", {"account": a.account, "currency": "ECO"})]:
        assert signer_refusal(w, w.mk.make([a], type_, **fields)) is None, type_
    w.ok(w.mk.approve(w.admins[0], a))
    assert signer_refusal(w, w.mk.pay(a, b, 1)) is None
    w.ok(w.set_status(a, "locked"))  # an admin stops an account at admission
    assert signer_refusal(w, w.mk.pay(a, b, 1)) is Reason.SIGNER_NOT_ACTIVE
    # of the body's currency: a member of LIEN pays nothing in a currency it is not active in
    assert signer_refusal(w, w.mk.pay(b, a, 1, currency="ZED")) is Reason.SIGNER_NOT_ACTIVE
    # admin actions: the admin is the active member
    assert signer_refusal(w, w.set_status(a, "active")) is None
    assert signer_refusal(w, w.set_status(b, "locked", by=a)) is Reason.SIGNER_NOT_ACTIVE


def test_a_recovered_key_signs_once_the_recovery_is_effective(w: World) -> None:
    a, b, new_key = w.join(nantie=1_000), w.join(), w.new_member()
    w.ok(w.mk.make(w.admins, "recover_key", by=w.admins[0].account, currency=CODE,
                   account=a.account, key=new_key.public_key))

    def payment() -> Tx:
        return w.mk.make([new_key], "transfer", **{"from": a.account}, to=b.account,
                         currency=CODE, amount=5)

    assert signer_refusal(w, payment()) is Reason.UNKNOWN_SIGNER  # during the delay
    w.block([], advance_ms=w.policy["recovery_delay_ms"])
    after = payment()
    assert signer_refusal(w, after) is None
    w.ok(after)


# ================================================================================================
# Completeness: every admission reason and every limit is exercised in this file or the rules'
# ================================================================================================
#: Bounds of the node, not of the core: enforced and tested where blocks are cut and batches
#: and peers are received.
NODE_LIMITS = {"block_transactions_max", "batch_transactions_max", "block_interval_ms"}


def test_every_admission_reason_is_exercised() -> None:
    here = pathlib.Path(__file__)
    source = here.read_text() + (here.parent / "test_standing_orders.py").read_text()
    for reason in ADMISSION:
        assert f"Reason.{reason.name}" in source or f'"{reason.value}"' in source, reason


def test_every_core_limit_is_tested_at_its_edge() -> None:
    here = pathlib.Path(__file__)
    source = "".join((here.parent / name).read_text() for name in (
        here.name, "test_ledger_rules.py", "test_unique_chains.py",  # the genesis'
        "test_standing_orders.py"))
    names = [n for n in vars(limits) if n.islower() and not n.startswith("_")]
    assert "memo_bytes_max" in names
    for name in names:
        assert name in NODE_LIMITS or f"limits.{name}" in source, name
