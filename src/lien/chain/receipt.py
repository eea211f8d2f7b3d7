"""Receipts: proof, checkable offline by anyone, that a transaction executed with a result.

A receipt is JSON::

    {"tx": <envelope>, "result": {...}, "index": i, "proof": [hex, ...],
     "header": <header>, "signatures": [{"key", "sig"}], "validators": [hex keys]}

It verifies when: every transaction signature is valid, the leaf (tx id, result) with ``proof``
gives the header's ``tx_root``, and more than 2/3 of ``validators`` signed the header's hash.
Who the validators are is the verifier's to trust: compare them with the chain's genesis.
"""

from __future__ import annotations

from typing import Any

from ..ledger.reasons import TxError
from ..ledger.transactions import parse_tx, signatures_valid
from . import merkle
from .block import Header, ValidatorSet


class ReceiptInvalid(ValueError):
    """The receipt does not prove what it claims; the message says which check failed."""


def build_receipt(
    tx_json: dict[str, Any],
    result: dict[str, Any],
    index: int,
    leaves: list[bytes],
    header: Header,
    signatures: dict[str, bytes],
    validators: tuple[str, ...],
) -> dict[str, Any]:
    return {
        "tx": tx_json,
        "result": result,
        "index": index,
        "proof": [h.hex() for h in merkle.proof(leaves, index)],
        "header": header.to_json(),
        "signatures": [{"key": k, "sig": s.hex()} for k, s in sorted(signatures.items())],
        "validators": list(validators),
    }


def verify_receipt(receipt: Any, trusted_validators: tuple[str, ...] | None = None) -> Header:
    """Return the header when the receipt holds; raise ReceiptInvalid naming the failed check."""
    try:
        tx = parse_tx(receipt["tx"])
        header = Header.from_json(receipt["header"])
        path = [bytes.fromhex(h) for h in receipt["proof"]]
        signatures = {s["key"]: bytes.fromhex(s["sig"]) for s in receipt["signatures"]}
        validators = tuple(receipt["validators"])
        leaf = merkle.leaf_hash(tx.id, receipt["result"])
        index = receipt["index"]
        if not all(type(n) is int for n in (index, header.tx_count, header.height)):
            raise TypeError("index, tx_count and height are integers")
        if not all(isinstance(key, str) for key in validators):
            raise TypeError("validators are hex keys")
    except (KeyError, TypeError, ValueError, TxError, AttributeError) as exc:
        raise ReceiptInvalid(f"malformed receipt: {exc}") from None
    if trusted_validators is not None and set(validators) != set(trusted_validators):
        raise ReceiptInvalid("validators differ from the trusted genesis")
    if not signatures_valid(tx):
        raise ReceiptInvalid("a transaction signature does not verify")
    if tx.body["chain"] != header.chain:
        raise ReceiptInvalid("transaction and header are of different chains")
    root = merkle.root_from_proof(leaf, index, header.tx_count, path)
    if root is None or root.hex() != header.tx_root:
        raise ReceiptInvalid("inclusion proof does not lead to the header's tx_root")
    try:
        final = ValidatorSet(validators).is_final(header.hash, signatures)
    except ValueError as exc:
        raise ReceiptInvalid(str(exc)) from None
    if not final:
        raise ReceiptInvalid("fewer than 2/3 of the validators signed the header")
    return header
