"""Transactions: the signed envelope, strict parsing of bodies, signing and signatures.

Wire form (canonical JSON, see docs/protocol.md)::

    {"body": {"chain": ..., "type": ..., "expires": ..., "nonce": ..., <fields of the type>},
     "signatures": [{"key": <hex Ed25519 public key>, "sig": <hex signature>}, ...]}

* the transaction id is ``sha256(canonical(body))`` in hex: signatures are not part of it, so
  several admins can co-sign the same id (M-of-N), and a retry is recognised as the same id;
* each signature is ``Ed25519(key, "LIEN/tx/v1\\0" || canonical(body))``;
* parsing is strict: unknown or missing fields, floats, booleans for numbers, bad ids, oversized
  texts are refused with a reason code before anything else looks at the transaction.

The fields of each type, and its static checks, belong to the type's unit in
``lien.ledger.types``; ``check_body`` reads them from a registry (``TX_TYPES`` unless a caller
passes another, as tests with toy types do). ``check_signatures`` is the one place that refuses a
signature that does not verify.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import nacl.signing

from . import limits
from .crypto import TX_DOMAIN, sha256_hex, sign, verify
from .encoding import canonical, canonical_validated, parse_json
from .fields import KEY_RE, SIG_RE, check_fields
from .reasons import Reason, TxError
from .types import TX_TYPES, Registry


def check_body(body: Any, types: Registry = TX_TYPES) -> None:
    """Raise TxError unless ``body`` is a well-formed body of a type of ``types``: the common
    fields and the type's fields (``check_fields``), then the type's own static checks."""
    if not isinstance(body, dict):
        raise TxError(Reason.MALFORMED, "body must be an object")
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in types:
        raise TxError(Reason.UNKNOWN_TYPE, f"unknown type {kind!r}")
    unit = types[kind]
    check_fields(body, unit.all_required, unit.optional)
    unit.check(body)


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
        return envelope_bytes(self.body_bytes, ((s.key, s.sig) for s in self.signatures))


def envelope_bytes(body_bytes: bytes, signatures: Iterable[tuple[str, bytes]]) -> bytes:
    """Canonical JSON of an envelope from a canonical body and (hex key, signature) pairs: a
    stored transaction is served in exactly the form it was submitted (``Tx.encode``)."""
    sigs = b",".join(
        b'{"key":"%s","sig":"%s"}' % (key.encode(), sig.hex().encode()) for key, sig in signatures
    )
    return b'{"body":' + body_bytes + b',"signatures":[' + sigs + b"]}"


def _parse_signatures(raw: Any) -> tuple[Signature, ...]:
    """Well-formed entries; how many, and whether distinct, is ``_check_signature_set``'s."""
    if not isinstance(raw, list):
        raise TxError(Reason.MALFORMED, "signatures must be a list")
    result = []
    for entry in raw:
        if not isinstance(entry, dict) or set(entry) != {"key", "sig"}:
            raise TxError(Reason.MALFORMED, "a signature is {key, sig}")
        key, sig = entry["key"], entry["sig"]
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            raise TxError(Reason.BAD_FIELD, "signature key: not a hex Ed25519 public key")
        if not isinstance(sig, str) or not SIG_RE.fullmatch(sig):
            raise TxError(Reason.BAD_SIGNATURE, "signature: not 128 lower-case hex digits")
        result.append(Signature(key, bytes.fromhex(sig)))
    return tuple(result)


def parse_tx(envelope: Any, types: Registry = TX_TYPES) -> Tx:
    """Parse a decoded envelope strictly. Raises TxError with the admission reason."""
    if not isinstance(envelope, dict) or set(envelope) != {"body", "signatures"}:
        raise TxError(Reason.MALFORMED, "a transaction is {body, signatures}")
    body_bytes = _canonical_body(envelope["body"], types)
    signatures = _parse_signatures(envelope["signatures"])
    _check_signature_set(signatures, types[envelope["body"]["type"]].system)
    return Tx(sha256_hex(body_bytes), envelope["body"], body_bytes, signatures)


