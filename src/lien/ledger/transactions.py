"""Transactions: the signed envelope, the body of each type, strict parsing and signing.

Wire form (canonical JSON, see docs/protocol.md)::

    {"body": {"chain": ..., "type": ..., "expires": ..., "nonce": ..., <fields of the type>},
     "signatures": [{"key": <hex Ed25519 public key>, "sig": <hex signature>}, ...]}

* the transaction id is ``sha256(canonical(body))`` in hex: signatures are not part of it, so
  several admins can co-sign the same id (M-of-N), and a retry is recognised as the same id;
* each signature is ``Ed25519(key, "LIEN/tx/v1\\0" || canonical(body))``;
* parsing is strict: unknown or missing fields, floats, booleans for numbers, bad ids, oversized
  texts are refused with a reason code before anything else looks at the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import nacl.signing

from . import limits
from .crypto import TX_DOMAIN, sha256_hex, sign, verify
from .encoding import canonical, canonical_validated, parse_json
from .ids import is_account_id
from .reasons import Reason, TxError

KINDS = ("personal", "business", "association", "comptoir")
STATUSES = ("pending", "active", "locked", "closed")
ROLES = ("admin", "issuer")

_CURRENCY_RE = re.compile(r"^[A-Z][A-Z0-9]{1,11}$")
_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
_SIG_RE = re.compile(r"^[0-9a-f]{128}$")
_CHAIN_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")

Check = Callable[[str, Any], None]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad(field: str, what: str, reason: Reason = Reason.BAD_FIELD) -> TxError:
    return TxError(reason, f"{field}: {what}")


def _int_in(low: int, high: int, reason: Reason = Reason.BAD_FIELD) -> Check:
    def check(field: str, value: Any) -> None:
        if not _is_int(value):
            raise _bad(field, "must be an integer", Reason.MALFORMED)
        if not low <= value <= high:
            raise _bad(field, f"must be in {low}..{high}", reason)

    return check


amount = _int_in(1, limits.amount_minor_max, Reason.AMOUNT_INVALID)
amount_or_zero = _int_in(0, limits.amount_minor_max, Reason.AMOUNT_INVALID)
floor = _int_in(-limits.supply_minor_max, 0, Reason.AMOUNT_INVALID)
ceiling = _int_in(0, limits.supply_minor_max, Reason.AMOUNT_INVALID)
time_ms = _int_in(0, 2**53 - 1)


def _string(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(field, "must be a string", Reason.MALFORMED)
    return value


def _any_string(field: str, value: Any) -> None:
    """``_string`` as a Check (a check returns nothing; it raises)."""
    _string(field, value)


def text(max_bytes: int, min_bytes: int = 0) -> Check:
    def check(field: str, value: Any) -> None:
        size = len(_string(field, value).encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise _bad(field, f"longer than {max_bytes} bytes", Reason.TOO_LARGE)
        if size < min_bytes:
            raise _bad(field, f"shorter than {min_bytes} bytes")

    return check


def pattern(regex: re.Pattern[str], what: str) -> Check:
    def check(field: str, value: Any) -> None:
        if not regex.fullmatch(_string(field, value)):
            raise _bad(field, f"not {what}")

    return check


def one_of(choices: Iterable[str]) -> Check:
    allowed = tuple(choices)

    def check(field: str, value: Any) -> None:
        if _string(field, value) not in allowed:
            raise _bad(field, f"must be one of {', '.join(allowed)}")

    return check


def account(field: str, value: Any) -> None:
    if not is_account_id(_string(field, value)):
        raise _bad(field, "not an account id (12 characters with valid check digits)")


currency = pattern(_CURRENCY_RE, "a currency code (2-12 of A-Z, 0-9)")
public_key = pattern(_KEY_RE, "a hex Ed25519 public key (64 lower-case hex digits)")


def list_of(item: Check, min_items: int, max_items: int) -> Check:
    def check(field: str, value: Any) -> None:
        if not isinstance(value, list):
            raise _bad(field, "must be a list", Reason.MALFORMED)
        if not min_items <= len(value) <= max_items:
            raise _bad(field, f"must hold {min_items}..{max_items} items")
        for entry in value:
            item(field, entry)
        if len(set(value)) != len(value):
            raise _bad(field, "has repeated items")

    return check


def record(fields: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Check:
    """A nested object with exactly these fields (plus the optional ones)."""

    def check(field: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise _bad(field, "must be an object", Reason.MALFORMED)
        check_fields(value, fields, optional or {}, prefix=f"{field}.")

    return check


POLICY = {
    "name": text(limits.name_bytes_max, 1),
    "association": account,
    "reconversion_fee_bp": _int_in(0, limits.basis_points_max),
    "admin_quorum": _int_in(1, limits.signatures_max),
    "issue_quorum_above_minor": amount_or_zero,
    "limit_quorum_above_minor": amount_or_zero,
    "credit_floor_default_minor": floor,
    "credit_ceiling_default_minor": ceiling,
    "recovery_delay_ms": _int_in(0, 30 * 24 * 3600 * 1000),
}

COMMON: dict[str, Check] = {
    "chain": pattern(_CHAIN_RE, "a chain id"),
    "type": _any_string,
    "expires": time_ms,
    "nonce": text(limits.nonce_bytes_max, 1),
}

#: The fields of each transaction type: (required, optional). One place, read by the parser,
#: the executor's dispatch table and docs/protocol.md.
TYPES: dict[str, tuple[dict[str, Check], dict[str, Check]]] = {
    "open_account": (
        {"account": account, "key": public_key, "kind": one_of(KINDS)},
        {"currency": currency},
    ),
    "join_currency": ({"account": account, "currency": currency}, {}),
    "set_status": (
        {"by": account, "currency": currency, "account": account, "status": one_of(STATUSES)},
        {},
    ),
    "set_roles": (
        {
            "by": account,
            "currency": currency,
            "account": account,
            "roles": list_of(one_of(ROLES), 0, len(ROLES)),
        },
        {},
    ),
    "set_limits": (
        {"by": account, "currency": currency, "account": account, "floor": floor,
         "ceiling": ceiling},
        {},
    ),
    "issue": (
        {"by": account, "currency": currency, "to": account, "amount": amount,
         "deposit_ref": text(limits.reference_bytes_max, 1)},
        {},
    ),
    "reconvert": (
        {"account": account, "currency": currency, "amount": amount,
         "payout_ref": text(limits.reference_bytes_max, 1)},
        {},
    ),
    "transfer": (
        {"from": account, "to": account, "currency": currency, "amount": amount},
        {
            "nantie": amount_or_zero,
            "reference": text(limits.reference_bytes_max),
            "invoice_minor": amount_or_zero,
            "memo": text(limits.memo_bytes_max),
        },
    ),
    "rotate_key": (
        {
            "account": account,
            "add": list_of(public_key, 0, limits.owner_keys_max),
            "remove": list_of(public_key, 0, limits.owner_keys_max),
        },
        {},
    ),
    "recover_key": ({"by": account, "currency": currency, "account": account, "key": public_key},
                    {}),
    "veto_recovery": ({"account": account}, {}),
    "delegate": (
        {"account": account, "currency": currency, "key": public_key,
         "cap_per_payment_minor": amount, "cap_total_minor": amount},
        {},
    ),
    "revoke_delegation": ({"account": account, "key": public_key}, {}),
    "create_currency": (
        {
            "code": currency,
            "policy": record(POLICY),
            "admins": list_of(account, 1, limits.signatures_max),
            "issuers": list_of(account, 0, limits.signatures_max),
        },
        {},
    ),
    "set_policy": ({"by": account, "currency": currency, "policy": record(POLICY)}, {}),
}


def check_fields(
    obj: dict[str, Any],
    required: Mapping[str, Check],
    optional: Mapping[str, Check],
    prefix: str = "",
) -> None:
    for name, check in required.items():
        if name not in obj:
            raise TxError(Reason.MALFORMED, f"missing field {prefix}{name}")
        check(prefix + name, obj[name])
    for name, value in obj.items():
        if name in required:
            continue
        optional_check = optional.get(name)
        if optional_check is None:
            raise TxError(Reason.MALFORMED, f"unexpected field {prefix}{name}")
        optional_check(prefix + name, value)


def check_body(body: Any) -> None:
    """Raise TxError unless ``body`` is a well-formed body of a known type."""
    if not isinstance(body, dict):
        raise TxError(Reason.MALFORMED, "body must be an object")
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        raise TxError(Reason.UNKNOWN_TYPE, f"unknown type {kind!r}")
    required, optional = TYPES[kind]
    check_fields(body, {**COMMON, **required}, optional)
    if kind == "transfer" and body.get("nantie", 0) > body["amount"]:
        raise TxError(Reason.AMOUNT_INVALID, "nantie: larger than amount")
    if kind == "delegate" and body["cap_per_payment_minor"] > body["cap_total_minor"]:
        raise TxError(Reason.AMOUNT_INVALID, "cap_per_payment_minor: larger than cap_total_minor")


@dataclass(frozen=True, slots=True)
class Signature:
    key: str  # hex public key
    sig: bytes

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "sig": self.sig.hex()}


@dataclass(frozen=True, slots=True)
class Tx:
    """A parsed, well-formed transaction. Its signatures are *not* yet verified."""

    id: str  #: hex sha256 of ``body_bytes``
    body: dict[str, Any]
    body_bytes: bytes  #: canonical JSON of the body: what is hashed and signed
    signatures: tuple[Signature, ...]

    @property
    def type(self) -> str:
        return str(self.body["type"])

    @property
    def signer_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.signatures)

    def to_json(self) -> dict[str, Any]:
        return {"body": self.body, "signatures": [s.to_json() for s in self.signatures]}

    def encode(self) -> bytes:
        """Canonical JSON of the envelope, assembled from the already canonical body."""
        sigs = b",".join(
            b'{"key":"%s","sig":"%s"}' % (s.key.encode(), s.sig.hex().encode())
            for s in self.signatures
        )
        return b'{"body":' + self.body_bytes + b',"signatures":[' + sigs + b"]}"


def _parse_signatures(raw: Any) -> tuple[Signature, ...]:
    """Well-formed entries; how many, and whether distinct, is ``_check_signature_set``'s."""
    if not isinstance(raw, list):
        raise TxError(Reason.MALFORMED, "signatures must be a list")
    result = []
    for entry in raw:
        if not isinstance(entry, dict) or set(entry) != {"key", "sig"}:
            raise TxError(Reason.MALFORMED, "a signature is {key, sig}")
        key, sig = entry["key"], entry["sig"]
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise TxError(Reason.BAD_FIELD, "signature key: not a hex Ed25519 public key")
        if not isinstance(sig, str) or not _SIG_RE.fullmatch(sig):
            raise TxError(Reason.BAD_SIGNATURE, "signature: not 128 lower-case hex digits")
        result.append(Signature(key, bytes.fromhex(sig)))
    return tuple(result)


