"""Changing the validator set from node directories (``lien validators``).

A change is a ``set_validators`` transaction that more than 2/3 of the validators in force
sign with their own keys — keys that live in their nodes' directories (``DIR/validator.key``),
on different associations' machines. So a change travels as a file:

1. ``proposal``: the body (the set in force, keys added and removed), no signature yet;
2. ``add_signatures``: each validator's node directory adds its signature (``lien validators
   sign``), with those of its keys that are in the set in force;
3. anyone submits it once enough have signed (``lien validators submit``).

A key rotation is one change: the validator makes a new key first (``add_key``: a second line
in its key file; restarted, its node holds both keys and signs each block with the one in the
set in force), then the change replaces the old public key with the new one; once it is in
force, ``retire_keys`` drops the old seed from the file — a key of a former set must not leak
(``lien.chain.receipt``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import nacl.signing

from ..ledger import Signature, TxError, check_body, parse_tx, sign_body, signatures_valid
from ..ledger.crypto import new_signing_key, public_key_hex
from ..ledger.reasons import Reason
from ..ledger.state import ChainConfig, ValidatorChange
from ..store import ChainStore
from ..wallet import TxMaker
from .setup import NodeDir, SetupError

#: How long the validators have to sign and submit a proposed change (within the protocol's
#: ``expiry_window_ms_max`` of 24 hours).
proposal_expiry_ms = 20 * 3600 * 1000


class ProposalError(ValueError):
    """A proposed change that cannot be made, signed or read; the message says why."""


def in_force(store: ChainStore, config: ChainConfig) -> ValidatorChange:
    """The validator set of the next block: the last change the store holds, or the genesis
    set."""
    changes = store.validator_changes()
    return changes[-1] if changes else ValidatorChange(1, tuple(sorted(config.validators)))


# -- this node's keys ------------------------------------------------------------------------------
def _write_keys(node_dir: NodeDir, keys: Sequence[nacl.signing.SigningKey]) -> None:
    """Replace the key file at once (a new file, mode 0600, renamed over the old one)."""
    path = node_dir.validator_key_file
    if path is None:
        raise SetupError(f"{node_dir.settings_file} names no validator_key: this node signs "
                         "no block")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:  # mkstemp makes it 0600
            f.write("".join(f"{bytes(k).hex()}\n" for k in keys))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def add_key(node_dir: NodeDir) -> nacl.signing.SigningKey:
    """A new validator key for this node, kept after its current one(s)."""
    keys = node_dir.validator_keys()
    new = new_signing_key()
    _write_keys(node_dir, (*keys, new))
    return new


def retire_keys(node_dir: NodeDir, validators: Collection[str]) -> list[str]:
    """Drop from the key file the keys that are not in ``validators`` (the set in force);
    returns their public keys. Refuses to leave the node without a key of the set."""
    keys = node_dir.validator_keys()
    kept = [k for k in keys if public_key_hex(k) in validators]
    if not kept:
        raise SetupError("none of this node's validator keys is in the validator set in "
                         "force: nothing retired (is the change in force yet?)")
    _write_keys(node_dir, kept)
    return [public_key_hex(k) for k in keys if k not in kept]


# -- a change as a file ----------------------------------------------------------------------------
def proposal(chain_id: str, current: ValidatorChange, add: Sequence[str],
             remove: Sequence[str], now_ms: int) -> dict[str, Any]:
    """The envelope of a change of ``current`` (``add`` keys in, ``remove`` keys out), with no
    signature yet."""
    for key in remove:
        if key not in current.keys:
            raise ProposalError(f"{key} is not in the validator set in force")
    for key in add:
        if key in current.keys:
            raise ProposalError(f"{key} is already in the validator set in force")
    keys = sorted({*current.keys, *add} - set(remove))
    if sorted(current.keys) == keys:
        raise ProposalError("nothing to change: pass --add KEY and/or --remove KEY")
    body = TxMaker(chain_id, lambda: now_ms, proposal_expiry_ms).body(
        "set_validators", validators=keys)
    try:
        check_body(body)
    except TxError as exc:  # not a key, a repeated key, an empty or too large set
        raise ProposalError(f"{exc.reason.value}: {exc.detail}") from None
    return {"body": body, "signatures": []}


def read_proposal(envelope: Any, chain_id: str) -> tuple[dict[str, Any], list[Signature]]:
    """The body and the signatures so far of a proposed change of this chain; each signature
    must verify."""
    if not isinstance(envelope, dict) or set(envelope) != {"body", "signatures"}:
        raise ProposalError("not a proposed change: {body, signatures} expected")
    body = envelope["body"]
    try:
        check_body(body)
        tx = parse_tx(envelope) if envelope["signatures"] else None
    except TxError as exc:
        raise ProposalError(f"{exc.reason.value}: {exc.detail}") from None
    if body["type"] != "set_validators":
        raise ProposalError(f"a {body['type']}, not a change of the validator set")
    if body["chain"] != chain_id:
        raise ProposalError(f"{Reason.WRONG_CHAIN.value}: a change for chain {body['chain']}, "
                            f"this node's chain is {chain_id}")
    if tx is None:
        return body, []
    if not signatures_valid(tx):
        raise ProposalError(f"{Reason.BAD_SIGNATURE.value}: a signature does not verify")
    return body, list(tx.signatures)


def add_signatures(envelope: Any, chain_id: str, current: ValidatorChange,
                   keys: Sequence[nacl.signing.SigningKey]) -> tuple[dict[str, Any], list[str]]:
    """``envelope`` signed also with those of ``keys`` in the set in force (replacing their
    earlier signatures); returns it with the public keys that signed here."""
    body, signatures = read_proposal(envelope, chain_id)
    signing = [k for k in keys if public_key_hex(k) in current.keys]
    if not signing:
        raise ProposalError("none of this node's validator keys is in the validator set in "
                            "force: it cannot sign a change")
    mine = sign_body(body, signing).signatures
    ours = {s.key for s in mine}
    merged = [s for s in signatures if s.key not in ours] + list(mine)
    return ({"body": body, "signatures": [s.to_json() for s in merged]},
            [s.key for s in mine])

