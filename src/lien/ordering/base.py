"""The ordering interface, and the deterministic block cutter that every backend shares.

An ordering backend is an append-only log of entries, each a transaction or a *tick* (a time
marker), with positions and times assigned by the log. It is the only thing that joins a
node's admission (which appends) to its block loop (which reads): the block loop executes
what the log says, its own entries and other writers' alike. Blocks are cut from the log's
content only — never from a node's clock or timing — so every node reading the same log
builds the same blocks:

* a block closes at the first tick after at least one transaction, or when it holds
  ``block_transactions_max`` transactions, or — without transactions — at a tick whose time
  has reached the first due time of a standing order (a time the state gives, the same on
  every node that executed the same blocks);
* its time is the closing entry's time, never less than the previous block's.

Backends: ``EmbeddedLog`` (the node's own database; one process) and ``JetStreamLog`` (a
replicated NATS JetStream stream shared by the nodes of a federation, ``jetstream``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..ledger import limits


@dataclass(frozen=True, slots=True)
class LogEntry:
    position: int
    time_ms: int
    tx: bytes | None  #: the encoded transaction; None for a tick
    #: returned by ``append`` only: the log already held this id (a retry, or another writer's
    #: copy) at ``position``, whose bytes may differ from the ones appended
    duplicate: bool = False


class LogReset(Exception):
    """The log is not the one this node consumed (a federation's stream recreated, or lost
    its tail): positions read from it are not trusted; the node halts, keeping its blocks."""


class LogUnavailable(Exception):
    """The log could not be reached within its wait (a federation's stream without a leader):
    what was appended may or may not be in it; appending the same ids again is safe."""


class OrderingLog(Protocol):
    """What the node needs from an ordering backend."""

    def append(self, txs: Sequence[bytes], time_ms: int, tick: bool,
               ids: Sequence[str] | None = None) -> list[LogEntry]:
        """Append transactions (and a closing tick); returns their entries, in the order
        given. When it returns, the log holds them durably: this is what ``accepted`` means.
        ``ids``: the transactions' ids (a shared log deduplicates by them). Raises
        ``lien.store.StoreFull`` when the disk is full: then nothing was appended; and
        ``LogUnavailable`` when the log cannot be reached."""
        ...

    def read(self, after: int, limit: int) -> list[LogEntry]:
        """At most ``limit`` entries after position ``after``, in order."""
        ...

    def wait(self, after: int, timeout_s: float) -> bool:
        """Block until the log holds an entry after ``after`` (True) or ``timeout_s`` passed
        (False): the subscription the block loop sleeps on, woken by appends."""
        ...

    def wake(self) -> None:
        """Wake the waiters once (the node has other work: validators' signatures)."""
        ...

    def close(self) -> None:
        """Wake every waiter for good (the node is stopping)."""
        ...


@dataclass(frozen=True, slots=True)
class CutBlock:
    entries: list[LogEntry]  #: the transaction entries of the block
    time_ms: int
    last_position: int  #: position of the entry that closed the block


def cut_blocks(
    entries: Sequence[LogEntry],
    previous_time_ms: int,
    block_transactions_max: int = limits.block_transactions_max,
    due_ms: int | None = None,
    blocks_max: int | None = None,
) -> tuple[list[CutBlock], list[LogEntry]]:
    """Cut the closed blocks out of ``entries``; return them and the entries still open.

    ``due_ms``: when the state has a standing order due then, a tick at or after it closes a
    block even without transactions (the block runs the orders). Since that time depends on
    the state each block leaves, a caller passing it cuts one block at a time
    (``blocks_max=1``), executes it, and cuts again from the entries left."""
    blocks: list[CutBlock] = []
    open_txs: list[LogEntry] = []
    for i, entry in enumerate(entries):
        if entry.tx is not None:
            open_txs.append(entry)
            closes = len(open_txs) >= block_transactions_max
        else:
            closes = bool(open_txs) or (
                due_ms is not None and max(previous_time_ms, entry.time_ms) >= due_ms)
        if closes:
            time_ms = max(previous_time_ms, entry.time_ms)
            blocks.append(CutBlock(open_txs, time_ms, entry.position))
            previous_time_ms = time_ms
            open_txs = []
            if blocks_max is not None and len(blocks) >= blocks_max:
                return blocks, list(entries[i + 1 :])
    return blocks, open_txs
