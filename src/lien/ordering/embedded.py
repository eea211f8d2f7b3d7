"""The embedded ordering backend: an append-only log in a database (the node's own by default).

Writers append under one lock, so positions are gap-free even with several writers in the
process (the node's admission, and a test's "other node"). Appended entries are also kept in
a bounded in-memory tail so that the block loop, which reads right behind the writers, gets
them without a database round trip; a reader further behind (a restart, a slow node) reads
the database. Either way it reads only what is durable: an entry enters the tail after its
database commit — and only then are positions taken, so an append the full disk refused
(``StoreFull``, from the store) leaves no gap.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from ..store import LocalStore
from .base import LogEntry

#: Entries kept in memory behind the writers (a reader further behind reads the database).
tail_entries_max = 20_000


class EmbeddedLog:
    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.position = store.log_last_position()
        self._tail: deque[LogEntry] = deque(maxlen=tail_entries_max)
        self._lock = threading.Lock()
        self._appended = threading.Condition(self._lock)
        self._closed = False
        self._woken = False

    def append(self, txs: Sequence[bytes], time_ms: int, tick: bool,
               ids: Sequence[str] | None = None) -> list[LogEntry]:
        with self._lock:
            start = self.position + 1
            entries = [LogEntry(start + i, time_ms, tx) for i, tx in enumerate(txs)]
            if tick:
                entries.append(LogEntry(start + len(txs), time_ms, None))
            if not entries:
                return entries
            self.store.log_append([(e.position, e.time_ms, e.tx) for e in entries])
            self.position = entries[-1].position
            self._tail.extend(entries)
            self._appended.notify_all()
        return entries

    def read(self, after: int, limit: int) -> list[LogEntry]:
        with self._lock:
            tail = self._tail
            if tail and tail[0].position <= after + 1:
                skip = after + 1 - tail[0].position
                return [tail[i] for i in range(skip, min(len(tail), skip + limit))]
            if after >= self.position:
                return []
        return [LogEntry(p, ms, tx) for p, ms, tx in self.store.log_read(after, limit)]

    def wait(self, after: int, timeout_s: float) -> bool:
        with self._appended:
            woke = self._appended.wait_for(
                lambda: self.position > after or self._closed or self._woken, timeout_s)
            self._woken = False
            return woke and not self._closed

    def wake(self) -> None:
        with self._appended:
            self._woken = True
            self._appended.notify_all()

    def close(self) -> None:
        with self._appended:
            self._closed = True
            self._appended.notify_all()
