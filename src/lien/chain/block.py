"""Block headers, validator signatures and finality certificates.

A header is canonical JSON::

    {"chain", "height", "prev", "state_root", "time_ms", "tx_count", "tx_root"}

``hash = sha256(canonical(header))``. ``prev`` is the previous header's hash; block 1's ``prev``
is the genesis root ``sha256(canonical(genesis document))``. A validator signs
``Ed25519(key, "LIEN/block/v1\\0" || hash)``. A block is *final* when a certificate carries
valid signatures of more than 2/3 of the validator set on the same hash — with one embedded
validator that is its own signature, with a federation of 4 it is 3. The set is the one in
force at the block's height (``ValidatorSchedule``): the genesis set, as changed by
``set_validators`` from the block after each change.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import nacl.signing

from ..ledger import limits
from ..ledger.crypto import BLOCK_DOMAIN, sha256, sign, verify
from ..ledger.encoding import canonical_trusted
from ..ledger.execute import BlockOutcome
from ..ledger.state import ValidatorChange, validator_quorum
from . import merkle


@dataclass(frozen=True, slots=True)
class Header:
    chain: str
    height: int
    prev: str
    time_ms: int
    tx_count: int
    tx_root: str
    state_root: str

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "height": self.height,
            "prev": self.prev,
            "state_root": self.state_root,
            "time_ms": self.time_ms,
            "tx_count": self.tx_count,
            "tx_root": self.tx_root,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Header:
        return cls(
            chain=data["chain"],
            height=data["height"],
            prev=data["prev"],
            time_ms=data["time_ms"],
            tx_count=data["tx_count"],
            tx_root=data["tx_root"],
            state_root=data["state_root"],
        )

    def encode(self) -> bytes:
        return canonical_trusted(self.to_json())

    @property
    def hash(self) -> str:
        return sha256(self.encode()).hex()


def header_for(chain_id: str, prev_hash: str, outcome: BlockOutcome) -> Header:
    """The header of an executed block: its leaves hash each result's ``encoded`` bytes (made
    once, when the result was)."""
    leaves = [merkle.leaf_hash_encoded(tx.id, r.encoded)
              for tx, r in zip(outcome.txs, outcome.results, strict=True)]
    return Header(
        chain=chain_id,
        height=outcome.height,
        prev=prev_hash,
        time_ms=outcome.time_ms,
        tx_count=len(outcome.txs),
        tx_root=merkle.root(leaves).hex(),
        state_root=outcome.state_root.hex(),
    )


class ValidatorSet:
    """The keys that sign blocks, and the quorum rule: strictly more than 2/3 of them."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys or len(set(keys)) != len(keys):
            raise ValueError("a validator set is a non-empty list of distinct keys")
        if len(keys) > limits.validators_max:
            raise ValueError(f"more than validators_max ({limits.validators_max}) validators")
        self.keys = keys

    @property
    def quorum(self) -> int:
        return validator_quorum(len(self.keys))

    def signers(self, block_hash: str, signatures: dict[str, bytes]) -> set[str]:
        """The validators whose signature on ``block_hash`` verifies."""
        digest = bytes.fromhex(block_hash)
        return {
            key
            for key, sig in signatures.items()
            if key in self.keys and verify(bytes.fromhex(key), BLOCK_DOMAIN, digest, sig)
        }

    def is_final(self, block_hash: str, signatures: dict[str, bytes]) -> bool:
        return len(self.signers(block_hash, signatures)) >= self.quorum


class ValidatorSchedule:
    """Which validator set certifies each height: the genesis set from height 1, then each
    change (``set_validators``, ``lien.ledger.state.ValidatorChange``) from its height on.

    A node adds each change once it executed it (``add``); so ``at(h)`` is sure for the heights
    up to the one after its last executed block, and for higher ones the latest set it knows."""

    def __init__(self, genesis: tuple[str, ...],
                 changes: Iterable[ValidatorChange] = ()) -> None:
        self._from: list[int] = [1]
        self._sets: list[ValidatorSet] = [ValidatorSet(genesis)]
        for change in changes:
            self.add(change)

    def add(self, change: ValidatorChange) -> None:
        """The set of ``change`` from its height on (above the last change's)."""
        if change.from_height <= self._from[-1]:
            raise ValueError(f"a validator change from height {change.from_height} after one "
                             f"from height {self._from[-1]}")
        # the set first: a reader in another thread (the API) never finds a height without it
        self._sets.append(ValidatorSet(change.keys))
        self._from.append(change.from_height)

    def at(self, height: int) -> ValidatorSet:
        """The set that certifies block ``height`` (the genesis set below height 1)."""
        return self._sets[max(0, bisect.bisect_right(self._from, height) - 1)]

    def changes(self) -> list[ValidatorChange]:
        """The changes added, oldest first (not the genesis set)."""
        return [ValidatorChange(h, s.keys) for h, s in zip(self._from[1:], self._sets[1:],
                                                             strict=True)]

    @property
    def latest(self) -> ValidatorSet:
        return self._sets[-1]

    @property
    def latest_from(self) -> int:
        """The height the latest set certifies from (1: the genesis set)."""
        return self._from[-1]


def sign_header(key: nacl.signing.SigningKey, block_hash: str) -> bytes:
    return sign(key, BLOCK_DOMAIN, bytes.fromhex(block_hash))
