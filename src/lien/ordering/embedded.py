"""The embedded ordering backend: an append-only log in the node's own database."""

from __future__ import annotations

from collections.abc import Sequence

from ..store import LocalStore
from .base import LogEntry


class EmbeddedLog:
    """One writer (the node's loop) appends; positions are gap-free and start after the last
    entry the database holds or consumed."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.position = store.log_last_position()

    def append(self, txs: Sequence[bytes], time_ms: int, tick: bool) -> list[LogEntry]:
        entries = [LogEntry(self.position + 1 + i, time_ms, tx) for i, tx in enumerate(txs)]
        if tick:
            entries.append(LogEntry(self.position + 1 + len(txs), time_ms, None))
        if entries:
            self.store.log_append([(e.position, e.time_ms, e.tx) for e in entries])
            self.position = entries[-1].position
        return entries

    def read(self, after: int) -> list[LogEntry]:
        return [LogEntry(p, ms, tx) for p, ms, tx in self.store.log_read(after)]
