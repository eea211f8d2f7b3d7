"""A node's receipts (``lien.chain.receipt``): a transaction's inclusion in its block, with
the validator set in force at that height and the validator changes that made it from the
genesis set — each change the inclusion of its ``set_validators`` in its own block."""

from __future__ import annotations

from typing import Any

from ..chain import Header, ValidatorSchedule, leaf_hash
from ..chain.receipt import build_receipt, inclusion
from ..ledger.state import ValidatorChange
from ..store import ChainStore, StoredTx
from ..store.store import StoreError


def receipt_of(store: ChainStore, tx_id: str) -> dict[str, Any] | None:
    """The receipt of ``tx_id`` from ``store``; None when no block holds it."""
    stored = store.transaction(tx_id)
    if stored is None:
        return None
    changes = [c for c in store.validator_changes() if c.from_height <= stored.height]
    in_force = ValidatorSchedule(store.config().validators, changes).at(stored.height)
    return build_receipt(*_inclusion_parts(store, stored), in_force.keys,
                         [_change_inclusion(store, change) for change in changes])


#: What ``inclusion`` is made of: envelope, result, index, leaves, header, signatures.
Parts = tuple[dict[str, Any], dict[str, Any], int, list[bytes], Header, dict[str, bytes]]


def _inclusion_parts(store: ChainStore, stored: StoredTx) -> Parts:
    block = store.block(stored.height)
    if block is None:
        raise StoreError(f"transaction {stored.tx.id} is filed under block {stored.height}, "
                         "which the database does not hold")
    leaves = [leaf_hash(s.tx.id, s.result) for s in store.block_txs(block)]
    return (stored.tx.to_json(), stored.result, stored.seq - block.first_seq, leaves,
            block.header, block.signatures)


def _change_inclusion(store: ChainStore, change: ValidatorChange) -> dict[str, Any]:
    """The ``set_validators`` that made ``change``: the one that executed ``ok`` in block
    ``change.from_height - 1`` (there is one per block at most)."""
    height = change.from_height - 1
    block = store.block(height)
    found = [s for s in (store.block_txs(block) if block else [])
             if s.tx.type == "set_validators" and s.result == {"code": "ok"}]
    if len(found) != 1:
        raise StoreError(f"the validator change from height {change.from_height} has no "
                         f"set_validators that executed in block {height}")
    return inclusion(*_inclusion_parts(store, found[0]))
