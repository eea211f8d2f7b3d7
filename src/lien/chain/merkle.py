"""Merkle tree over a block's (transaction id, result) pairs — RFC 6962 hashing.

leaf  = sha256(0x00 || tx_id (32 bytes) || sha256(canonical(result)))
node  = sha256(0x01 || left || right)

Levels are built pairwise; an unpaired last node is promoted unchanged (the same tree as
RFC 6962's). The root of an empty block is sha256(""). An inclusion proof is the list of
sibling hashes from the leaf up; the verifier needs the leaf's index and the leaf count.
"""

from __future__ import annotations

from typing import Any

from ..ledger.crypto import sha256
from ..ledger.encoding import canonical_trusted

EMPTY_ROOT = sha256(b"")


def leaf_hash(tx_id: str, result: dict[str, Any]) -> bytes:
    return leaf_hash_encoded(tx_id, canonical_trusted(result))


def leaf_hash_encoded(tx_id: str, result: bytes) -> bytes:
    """The leaf of a result already in canonical JSON (the bytes a node stores)."""
    return sha256(b"\x00" + bytes.fromhex(tx_id) + sha256(result))


def _parent(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def _next_level(level: list[bytes]) -> list[bytes]:
    parents = [_parent(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        parents.append(level[-1])
    return parents


def root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    level = leaves
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def proof(leaves: list[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf ``index`` up to the root."""
    path: list[bytes] = []
    level = leaves
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        level = _next_level(level)
        index //= 2
    return path


def root_from_proof(leaf: bytes, index: int, count: int, path: list[bytes]) -> bytes | None:
    """The root that ``path`` proves for ``leaf``; None when the path has the wrong length."""
    if not 0 <= index < count:
        return None
    node, steps = leaf, iter(path)
    while count > 1:
        if index % 2 == 1:
            sibling = next(steps, None)
            if sibling is None:
                return None
            node = _parent(sibling, node)
        elif index + 1 < count:
            sibling = next(steps, None)
            if sibling is None:
                return None
            node = _parent(node, sibling)
        index //= 2
        count = (count + 1) // 2
    if next(steps, None) is not None:
        return None
    return node
