"""The store interfaces, one per home of data (see ``schema`` and ``personal``):

* ``ChainStore`` — what every node holds: the chain, the state it leads to, the queries the API
  and the wallet make, and what ``verify`` and ``export`` read;
* ``LocalStore`` — this node's own: the embedded ordering log and the submissions it dropped;
* ``NodeStore`` — both over one database, plus ``commit_block``, the one write that spans them;
* ``PersonalStore`` — members as people (names, e-mails…), erasable per member.

``lien.store.Store`` implements ``NodeStore`` over SQLAlchemy Core for SQLite and PostgreSQL,
``lien.store.PersonalData`` implements ``PersonalStore``. The tests that run against both
databases (``tests/test_store_postgres.py``) say what a backend must guarantee — above all that
``commit_block`` is atomic: a block, its results, history entries, state changes, dropped ids
and consumed log entries are all written, or none. A write that fails for lack of space
(``commit_block``, ``log_append``) raises ``StoreFull`` (``full``) having written nothing, and
leaves the store usable: the same write succeeds once space is freed.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..chain import Header
from ..ledger import Account, ChainConfig, Currency, Membership, State, Tx
from ..ledger.state import Changes, Order, ValidatorChange

if TYPE_CHECKING:
    from .personal import Profile
    from .store import RawTx, StoredBlock, StoredTx


@dataclass(frozen=True, slots=True)
class BlockWrite:
    """Everything one executed block writes, in one database transaction."""

    header: Header
    signatures: dict[str, bytes]  #: the certificate: validator key (hex) -> signature
    txs: Sequence[Tx]  #: the transactions included, in order
    results: Sequence[bytes]  #: canonical JSON of each one's result (as hashed in tx_root)
    touched: Sequence[Sequence[str]]  #: the accounts whose history each one enters
    #: records changed (accounts, memberships, currencies, orders, the validator set)
    changes: Changes
    log_position: int  #: the last ordering-log entry the block consumed
    dropped: Sequence[tuple[str, str, str]] = ()  #: (id, reason, detail) refused at block time


class ChainStore(Protocol):
    """Chain data: read by the node, the API, ``verify`` and ``export``."""

    # -- the chain's configuration and the hot state --------------------------------------------
    def config(self) -> ChainConfig: ...
    def load_state(self) -> State: ...
    def overview(self) -> tuple[list[Currency], int]: ...

    # -- queries -------------------------------------------------------------------------------
    def last_block(self) -> StoredBlock | None: ...
    def block(self, height: int) -> StoredBlock | None: ...
    def blocks(self, after: int = 0, limit: int = 100) -> list[StoredBlock]: ...
    def block_txs(self, block: StoredBlock) -> list[StoredTx]: ...
    def transaction(self, tx_id: str) -> StoredTx | None: ...
    def executed_ids(self, ids: Sequence[str]) -> set[str]: ...
    def history(self, account: str, before: int | None = None,
                limit: int = 50) -> list[StoredTx]: ...
    def account_row(self, account_id: str) -> tuple[Account, list[Membership]] | None: ...
    def orders_of(self, account: str, limit: int = 200) -> list[Order]: ...
    def validator_changes(self) -> list[ValidatorChange]: ...

    # -- verification, the start-up check and export ----------------------------------------
    def iter_blocks(self, batch: int = 200, after: int = 0, through: int | None = None
                    ) -> Iterator[tuple[StoredBlock, list[RawTx]]]: ...
    def iter_postings(self, batch: int = 10_000) -> Generator[tuple[int, str]]: ...
    def first_unlinked_block(self) -> tuple[int, int | None] | None: ...
    def postings_of(self, accounts: Sequence[str], start: int) -> list[tuple[int, str]]: ...
    def stray_transactions(self, end: int, limit: int = 10) -> list[int]: ...
    def stored_state_lines(self) -> list[str]: ...
    def state_snapshot(self) -> tuple[StoredBlock | None, list[str]]: ...
    def balance_sums(self) -> dict[str, tuple[int, int]]: ...


class LocalStore(Protocol):
    """This node's own data: the embedded ordering log (entries: position, time_ms, encoded tx
    or None for a tick) and the submissions dropped at block time."""

    def log_append(self, entries: Sequence[tuple[int, int, bytes | None]]) -> None: ...
    def log_read(self, after: int, limit: int) -> list[tuple[int, int, bytes | None]]: ...
    def log_last_position(self) -> int: ...
    def dropped(self, tx_id: str) -> tuple[str, str] | None: ...


class NodeStore(ChainStore, LocalStore, Protocol):
    """Chain and node-local data in one database: what a running node is given."""

    def create(self, config: ChainConfig) -> None: ...
    def dispose(self) -> None: ...

    def claim(self) -> None:
        """Take the database for this node alone (``StoreError`` if another holds it)."""
        ...

    def release(self) -> None: ...

    def commit_block(self, block: BlockWrite) -> int:
        """One atomic database transaction: the block and its chain rows, and, node-local, the
        dropped ids and the deletion of the log entries up to ``block.log_position``; returns
        the seq of the block's first transaction."""
        ...

    def set_signatures(self, certificates: Sequence[tuple[int, str, dict[str, bytes]]]
                       ) -> None:
        """For each (height, block hash, signatures), in one database transaction: replace
        the stored validator signatures of block ``height`` (whose hash must be the one
        given: a certificate is never attached to another block) — the certificate gathered
        from the federation's validators once it holds more than 2/3 of them."""
        ...

    def size_bytes(self) -> int: ...
    def checkpoint(self) -> None: ...


class PersonalStore(Protocol):
    """Members as people, never on the chain; everything about one member can be erased."""

    def set_profile(self, profile: Profile) -> None: ...
    def profile(self, account: str) -> Profile | None: ...
    def erase_member(self, account: str) -> int: ...
