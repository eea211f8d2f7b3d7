"""The embedded node: admits signed transactions, orders them in its log, cuts blocks,
executes them on the hot state, commits each block in one database transaction, signs it.

Threads: callers (the web API's event loop, the CLI, tests) call ``submit``; one node thread
owns the writer side — it drains a bounded queue in batches, appends to the log, cuts and
executes blocks and commits them. Signature verification runs before a transaction is queued,
in a pool (libsodium releases the GIL), never inside the executor.

A broken money invariant raises ``InvariantBroken`` in the node thread: the node stops (its
``failure`` is set, every waiter is told) rather than commit a wrong state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from ..chain import Header, ValidatorSet, header_for, leaf_hash, sign_header
from ..chain.receipt import build_receipt
from ..ledger import (
    BlockOutcome,
    Reason,
    State,
    Tx,
    TxError,
    apply_block,
    check_all_invariants,
    check_freshness,
    decode_tx,
    limits,
    signatures_valid,
)
from ..ledger.encoding import canonical_trusted
from ..ordering import EmbeddedLog, LogEntry, OrderingLog, cut_blocks
from ..store import NodeStore

log = logging.getLogger("lien.node")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Status:
    """Where a transaction stands: accepted → executed (with result) → final, or rejected."""

    id: str
    state: str  #: "accepted", "executed", "final", "rejected"
    result: dict[str, Any] | None = None
    height: int | None = None
    seq: int | None = None
    reason: str | None = None  #: for "rejected": the admission reason code
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "status": self.state}
        for name in ("result", "height", "seq", "reason"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.detail:
            data["detail"] = self.detail
        return data


Waiter = Callable[[Status], None]
Listener = Callable[[str, dict[str, Any]], None]


@dataclass
class NodeSettings:
    block_interval_ms: int = limits.block_interval_ms
    #: No block sooner than this after the previous one (0: group commit, blocks as fast as
    #: the disk allows). Larger values give fewer, bigger blocks at the cost of latency.
    block_gap_ms_min: int = 0
    block_transactions_max: int = limits.block_transactions_max
    queue_depth_max: int = 50_000
    verify_threads: int = 2


class NodeStopped(Exception):
    """The node is not running (stopped, or halted by a broken invariant)."""


class NodeBusy(Exception):
    """The node's queue is full: retry later (HTTP 503)."""


@dataclass
class _Pending:
    tx: Tx
    encoded: bytes
    waiters: list[Waiter] = field(default_factory=list)