def parse_tx(envelope: Any) -> Tx:
    """Parse a decoded envelope strictly. Raises TxError with the admission reason."""
    if not isinstance(envelope, dict) or set(envelope) != {"body", "signatures"}:
        raise TxError(Reason.MALFORMED, "a transaction is {body, signatures}")
    body_bytes = _canonical_body(envelope["body"])
    signatures = _parse_signatures(envelope["signatures"])
    _check_signature_set(signatures)
    return Tx(sha256_hex(body_bytes), envelope["body"], body_bytes, signatures)


def tx_from_parts(body: Any, signatures: tuple[Signature, ...]) -> Tx:
    """A transaction from a decoded body and well-formed signatures (hex keys, 64-byte sigs),
    checked in the same order as ``parse_tx``: body first, then the set of signatures."""
    body_bytes = _canonical_body(body)
    _check_signature_set(signatures)
    return Tx(sha256_hex(body_bytes), body, body_bytes, signatures)


def _canonical_body(body: Any) -> bytes:
    check_body(body)
    body_bytes = canonical_validated(body)  # check_body has checked every value's type
    if len(body_bytes) > limits.body_bytes_max:
        raise TxError(Reason.TOO_LARGE, f"body longer than {limits.body_bytes_max} bytes")
    return body_bytes


