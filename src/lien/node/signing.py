"""A validator's signing record: the last height it signed, kept outside the database.

A validator must never sign two different blocks for one height — that is what lets anyone
trust a certificate. The database cannot be the only witness: a lost or truncated SQLite WAL,
or a backup restored without it, silently takes the last blocks away, and a node that believed
it would then sign new, different blocks at heights it had already signed (earlier receipts
would contradict the chain). So, as CometBFT's validator state file does, the node writes the
height and hash it is about to sign to this small file, fsynced (file and directory) *before*
the signature leaves the node, and refuses to start on a database that is behind it.

One process at a time signs with a record: the node holds an exclusive lock on the record's
directory (``hold``) while it runs. Two ``lien serve`` on one node directory would each sign
their own block at the next height — a second block for a height, and a record that one of
the two databases contradicts; the second is refused instead. The kernel drops the lock when
the process ends, however it ends (``kill -9`` included): nothing is left to remove.

File (JSON, ``DIR/signing.json``)::

    {"chain_id": "...", "height": 123, "hash": "<hex block hash>"}
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..store import raising_store_full


class SigningRefused(Exception):
    """Signing this would sign a second block at a height already signed, or the record and
    the database disagree: the node must not sign (nor start)."""


@dataclass(frozen=True, slots=True)
class Signed:
    height: int
    hash: str


class SigningRecord:
    """The last (height, hash) this validator signed on ``chain_id``, durable in ``path``."""

    def __init__(self, path: Path, chain_id: str) -> None:
        self.path = path
        self.chain_id = chain_id
        #: False when the file does not exist: a new node's (nothing signed yet), or a lost one
        self.found = self.path.exists()
        self.last = self._load()
        self._held: int | None = None  #: the locked directory's descriptor, while held

    def hold(self) -> None:
        """Take the record's directory for this process alone (until ``release``, or the
        process ends); ``SigningRefused`` when another process holds it."""
        if self._held is not None:
            return
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            fcntl.flock(directory, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(directory)
            raise SigningRefused(
                f"another process signs with this validator: a `lien serve` already runs on "
                f"{self.path.parent}; stop it first (one process per node directory)") from None
        self._held = directory

    def release(self) -> None:
        if self._held is not None:
            os.close(self._held)
            self._held = None

    def _load(self) -> Signed:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return Signed(0, "")
        except (OSError, ValueError) as exc:
            raise SigningRefused(f"{self.path} is unreadable ({exc}): restore it, or see "
                                 "docs/operations.md") from None
        if (not isinstance(data, dict) or data.get("chain_id") != self.chain_id
                or type(data.get("height")) is not int or not isinstance(data.get("hash"), str)):
            raise SigningRefused(f"{self.path} is not this chain's signing record")
        return Signed(data["height"], data["hash"])

    def check_database(self, height: int, block_hash: str) -> None:
        """Refuse a database whose last block is behind (or other than) what was signed.

        One block behind is the ordinary crash: the record is written before the signature,
        the block's commit comes after. The node then rebuilds that block from its durable log
        and ``advance`` lets it sign only the very same hash again."""
        if not self.found and height > 0:
            raise SigningRefused(
                f"{self.path} is missing, but the database holds {height} blocks: if the record "
                "was lost, blocks may have been lost with it (this validator could then sign a "
                "height twice). Restore the record and the database from one backup; or, if "
                "this node never had a record (made before lien kept one) or you are sure the "
                f"database is complete, run `lien verify --dir {self.path.parent} "
                "--rebuild-signing-record` (docs/operations.md)")
        if height < self.last.height - 1:
            raise SigningRefused(
                f"the database ends at block {height}, but this validator signed up to block "
                f"{self.last.height}: blocks were lost (a WAL file deleted, or a backup restored "
                "without it). Restore a complete backup (docs/operations.md); the node will not "
                "sign those heights again")
        if height == self.last.height and height > 0 and block_hash != self.last.hash:
            raise SigningRefused(
                f"block {height} in the database is not the block this validator signed at "
                "that height: the database was altered or replaced; run `lien verify`")

    def rebuild(self, height: int, block_hash: str) -> None:
        """Write a missing record at the database's last block, on the operator's word that
        the database is complete (``lien verify --rebuild-signing-record``, after a verification
        from genesis). An existing record is never rewritten here."""
        if self.found:
            raise SigningRefused(f"{self.path} exists: nothing to rebuild")
        self._write(Signed(height, block_hash))
        self.last, self.found = Signed(height, block_hash), True

    def advance(self, height: int, block_hash: str) -> None:
        """Record (durably) that ``block_hash`` at ``height`` is about to be signed; refuses a
        height already signed for another block, or a height going backwards. Raises
        ``StoreFull`` when the disk is full: the record is then unchanged (the file is replaced
        only once complete), and the same height and hash may be recorded again later."""
        if height < self.last.height or (height == self.last.height
                                         and block_hash != self.last.hash):
            raise SigningRefused(f"refusing to sign block {height}: this validator already "
                                 f"signed block {self.last.height} ({self.last.hash[:16]}…)")
        with raising_store_full("the signing record"):
            self._write(Signed(height, block_hash))
        self.last, self.found = Signed(height, block_hash), True

    def _write(self, signed: Signed) -> None:
        record = {"chain_id": self.chain_id, "height": signed.height, "hash": signed.hash}
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
