"""Finality: the validators' signatures on block headers, tallied until more than 2/3 agree.

Each validator executes every block itself and signs the header it computed — height, hash,
and through the hash the state commitment (``state_root``). Its signature travels as a
``Vote`` (over NATS in a federation: ``lien.federation.votes``); every node tallies the votes
on the blocks above its final height:

* a block is **final** once more than 2/3 of the validator set signed *this node's own*
  header at that height; finality is sequential (a certified block commits to every block
  before it by the hash chain), so the node's final height is its highest certified block;
* more than 2/3 on **another** hash at a height means this node computed a different state
  than the federation: it must stop with an alarm and a report (``StateDiverged``), never
  sign or commit that block;
* one validator signing two different hashes at one height is an **equivocation**: both
  signatures are kept as evidence (``Equivocation``), the first one counts.

Votes are checked here (a key of the set in force at the vote's height, a valid signature on
the hash): a vote from anywhere cannot forge a certificate. The set changes by
``set_validators`` from the block after each change (``ValidatorSchedule``); a vote for a
height above the blocks this node executed may be by a key of a set it does not know yet: it
is kept aside (``votes_aside_max``) and counted again when the node learns a change
(``recount``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..chain import ValidatorSchedule
from ..ledger.crypto import BLOCK_DOMAIN, verify

#: Heights above its own a node keeps votes for (a node behind the federation executes them
#: soon); votes further ahead are dropped (they come again from the votes stream or a peer).
heights_ahead_max = 100_000
#: Final blocks whose votes a node keeps: a late vote contradicting them is still evidence.
final_memory_blocks = 1024
#: Votes by keys outside the set known for their height, kept until the node learns a change
#: of the set (``Tally.recount``); more are dropped (they come again from a peer).
votes_aside_max = 10_000


@dataclass(frozen=True, slots=True)
class Vote:
    """A validator's signature on a block header's hash."""

    height: int
    block_hash: str
    key: str  #: the validator's public key (hex)
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {"height": self.height, "hash": self.block_hash, "key": self.key,
                "sig": self.signature.hex()}

    @classmethod
    def from_json(cls, data: Any) -> Vote:
        """Strict: raises ValueError for anything but a well-formed vote."""
        if not isinstance(data, dict) or set(data) != {"height", "hash", "key", "sig"}:
            raise ValueError("a vote is {height, hash, key, sig}")
        height, block_hash, key, sig = data["height"], data["hash"], data["key"], data["sig"]
        if type(height) is not int or height < 1:
            raise ValueError("height: a positive integer")
        for name, value, size in (("hash", block_hash, 64), ("key", key, 64), ("sig", sig, 128)):
            if not isinstance(value, str) or len(value) != size:
                raise ValueError(f"{name}: {size} hex digits")
            bytes.fromhex(value)
        return cls(height, block_hash, key, bytes.fromhex(sig))


@dataclass(frozen=True, slots=True)
class Equivocation:
    """Evidence that a validator signed two different headers at one height."""

    height: int
    key: str
    first: tuple[str, bytes]  #: (block hash, signature) seen first
    second: tuple[str, bytes]

    def to_json(self) -> dict[str, Any]:
        return {"height": self.height, "key": self.key,
                "signatures": [{"hash": h, "sig": s.hex()} for h, s in (self.first, self.second)]}


class StateDiverged(Exception):
    """More than 2/3 of the validators certified a header this node did not compute."""

    def __init__(self, height: int, own_hash: str, certified_hash: str,
                 signers: list[str]) -> None:
        self.report = {"height": height, "own_hash": own_hash,
                       "certified_hash": certified_hash, "signers": sorted(signers)}
        super().__init__(
            f"state diverged at height {height}: this node computed block {own_hash}, "
            f"{len(signers)} validators certified {certified_hash}; the node stops (a bug "
            "or tampering: compare this node's database with a peer's, `lien verify`)")


@dataclass
class Tally:
    """Who signed which hash, for the heights above the final one."""

    #: the set in force at each height (the node's own: it adds each change it executes)
    validators: ValidatorSchedule
    #: height -> validator key -> (hash, signature): the first vote of each validator
    _ballots: dict[int, dict[str, tuple[str, bytes]]] = field(default_factory=dict)
    #: votes by keys outside the set known for their height (``recount``)
    _aside: list[Vote] = field(default_factory=list)

    def add(self, vote: Vote) -> Equivocation | None:
        """Count ``vote`` if it is a valid signature of a validator of the set in force at its
        height; returns the evidence when it contradicts that validator's earlier vote at the
        same height."""
        if vote.key not in self.validators.at(vote.height).keys:
            if len(self._aside) < votes_aside_max:
                self._aside.append(vote)  # maybe of a set this node has not executed yet
            return None
        if not verify(bytes.fromhex(vote.key), BLOCK_DOMAIN, bytes.fromhex(vote.block_hash),
                      vote.signature):
            return None
        ballot = self._ballots.setdefault(vote.height, {})
        earlier = ballot.get(vote.key)
        if earlier is None:
            ballot[vote.key] = (vote.block_hash, vote.signature)
            return None
        if earlier[0] == vote.block_hash:
            return None
        return Equivocation(vote.height, vote.key, earlier, (vote.block_hash, vote.signature))

    def ballot(self, height: int) -> dict[str, tuple[str, bytes]]:
        """Validator key -> (hash, signature) counted at ``height`` (a copy)."""
        return dict(self._ballots.get(height, {}))

    def vote_of(self, height: int, key: str) -> tuple[str, bytes] | None:
        """The (hash, signature) counted for validator ``key`` at ``height``."""
        return self._ballots.get(height, {}).get(key)

    def signatures(self, height: int, block_hash: str) -> dict[str, bytes]:
        return {key: sig for key, (h, sig) in self._ballots.get(height, {}).items()
                if h == block_hash}

    def certified_other(self, height: int, own_hash: str) -> tuple[str, list[str]] | None:
        """A hash other than ``own_hash`` that more than 2/3 of the validators signed at
        ``height``, with its signers."""
        by_hash: dict[str, list[str]] = {}
        for key, (h, _) in self._ballots.get(height, {}).items():
            if h != own_hash:
                by_hash.setdefault(h, []).append(key)
        quorum = self.validators.at(height).quorum
        for h, keys in by_hash.items():
            if len(keys) >= quorum:
                return h, keys
        return None

    def recount(self) -> list[Equivocation]:
        """Count again the votes kept aside, once the schedule has a new change: those by keys
        of the set now known for their height count; the others stay aside. Returns the
        evidence found."""
        votes, self._aside = self._aside, []
        return [evidence for vote in votes if (evidence := self.add(vote)) is not None]

    def heights(self) -> list[int]:
        return sorted(self._ballots)

    def forget_through(self, height: int) -> None:
        for h in [h for h in self._ballots if h <= height]:
            del self._ballots[h]
        self._aside = [vote for vote in self._aside if vote.height > height]