def tx_from_parts(body: Any, signatures: tuple[Signature, ...], types: Registry = TX_TYPES) -> Tx:
    """A transaction from a decoded body and well-formed signatures (hex keys, 64-byte sigs),
    checked in the same order as ``parse_tx``: body first, then the set of signatures."""
    body_bytes = _canonical_body(body, types)
    _check_signature_set(signatures, types[body["type"]].system)
    return Tx(sha256_hex(body_bytes), body, body_bytes, signatures)


def _canonical_body(body: Any, types: Registry) -> bytes:
    check_body(body, types)
    body_bytes = canonical_validated(body)  # check_body has checked every value's type
    if len(body_bytes) > limits.body_bytes_max:
        raise TxError(Reason.TOO_LARGE, f"body longer than {limits.body_bytes_max} bytes")
    return body_bytes


def _check_signature_set(signatures: tuple[Signature, ...], system: bool = False) -> None:
    """A system transaction (``order_run``) carries none: the ledger makes it from its state;
    every other carries at least one."""
    if system:
        if signatures:
            raise TxError(Reason.SYSTEM_TRANSACTION, "made by the ledger, never signed")
        return
    if not signatures:
        raise TxError(Reason.MISSING_SIGNATURE, "no signature")
    if len(signatures) > limits.signatures_max:
        raise TxError(Reason.TOO_LARGE, f"more than {limits.signatures_max} signatures")
    if len({s.key for s in signatures}) != len(signatures):
        raise TxError(Reason.MALFORMED, "two signatures by the same key")


def decode_tx(data: bytes, types: Registry = TX_TYPES) -> Tx:
    """Parse a transaction from its JSON bytes."""
    if len(data) > limits.transaction_bytes_max:
        raise TxError(Reason.TOO_LARGE, f"longer than {limits.transaction_bytes_max} bytes")
    return parse_tx(parse_json(data), types)


def signatures_valid(tx: Tx) -> bool:
    return all(
        verify(bytes.fromhex(s.key), TX_DOMAIN, tx.body_bytes, s.sig) for s in tx.signatures
    )


def signature_refusal() -> TxError:
    """The refusal of a transaction whose signatures do not verify (one wording everywhere)."""
    return TxError(Reason.BAD_SIGNATURE, "a signature does not verify")


def check_signatures(tx: Tx) -> None:
    """Raise ``TxError(BAD_SIGNATURE)`` unless every signature verifies: admission, block
    execution and a node reading another node's log entries all refuse through here (or,
    when signatures were verified in a batch, through ``signature_refusal``)."""
    if not signatures_valid(tx):
        raise signature_refusal()


def system_tx(body: dict[str, Any]) -> Tx:
    """A system transaction (``order_run``) as the ledger makes it: no signature."""
    body_bytes = canonical(body)
    return Tx(sha256_hex(body_bytes), body, body_bytes, ())


def check_freshness(tx: Tx, chain_id: str, now_ms: int) -> None:
    """Admission checks that depend on the chain and the time (not on the ledger's state)."""
    if tx.body["chain"] != chain_id:
        raise TxError(Reason.WRONG_CHAIN, f"this is chain {chain_id!r}")
    expires = tx.body["expires"]
    if expires <= now_ms:
        raise TxError(Reason.EXPIRED, f"expired at {expires}, now {now_ms}")
    if expires > now_ms + limits.expiry_window_ms_max:
        raise TxError(Reason.EXPIRY_TOO_FAR, f"more than {limits.expiry_window_ms_max} ms ahead")


def sign_body(
    body: dict[str, Any], keys: Iterable[nacl.signing.SigningKey], types: Registry = TX_TYPES
) -> Tx:
    """Build a signed transaction (for wallets, the CLI, tests and the demo)."""
    check_body(body, types)
    body_bytes = canonical(body)
    sigs = tuple(
        Signature(bytes(k.verify_key).hex(), sign(k, TX_DOMAIN, body_bytes)) for k in keys
    )
    return Tx(sha256_hex(body_bytes), body, body_bytes, sigs)
