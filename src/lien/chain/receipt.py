"""Receipts: proof, checkable offline by anyone, that a transaction executed with a result.

A receipt is JSON::

    {"tx": <envelope>, "result": {...}, "index": i, "proof": [hex, ...],
     "header": <header>, "signatures": [{"key", "sig"}], "validators": [hex keys],
     "validator_changes": [<change>, ...]}

The first six members are an *inclusion*: the leaf (tx id, result) with ``proof`` gives the
header's ``tx_root``, and the signatures are a certificate of the header. ``validators`` is the
set in force at the header's height; ``validator_changes`` the ``set_validators`` transactions
that made it, oldest first, each an inclusion of its own (``tx``, ``result``, ``index``,
``proof``, ``header``, ``signatures``).

A verifier trusts the chain's genesis validators, and follows the changes from them: each one
executed ``ok`` in a block certified by the set in force there, and was signed by more than 2/3
of that set; its set applies from the next block. The receipt's header must be certified by
the set the changes lead to. Without trusted validators, the receipt is checked against its own
``validators`` only, which proves nothing about who they are.

What a receipt cannot show is a change it leaves out: a set that was replaced could still sign
a false header above its last height, and a receipt that omits the later changes would make
a verifier trust it. The keys of a former validator set must therefore stay secret (or be
destroyed) after it is replaced — the usual caveat of a proof-of-authority chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..ledger.reasons import TxError
from ..ledger.transactions import Tx, parse_tx, signatures_valid
from . import merkle
from .block import Header, ValidatorSet


class ReceiptInvalid(ValueError):
    """The receipt does not prove what it claims; the message says which check failed."""


def inclusion(
    tx_json: dict[str, Any],
    result: dict[str, Any],
    index: int,
    leaves: list[bytes],
    header: Header,
    signatures: dict[str, bytes],
) -> dict[str, Any]:
    """The proof that a transaction is in a certified block with ``result``: what a receipt
    and each of its validator changes are made of."""
    return {
        "tx": tx_json,
        "result": result,
        "index": index,
        "proof": [h.hex() for h in merkle.proof(leaves, index)],
        "header": header.to_json(),
        "signatures": [{"key": k, "sig": s.hex()} for k, s in sorted(signatures.items())],
    }


def build_receipt(
    tx_json: dict[str, Any],
    result: dict[str, Any],
    index: int,
    leaves: list[bytes],
    header: Header,
    signatures: dict[str, bytes],
    validators: tuple[str, ...],
    validator_changes: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A receipt; ``validators`` is the set in force at ``header``'s height and
    ``validator_changes`` the inclusions of the changes that made it (``inclusion``)."""
    return {
        **inclusion(tx_json, result, index, leaves, header, signatures),
        "validators": list(validators),
        "validator_changes": list(validator_changes),
    }


@dataclass(frozen=True, slots=True)
class _Inclusion:
    tx: Tx
    result: dict[str, Any]
    header: Header
    leaf: bytes
    index: int
    path: list[bytes]
    signatures: dict[str, bytes]


def _parse(part: Any) -> _Inclusion:
    """Raises what a malformed part raises (caught by the callers)."""
    tx = parse_tx(part["tx"])
    header = Header.from_json(part["header"])
    result = part["result"]
    if not isinstance(result, dict):
        raise TypeError("a result is an object")
    index = part["index"]
    if not all(type(n) is int for n in (index, header.tx_count, header.height)):
        raise TypeError("index, tx_count and height are integers")
    return _Inclusion(
        tx, result, header, merkle.leaf_hash(tx.id, result), index,
        [bytes.fromhex(h) for h in part["proof"]],
        {s["key"]: bytes.fromhex(s["sig"]) for s in part["signatures"]},
    )


def _check(part: _Inclusion, validators: ValidatorSet, what: str = "") -> None:
    """``part``'s transaction is signed, of the header's chain, in the header's ``tx_root``,
    and more than 2/3 of ``validators`` signed the header. ``what``: which part, in messages."""
    of = f"{what}: " if what else ""
    if not signatures_valid(part.tx):
        raise ReceiptInvalid(f"{of}a transaction signature does not verify")
    if part.tx.body["chain"] != part.header.chain:
        raise ReceiptInvalid(f"{of}transaction and header are of different chains")
    root = merkle.root_from_proof(part.leaf, part.index, part.header.tx_count, part.path)
    if root is None or root.hex() != part.header.tx_root:
        raise ReceiptInvalid(f"{of}inclusion proof does not lead to the header's tx_root")
    if not validators.is_final(part.header.hash, part.signatures):
        raise ReceiptInvalid(f"{of}fewer than 2/3 of the validators signed the header")


def _follow(genesis: tuple[str, ...], changes: list[_Inclusion], header: Header
            ) -> tuple[str, ...]:
    """The validator set in force at ``header``'s height, from the genesis set through
    ``changes`` (each checked against the set it replaces)."""
    keys, from_height = genesis, 1
    for i, change in enumerate(changes):
        what = f"validator change {i + 1} (block {change.header.height})"
        if change.tx.type != "set_validators" or change.result != {"code": "ok"}:
            raise ReceiptInvalid(f"{what}: not a set_validators that executed ok")
        if change.header.chain != header.chain:
            raise ReceiptInvalid(f"{what}: of another chain")
        if not from_height <= change.header.height < header.height:
            raise ReceiptInvalid(f"{what}: not after the change before it and before the "
                                 f"receipt's block {header.height}")
        validators = ValidatorSet(keys)
        _check(change, validators, what)
        signers = set(change.tx.signer_keys) & set(keys)
        if len(signers) < validators.quorum:
            raise ReceiptInvalid(f"{what}: signed by {len(signers)} of the validators it "
                                 f"replaces, {validators.quorum} needed")
        keys, from_height = tuple(change.tx.body["validators"]), change.header.height + 1
    return keys


def verify_receipt(receipt: Any, trusted_validators: tuple[str, ...] | None = None) -> Header:
    """Return the header when the receipt holds; raise ReceiptInvalid naming the failed check.

    ``trusted_validators``: the genesis document's validators (the changes lead from them to
    the set in force at the receipt's height); None: the receipt's own ``validators``."""
    try:
        part = _parse(receipt)
        validators = tuple(receipt["validators"])
        if not all(isinstance(key, str) for key in validators):
            raise TypeError("validators are hex keys")
        # a receipt made before validator changes existed has no such member: none happened
        raw_changes = receipt.get("validator_changes", [])
        if not isinstance(raw_changes, list):
            raise TypeError("validator_changes is a list")
        changes = [_parse(change) for change in raw_changes]
        in_force = ValidatorSet(validators)
    except (KeyError, TypeError, ValueError, TxError, AttributeError) as exc:
        raise ReceiptInvalid(f"malformed receipt: {exc}") from None
    if trusted_validators is not None:
        try:
            followed = _follow(tuple(trusted_validators), changes, part.header)
        except ValueError as exc:  # ReceiptInvalid, or a set that is no set (ValidatorSet)
            raise ReceiptInvalid(str(exc)) from None
        if set(validators) != set(followed):
            raise ReceiptInvalid("validators differ from the trusted genesis and the validator "
                                 "changes the receipt carries")
    _check(part, in_force)
    return part.header