class Node:
    def __init__(
        self,
        store: NodeStore,
        *,
        validator_key: nacl.signing.SigningKey | None = None,
        ordering: OrderingLog | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        settings: NodeSettings | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or NodeSettings()
        self.clock = clock
        self.validator_key = validator_key
        self.config = store.config()
        self.chain_id = self.config.chain_id
        self.validators = ValidatorSet(self.config.validators)
        self.ordering: OrderingLog = ordering or EmbeddedLog(store)
        self.state: State = store.load_state()
        check_all_invariants(self.state)
        last = store.last_block()
        self.last_hash = last.header.hash if last else self.config.genesis_root().hex()
        self.position = last.log_position if last else 0
        self._incoming: list[_Pending] = []  #: verified, waiting for the log (bounded)
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}  #: accepted or queued, not yet in a block
        self._open: list[LogEntry] = []  #: log entries not yet cut into a block
        self._entry_txs: dict[int, Tx] = {}  #: parsed transactions of the open entries
        self._last_cut_ms = 0
        self._listeners: list[Listener] = []
        self._verify_pool = ThreadPoolExecutor(self.settings.verify_threads, "lien-verify")
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._wake = threading.Event()
        self.failure: BaseException | None = None
        self._recover_log()

    # -- lifecycle -------------------------------------------------------------------------------
    def _recover_log(self) -> None:
        """Entries accepted before a crash and not yet in a block: they execute first."""
        for entry in self.ordering.read(self.position):
            if entry.tx is not None:
                tx = decode_tx(entry.tx)
                self._pending[tx.id] = _Pending(tx, entry.tx)
                self._entry_txs[entry.position] = tx
            self._open.append(entry)

    def start(self) -> None:
        self._running.set()
        self._thread = threading.Thread(target=self._run, name="lien-node", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running.clear()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._verify_pool.shutdown()

    @property
    def running(self) -> bool:
        return self._running.is_set() and self.failure is None

    # -- admission -------------------------------------------------------------------------------
    def verify_many(self, txs: Sequence[Tx]) -> list[bool]:
        """Verify signatures in the pool (parallel on several cores)."""
        chunk = max(1, len(txs) // (self.settings.verify_threads * 4) or 1)
        parts = [txs[i : i + chunk] for i in range(0, len(txs), chunk)]
        results = self._verify_pool.map(lambda part: [signatures_valid(t) for t in part], parts)
        return [ok for part in results for ok in part]

    def enqueue(self, tx: Tx, waiter: Waiter | None = None) -> Status:
        """Queue a transaction whose signatures were verified. Idempotent by id."""
        return self.enqueue_many([tx], waiter)[0]

    def enqueue_many(self, txs: Sequence[Tx], waiter: Waiter | None = None) -> list[Status]:
        """Queue verified transactions (one lock round for the lot). Idempotent by id: a known
        id is not queued again; its waiter hears the first outcome."""
        if not self.running:
            raise NodeStopped(str(self.failure) if self.failure else "node is not running")
        statuses: list[Status] = []
        known: list[str] = []
        with self._lock:
            if len(self._incoming) + len(txs) > self.settings.queue_depth_max:
                raise NodeBusy(f"more than {self.settings.queue_depth_max} transactions wait")
            for tx in txs:
                pending = self._pending.get(tx.id)
                if pending is None and tx.id not in self.state.seen:
                    pending = _Pending(tx, tx.encode())
                    self._incoming.append(pending)
                    self._pending[tx.id] = pending
                if pending is None:
                    known.append(tx.id)
                    continue
                if waiter is not None:
                    pending.waiters.append(waiter)
                statuses.append(Status(tx.id, "accepted"))
            self._wake.set()
        for tx_id in known:  # executed already: answer with the first outcome
            status = self.status(tx_id) or Status(tx_id, "accepted")
            if waiter is not None:
                waiter(status)
            statuses.append(status)
        if known:
            order = {tx.id: i for i, tx in enumerate(txs)}
            statuses.sort(key=lambda st: order[st.id])
        return statuses

    def submit(self, tx: Tx, waiter: Waiter | None = None, now_ms: int | None = None) -> Status:
        """Admit one transaction: freshness and signatures, then the queue. The one admission
        path of the node (the web API's too).

        Idempotent by id: a known id is never queued again, and a retry that no longer passes a
        check (expired since, signatures replaced) is answered with the id's first outcome.
        ``waiter``, when given, is called once with the terminal status (at once if there is
        one already). Raises TxError when the transaction is refused and its id is unknown."""
        try:
            check_freshness(tx, self.chain_id, self.clock() if now_ms is None else now_ms)
            if not signatures_valid(tx):
                raise TxError(Reason.BAD_SIGNATURE, "a signature does not verify")
        except TxError as error:
            return self.first_outcome(tx.id, error, waiter)
        return self.enqueue(tx, waiter)

    def first_outcome(self, tx_id: str, error: TxError, waiter: Waiter | None = None) -> Status:
        """The status of a known id whose latest copy failed a check; ``error`` if unknown."""
        with self._lock:
            pending = self._pending.get(tx_id)
            if pending is not None:
                if waiter is not None:
                    pending.waiters.append(waiter)
                return Status(tx_id, "accepted")
        known = self.status(tx_id)
        if known is None:
            raise error
        if waiter is not None:
            waiter(known)
        return known

    def run(self, txs: Sequence[Tx], timeout_s: float = 30.0) -> list[Status]:
        """Submit ``txs`` in order and wait until each is executed (or rejected)."""
        done = threading.Semaphore(0)
        statuses: dict[str, Status] = {}

        def waiter(status: Status) -> None:
            statuses[status.id] = status
            done.release()

        for tx in txs:
            self.submit(tx, waiter)
        deadline = time.monotonic() + timeout_s
        for _ in txs:
            if not done.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise TimeoutError("transactions not executed in time")
        return [statuses[tx.id] for tx in txs]

    # -- queries ---------------------------------------------------------------------------------
    def status(self, tx_id: str) -> Status | None:
        with self._lock:
            if tx_id in self._pending:
                return Status(tx_id, "accepted")
        stored = self.store.transaction(tx_id)
        if stored is not None:
            block = self.store.block(stored.height)
            final = block is not None and self.validators.is_final(
                block.header.hash, block.signatures
            )
            return Status(tx_id, "final" if final else "executed", stored.result,
                          stored.height, stored.seq)
        dropped = self.store.dropped(tx_id)
        if dropped is not None:
            return Status(tx_id, "rejected", reason=dropped[0], detail=dropped[1])
        return None

    def receipt(self, tx_id: str) -> dict[str, Any] | None:
        stored = self.store.transaction(tx_id)
        if stored is None:
            return None
        block = self.store.block(stored.height)
        assert block is not None
        txs = self.store.block_txs(block)
        leaves = [leaf_hash(s.tx.id, s.result) for s in txs]
        return build_receipt(
            stored.tx.to_json(), stored.result, stored.seq - block.first_seq, leaves,
            block.header, block.signatures, self.config.validators,
        )

    def add_listener(self, listener: Listener) -> None:
        """``listener(account, event)`` is called from the node thread after each commit."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    # -- the loop ----------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while self._running.is_set():
                self._wake.wait(self.settings.block_interval_ms / 1000)
                self._wake.clear()
                self._step()
            self._step()
        except BaseException as exc:  # a broken invariant or a database failure: halt loudly
            self.failure = exc
            log.critical("node halted: %s", exc, exc_info=True)
            self._running.clear()
            self._fail_waiters(exc)

    def _drain(self) -> list[_Pending]:
        limit = self.settings.block_transactions_max
        with self._lock:
            items, self._incoming = self._incoming[:limit], self._incoming[limit:]
        return items

    def _step(self) -> None:
        """One round: append what is queued to the log and cut it into blocks at once.

        Group commit: while one block commits, the next one gathers in the queue, so under load
        blocks grow and the fsyncs per transaction shrink; when idle, a transaction waits only
        for its own commit. ``block_interval_ms`` bounds how long the loop sleeps without work.
        """
        while True:
            items = self._drain()
            pending_txs = any(e.tx is not None for e in self._open)
            if not items and not pending_txs:
                return
            now = self.clock()
            cut = now - self._last_cut_ms >= self.settings.block_gap_ms_min
            entries = self.ordering.append([p.encoded for p in items], now, tick=cut)
            for entry, pending in zip(entries, items):
                self._entry_txs[entry.position] = pending.tx
            self._open.extend(entries)
            if cut:
                self._cut()
                self._last_cut_ms = now
            if len(items) < self.settings.block_transactions_max:
                return

    def _cut(self) -> None:
        blocks, self._open = cut_blocks(
            self._open, self.state.time_ms, self.settings.block_transactions_max
        )
        for block in blocks:
            self._commit([self._tx_of(e) for e in block.entries], block.time_ms,
                         block.last_position)

    def _tx_of(self, entry: LogEntry) -> Tx:
        tx = self._entry_txs.pop(entry.position, None)
        if tx is None:  # appended by another node (federation): parse what the log holds
            assert entry.tx is not None
            tx = decode_tx(entry.tx)
        return tx

    def _commit(self, txs: list[Tx], time_ms: int, position: int) -> None:
        outcome = apply_block(self.state, txs, time_ms)
        touched = outcome.touched
        encoded = [canonical_trusted(result) for result in outcome.results]
        header = header_for(self.chain_id, self.last_hash, outcome, encoded)
        signatures = {}
        if self.validator_key is not None:
            signatures[bytes(self.validator_key.verify_key).hex()] = sign_header(
                self.validator_key, header.hash
            )
        dropped = [(tx.id, e.reason.value, e.detail) for tx, e in outcome.dropped]
        first_seq = self.store.commit_block(
            header, signatures, outcome.txs, encoded, touched,
            self.state.take_changes(), position, dropped,
        )
        self.last_hash = header.hash
        self.position = position
        final = self.validators.is_final(header.hash, signatures)
        self._notify(outcome, header, first_seq, touched, final)

    def _notify(self, outcome: BlockOutcome, header: Header, first_seq: int,
                touched: list[list[str]], final: bool) -> None:
        state = "final" if final else "executed"
        done: list[tuple[_Pending, Status]] = []
        with self._lock:
            for i, (tx, result) in enumerate(zip(outcome.txs, outcome.results)):
                pending = self._pending.pop(tx.id, None)
                if pending is not None:
                    done.append((pending, Status(tx.id, state, result, header.height,
                                                 first_seq + i)))
            for tx, error in outcome.dropped:
                pending = self._pending.pop(tx.id, None)
                if pending is not None:
                    done.append((pending, Status(tx.id, "rejected", reason=error.reason.value,
                                                 detail=error.detail)))
        for pending, status in done:
            for waiter in pending.waiters:
                waiter(status)
        if self._listeners:
            for i, (tx, result) in enumerate(zip(outcome.txs, outcome.results)):
                event = {"id": tx.id, "type": tx.type, "result": result,
                         "height": header.height, "seq": first_seq + i, "status": state}
                for account in touched[i]:
                    for listener in list(self._listeners):
                        listener(account, event)

    def _fail_waiters(self, exc: BaseException) -> None:
        with self._lock:
            pendings = list(self._pending.values())
        for pending in pendings:
            for waiter in pending.waiters:
                waiter(Status(pending.tx.id, "accepted", detail=f"node halted: {exc}"))