def _check_signature_set(signatures: tuple[Signature, ...]) -> None:
    if not signatures:
        raise TxError(Reason.MISSING_SIGNATURE, "no signature")
    if len(signatures) > limits.signatures_max:
        raise TxError(Reason.TOO_LARGE, f"more than {limits.signatures_max} signatures")
    if len({s.key for s in signatures}) != len(signatures):
        raise TxError(Reason.MALFORMED, "two signatures by the same key")


def decode_tx(data: bytes) -> Tx:
    """Parse a transaction from its JSON bytes."""
    if len(data) > limits.transaction_bytes_max:
        raise TxError(Reason.TOO_LARGE, f"longer than {limits.transaction_bytes_max} bytes")
    return parse_tx(parse_json(data))


def signatures_valid(tx: Tx) -> bool:
    return all(
        verify(bytes.fromhex(s.key), TX_DOMAIN, tx.body_bytes, s.sig) for s in tx.signatures
    )


def check_signatures(tx: Tx) -> None:
    if not signatures_valid(tx):
        raise TxError(Reason.BAD_SIGNATURE, "a signature does not verify")


def check_freshness(tx: Tx, chain_id: str, now_ms: int) -> None:
    """Admission checks that depend on the chain and the time (not on the ledger's state)."""
    if tx.body["chain"] != chain_id:
        raise TxError(Reason.WRONG_CHAIN, f"this is chain {chain_id!r}")
    expires = tx.body["expires"]
    if expires <= now_ms:
        raise TxError(Reason.EXPIRED, f"expired at {expires}, now {now_ms}")
    if expires > now_ms + limits.expiry_window_ms_max:
        raise TxError(Reason.EXPIRY_TOO_FAR, f"more than {limits.expiry_window_ms_max} ms ahead")


def sign_body(body: dict[str, Any], keys: Iterable[nacl.signing.SigningKey]) -> Tx:
    """Build a signed transaction (for wallets, the CLI, tests and the demo)."""
    check_body(body)
    body_bytes = canonical(body)
    sigs = tuple(
        Signature(bytes(k.verify_key).hex(), sign(k, TX_DOMAIN, body_bytes)) for k in keys
    )
    return Tx(sha256_hex(body_bytes), body, body_bytes, sigs)
