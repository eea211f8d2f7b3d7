"""The node: admission and the block loop, joined only by the ordering log.

    submit ─▶ freshness + signatures ─▶ queue ─▶ [admit loop] append to the log (durable)
                                                          │  "accepted"
    waiters / listeners ◀─ executed, final ◀─ [block loop] read the log ─▶ cut ─▶ execute
                                                          ─▶ commit (one DB transaction) ─▶ sign

* **Admission** (any thread: the web API's workers, the CLI, tests) checks a transaction —
  freshness against the clock, a signer allowed to submit it (``lien.ledger.signers``: a key
  of an account, and so on; against the state, so admission waits for it to be loaded), every
  signature — and queues it. The *admit loop* appends
  the queue to the ordering log in batches closed by a tick (group commit: one durable write
  for many); only then is a transaction ``accepted``. Ticks come from the log too: the block
  loop cuts where the log says, never by its own clock.
* **The block loop** reads only from the log. It executes what it reads whoever wrote it:
  entries this node admitted were checked at admission; every other entry (another writer's,
  or one admitted before a restart) is parsed and its signatures verified again, and refused
  with its reason if they fail. It commits each block in one database transaction, signs the
  header, and *pushes* ``executed``/``final`` to the waiters and events to the listeners
  (nothing polls). After each commit it replaces ``summary``, the immutable read model other
  threads use instead of the hot state.

A broken money invariant raises ``InvariantBroken`` in the block loop: the node stops (its
``failure`` is set, every waiter is told) rather than commit a wrong state.

A full disk does not stop it (``StoreFull``, ``lien.store.full``): nothing of a failed write
is kept, so the node is *disk full* until a write succeeds again, and resumes by itself.
Meanwhile new submissions are refused (``DiskFull``, HTTP 503 ``disk_full``); a batch the log
could not take is ``refused`` and forgotten (its ids are in no log: a retry is safe); the
admit loop retries the log with a bare tick, the block loop the very block it executed (same
header, same signature, never the next block), both with a growing delay. Queries keep
working from the store.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import nacl.signing

from ..chain import Header, ValidatorSchedule, header_for, sign_header
from ..ledger import (
    BlockOutcome,
    Currency,
    Reason,
    State,
    Tx,
    TxError,
    apply_block,
    check_all_invariants,
    canonical,
    check_freshness,
    decode_tx,
    limits,
    parse_json,
    signatures_valid,
)
from ..ledger.crypto import public_key_hex, sha256_hex
from ..ledger.signers import Signer, check_signer, signer_of
from ..ledger.transactions import signature_refusal
from ..ordering import (CutBlock, EmbeddedLog, LogEntry, LogReset, LogUnavailable, OrderingLog,
                        cut_blocks)
from ..store import BlockWrite, NodeStore, StoreFull
from .finality import (Equivocation, StateDiverged, Tally, Vote, final_memory_blocks,
                       heights_ahead_max)
from .receipts import receipt_of
from .signing import SigningRecord

log = logging.getLogger("lien.node")
T = TypeVar("T")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Status:
    """Where a transaction stands: accepted → executed (with result) → final, or rejected; or
    refused (the node could not write it to its log: it is forgotten, a retry is safe)."""

    id: str
    state: str  #: "accepted", "executed", "final", "rejected", "refused"
    result: dict[str, Any] | None = None
    height: int | None = None
    seq: int | None = None
    #: for "rejected": the admission reason code; for "refused": why (``disk_full``)
    reason: str | None = None
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


@dataclass(frozen=True, slots=True)
class TxEvent:
    """What an account's event stream carries for one executed transaction: built once by
    the node (live events) or from a stored row (replayed backlog), serialised by the web."""

    id: str
    type: str
    result: dict[str, Any]
    height: int
    seq: int
    status: str  #: "executed" or "final"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "result": self.result,
                "height": self.height, "seq": self.seq, "status": self.status}


@dataclass(frozen=True, slots=True)
class CurrencySummary:
    code: str
    policy: dict[str, Any]  #: a copy: the node's own is never handed out
    issued_minor: int
    reconverted_minor: int


@dataclass(frozen=True, slots=True)
class NodeSummary:
    """The read model of pages and queries: an immutable snapshot the node thread replaces
    after every commit, so other threads never read the hot state while it changes."""

    chain_id: str
    height: int
    time_ms: int
    last_hash: str
    final_height: int  #: blocks up to here are final (a certificate of > 2/3 validators)
    accounts: int
    currencies: tuple[CurrencySummary, ...]  #: sorted by code
    #: False while the node loads its state after a start: queries are served from the store
    #: and submissions are accepted into the log; blocks execute once it is loaded
    ready: bool = True
    #: when the first active standing order is due (None: none), for the admit loop's ticks
    next_order_due_ms: int | None = None
    #: transactions executed on the chain so far (the seq the next one gets)
    transactions: int = 0


def _currencies(currencies: Iterable[Currency]) -> tuple[CurrencySummary, ...]:
    return tuple(
        CurrencySummary(c.code, dict(c.policy), c.issued_minor, c.reconverted_minor)
        for c in sorted(currencies, key=lambda c: c.code)
    )


def summarise(state: State, last_hash: str, final_height: int, transactions: int
              ) -> NodeSummary:
    due = state.next_order_due()
    return NodeSummary(state.config.chain_id, state.height, state.time_ms, last_hash,
                       final_height, len(state.accounts), _currencies(state.currencies.values()),
                       next_order_due_ms=due[0] if due is not None else None,
                       transactions=transactions)


Waiter = Callable[[Status], None]
Listener = Callable[[str, TxEvent], None]
#: Where a validator's own votes go (a federation sends them to the other nodes).
VoteSink = Callable[[Vote], None]
#: Called by admission with the signer of each transaction that passed every check and is new to
#: the node, just before they are queued (the API's rate limits); raising refuses them all, and
#: nothing is queued.
Gate = Callable[[Sequence[Signer]], None]


@dataclass
class NodeSettings:
    block_interval_ms: int = limits.block_interval_ms
    #: No block sooner than this after the previous one (0: group commit, blocks as fast as
    #: the disk allows). Larger values give fewer, bigger blocks at the cost of latency.
    block_gap_ms_min: int = 0
    block_transactions_max: int = limits.block_transactions_max
    queue_depth_max: int = 50_000
    verify_threads: int = 2
    #: Entries the block loop reads from the log at once.
    read_entries_max: int = 2 * limits.block_transactions_max
    #: While the disk is full, a failed write is tried again after a delay that doubles from
    #: ``disk_full_retry_ms_min`` up to this.
    disk_full_retry_ms_max: int = 500
    disk_full_retry_ms_min: int = 10
    #: Longest a submission waits for the state of a node that just started (admission checks
    #: signers against it) before it is refused as busy.
    load_wait_ms_max: int = 10_000
    #: Validators' votes received and not yet tallied (more are dropped: they come again).
    votes_queue_max: int = 100_000
    #: Executed transactions whose waiters wait for finality (beyond, the waiters of the
    #: oldest blocks are told ``executed`` only: they can ask the status later).
    awaiting_final_max: int = 200_000


class NodeStopped(Exception):
    """The node is not running (stopped, or halted by a broken invariant)."""


class NodeBusy(Exception):
    """The node cannot take a transaction now — its queue is full, its state is still loading
    after a start, or its log did not take it within the wait: retry later (HTTP 503)."""


class DiskFull(NodeBusy):
    """The node's disk is full: nothing is accepted until space is freed; the node resumes by
    itself (HTTP 503 ``disk_full``)."""


#: The stages of a transaction on this node, in order; "rejected" and "refused" end it too.
STAGES = ("queued", "accepted", "executed", "final")
TERMINAL = ("final", "rejected", "refused")
MIRROR_DETAIL = ("this node signs no block and follows no federation's log: it only answers "
                 "queries (submit to a validator's node, or give it [ordering] in node.toml)")
#: The reason of a "refused" status: the log could not take the transaction.
DISK_FULL = "disk_full"
#: What a submitter is told while the disk is full (the error itself goes to the node's log)
DISK_FULL_DETAIL = ("the node's disk is full: nothing was accepted; retry later (the node "
                    "resumes by itself once space is freed)")


@dataclass
class _Pending:
    """A transaction this node knows but has not executed yet: queued for the log, or in it."""

    tx: Tx
    encoded: bytes
    stage: str = "queued"
    waiters: list[Waiter] = field(default_factory=list)


class Node:
    """Admission and the block loop, joined only by the ordering log (see the module doc)."""

    def __init__(
        self,
        store: NodeStore,
        *,
        validator_key: nacl.signing.SigningKey | None = None,
        ordering: OrderingLog | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        settings: NodeSettings | None = None,
        signing_record: Path | None = None,
        load_in_background: bool = False,
        more_validator_keys: Sequence[nacl.signing.SigningKey] = (),
        mirror: bool = False,
    ) -> None:
        """``load_in_background``: load the hot state in the block loop once started, instead
        of here (``lien serve``: the API answers at once, whatever the state's size).
        ``more_validator_keys``: this validator's other keys (a key rotation: the new key,
        before a ``set_validators`` puts it in the set); each block is signed with those of
        its keys that are in the set in force at its height."""
        self.store = store
        self.settings = settings or NodeSettings()
        self.clock = clock
        self.validator_key = validator_key
        self.config = store.config()
        self.chain_id = self.config.chain_id
        #: a node that only answers queries: it admits nothing and cuts no block (a node that
        #: signs no block, made by ``lien join``, on its own embedded log: blocks of its own
        #: would fork the chain; it follows by ``lien catch-up`` or a federation's log)
        self.mirror = mirror
        self._validator_keys = (() if validator_key is None
                                else (validator_key, *more_validator_keys))
        #: the validator set of each height (``_follow_validators`` adds each change)
        self.validators = ValidatorSchedule(self.config.validators, store.validator_changes())
        self.ordering: OrderingLog = ordering or EmbeddedLog(store)
        #: the block loop's own (others read ``summary``); empty until loaded
        self.state = State(self.config)
        self._ready = threading.Event()
        last = store.last_block()
        self.last_hash = last.header.hash if last else self.config.genesis_root().hex()
        #: Finality is sequential: a certified block commits to every block before it. The
        #: highest certified block is found once here, then finality is pushed (``finality``).
        self._unfinal: dict[int, str] = {}  #: height -> hash of this node's non-final blocks
        #: height -> hash of the latest final blocks (``final_memory_blocks``): late votes
        #: are checked against them
        self._final_hashes: dict[int, str] = {}
        #: of those, the blocks final through a later block that lack their own certificate
        self._uncertified: set[int] = set()
        self.final_height = self._find_final_height(last.header.height if last else 0)
        self.tally = Tally(self.validators)
        self._votes_in: list[Vote] = []
        #: where this validator's votes go (``lien.federation`` sets it); None: nowhere
        self.vote_sink: VoteSink | None = None
        #: validators caught signing two headers at one height (kept, shown, never forgotten)
        self.evidence: list[Equivocation] = []
        self.on_evidence: Callable[[Equivocation], None] | None = None
        #: height -> what to push once that block is final: (waiters, final status) and events
        self._awaiting: dict[int, tuple[list[tuple[list[Waiter], Status]],
                                        list[tuple[frozenset[str], TxEvent]]]] = {}
        self._awaiting_count = 0
        self._log_down_since: float | None = None  #: the log has been unavailable since
        #: transactions executed on the chain (the next seq), for ``summary``
        self.transactions = last.first_seq + last.header.tx_count if last else 0
        #: where a validator records what it signs before it signs (see ``signing``); held
        #: by this node alone until ``stop``
        self.signing: SigningRecord | None = None
        if validator_key is not None and signing_record is not None:
            self.signing = SigningRecord(signing_record, self.chain_id)
        currencies, accounts = store.overview()
        self.summary = NodeSummary(
            self.chain_id, last.header.height if last else 0,
            last.header.time_ms if last else self.config.genesis_time_ms, self.last_hash,
            self.final_height, accounts, _currencies(currencies), ready=False,
            transactions=self.transactions)
        self._lock = threading.Lock()
        self._incoming: list[_Pending] = []  #: verified, waiting for the log (bounded)
        self._pending: dict[str, _Pending] = {}  #: queued or in the log, not yet executed
        #: transactions this node admitted (signatures checked), by log position
        self._admitted: dict[int, Tx] = {}
        self._read_position = last.log_position if last else 0  #: last entry read from the log
        self._open: list[LogEntry] = []  #: entries read but not yet cut into a block
        self._untick = False  #: the log holds transactions after its last tick
        self._last_tick_ms = 0
        self._tick_position = 0  #: the last tick this node appended
        #: the last log entry a committed block consumed
        self._consumed_position = self._read_position
        #: Ids executed before this process loaded its state are not in ``state.seen``: until
        #: the last of them has expired, admission and each block look them up in the store.
        self._lookup_until_ms = 2**62  # until the state is loaded: every id
        self._listeners: list[Listener] = []
        self._verify_pool = ThreadPoolExecutor(self.settings.verify_threads, "lien-verify")
        self._threads: list[threading.Thread] = []
        self._running = threading.Event()
        self._wake = threading.Event()
        self._stopping = threading.Event()  #: set by ``stop`` and ``_halt``: ends the retries
        self.failure: BaseException | None = None
        #: The loops whose last write failed for lack of space ("log", "block"): the node is
        #: disk full while one is here (see ``_out_of_space``); since when (monotonic).
        self._full: set[str] = set()
        self._full_since = 0.0
        self._log_retry_s = 0.0  #: the admit loop's next delay while the log is full
        try:
            if self.signing is not None:
                self.signing.hold()
                self.signing.check_database(last.header.height if last else 0, self.last_hash)
            store.claim()  # one node per database, too (two directories, one PostgreSQL)
            try:
                self._read_backlog()
            except LogReset as exc:
                # Not this log: the block loop halts on it, loudly, once the node runs (its
                # API answers queries meanwhile, from the blocks it keeps).
                log.critical("%s", exc)
            if not load_in_background:
                self._load_state()
        except BaseException:
            self._release()
            raise

    def _find_final_height(self, height: int) -> int:
        """The highest certified block (scanning back from ``height``); remembers the hashes
        of the blocks above it, which still wait for their certificate."""
        window = 256
        while height > 0:
            blocks = self.store.blocks(max(0, height - window), window)
            for block in reversed(blocks):
                if self.validators.at(block.header.height).is_final(block.header.hash,
                                                                     block.signatures):
                    self._remember_final(block.header.height)
                    return block.header.height
                self._unfinal[block.header.height] = block.header.hash
            height = max(0, height - window)
        return 0

    def _remember_final(self, final: int) -> None:
        """The hashes of the latest ``final_memory_blocks`` final blocks, and which of them
        still lack their own certificate (final through a later one): late votes complete
        them (``_late_certificates``)."""
        after = max(0, final - final_memory_blocks)
        while after < final:
            blocks = self.store.blocks(after, min(200, final - after))
            if not blocks:
                break
            for block in blocks:
                h = block.header.height
                self._final_hashes[h] = block.header.hash
                if not self.validators.at(h).is_final(block.header.hash, block.signatures):
                    self._uncertified.add(h)
            after = blocks[-1].header.height

    @property
    def oldest_waiting_height(self) -> int:
        """The oldest block still waiting for votes: the first not final, or an older one
        final through a later block and still without its own certificate."""
        return min({*self._uncertified, self.final_height + 1})

    def unfinal_votes(self) -> list[Vote]:
        """This validator's own votes on the blocks not final yet (from their stored
        signatures): a federation sends them again after a restart."""
        keys = [public_key_hex(k) for k in self._validator_keys]
        votes = []
        for height, block_hash in sorted(dict(self._unfinal).items()):  # a copy: the block
            # loop changes it meanwhile
            block = self.store.block(height)
            if block is not None:
                votes += [Vote(height, block_hash, key, block.signatures[key])
                          for key in keys if key in block.signatures]
        return votes

    def _release(self) -> None:
        """Give back the signing record and the database this node held (``stop``)."""
        self.store.release()
        if self.signing is not None:
            self.signing.release()

    def _load_state(self) -> None:
        """Load the hot state, check every invariant on it, and open for execution."""
        state = self.store.load_state()
        check_all_invariants(state)
        self.state = state
        self._lookup_until_ms = state.time_ms + limits.expiry_window_ms_max if state.height else 0
        self.summary = summarise(state, self.last_hash, self.final_height, self.transactions)
        self._ready.set()

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        """Block until the state is loaded (at once unless ``load_in_background``)."""
        return self._ready.wait(timeout_s)

    # -- lifecycle -------------------------------------------------------------------------------
    def _read_backlog(self) -> None:
        """Entries accepted before a restart and not yet in a block: known as ``accepted`` (so a
        retry is not appended again); the block loop executes them first, re-checking their
        signatures like any entry this process did not admit."""
        after = self._read_position
        while entries := self.ordering.read(after, self.settings.read_entries_max):
            for entry in entries:
                if entry.tx is None:
                    continue
                try:
                    tx = decode_tx(entry.tx)
                except TxError:
                    continue  # refused by the block loop, which records why
                self._pending.setdefault(tx.id, _Pending(tx, entry.tx, "accepted"))
            after = entries[-1].position
            self._untick = entries[-1].tx is not None

    def start(self) -> None:
        self._running.set()
        self._threads = [
            threading.Thread(target=self._guard(self._admit_loop), name="lien-admit",
                             daemon=True),
            threading.Thread(target=self._guard(self._block_loop), name="lien-node",
                             daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop admitting, let the block loop execute what the log holds, then stop it. A
        block the disk is too full to commit is not waited for: the node halts, and that
        block executes again from the log at the next start."""
        self._running.clear()
        self._stopping.set()
        self._wake.set()
        for thread in self._threads[:1]:  # the admit loop flushes the queue to the log first
            thread.join()
        self.ordering.close()  # then the block loop executes what the log holds, and ends
        for thread in self._threads[1:]:
            thread.join()
        self._verify_pool.shutdown()
        self._release()

    @property
    def running(self) -> bool:
        return self._running.is_set() and self.failure is None

    @property
    def queue_depth(self) -> int:
        """Transactions checked and waiting for the ordering log (at most
        ``settings.queue_depth_max``; for monitoring)."""
        return len(self._incoming)

    @property
    def pending(self) -> int:
        """Transactions this node admitted and has not executed yet: waiting for the log, or
        in it (for monitoring)."""
        return len(self._pending)

    @property
    def disk_full(self) -> bool:
        """A write failed for lack of space and has not succeeded since: submissions are
        refused (``DiskFull``) until it does."""
        return bool(self._full)

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                loop()
            except BaseException as exc:  # a broken invariant or a database failure
                self._halt(exc)

        return run

    def halt(self, reason: BaseException) -> None:
        """Halt from outside the node's threads, as a broken invariant does (a failed
        background verification: ``integrity.BackgroundVerification``)."""
        self._halt(reason)

    def _halt(self, exc: BaseException) -> None:
        """Stop loudly: nothing more is admitted or committed; every waiter is told."""
        if self.failure is None:
            self.failure = exc
            log.critical("node halted: %s", exc, exc_info=exc)
        self._running.clear()
        self._stopping.set()
        self._wake.set()
        self.ordering.close()
        with self._lock:
            pendings = list(self._pending.values())
        for pending in pendings:
            halted = Status(pending.tx.id, "accepted" if pending.stage == "accepted" else "queued",
                            detail=f"node halted: {exc}")
            for waiter in pending.waiters:
                waiter(halted)

    # -- admission -------------------------------------------------------------------------------
    def verify_many(self, txs: Sequence[Tx]) -> list[bool]:
        """Verify signatures in the pool (parallel on several cores)."""
        chunk = max(1, len(txs) // (self.settings.verify_threads * 4) or 1)
        parts = [txs[i : i + chunk] for i in range(0, len(txs), chunk)]
        results = self._verify_pool.map(lambda part: [signatures_valid(t) for t in part], parts)
        return [ok for part in results for ok in part]

    def submit(self, tx: Tx, waiter: Waiter | None = None, now_ms: int | None = None,
               gate: Gate | None = None) -> Status | None:
        """Admit one transaction: freshness, signer and signatures, then the queue to the log.

        Returns None when the transaction is queued: ``waiter`` hears ``accepted`` once the
        log holds it durably, then ``executed`` and ``final`` (or ``rejected``). A known id is
        never queued again: the current status is returned (and given to ``waiter``, which
        then hears the later stages). A retry that no longer passes a check (expired since,
        signatures replaced) is answered the same way. Raises TxError when the transaction
        is refused and its id unknown; NodeBusy when the queue is full."""
        outcome = self.submit_many([tx], waiter, now_ms, parallel=False, gate=gate)[0]
        if isinstance(outcome, TxError):
            raise outcome
        return outcome

    def submit_many(
        self, txs: Sequence[Tx], waiter: Waiter | None = None, now_ms: int | None = None,
        *, parallel: bool = True, signatures_checked: bool = False, gate: Gate | None = None,
    ) -> list[Status | TxError | None]:
        """``submit`` for many (one lock round, signatures verified in parallel): for each
        transaction, None (queued), its known status, or the TxError that refused it.

        The signer is checked before the signatures (the cheap check first: a flood from keys
        without an account costs no signature verification), against the state as executed
        so far. ``gate`` (the API's rate limits) sees who signed what passed, and may refuse
        it all by raising. ``signatures_checked``: the caller verified every signature itself
        (a benchmark building a history of transactions it has just signed); ``lien verify``
        still checks every one of them later. Never for transactions from outside."""
        if not self.running:
            raise NodeStopped(str(self.failure) if self.failure else "node is not running")
        if self.mirror:
            raise NodeStopped(MIRROR_DETAIL)
        self._refuse_if_disk_full()
        if not self._ready.wait(self.settings.load_wait_ms_max / 1000):
            raise NodeBusy("the node is still loading its state; retry")
        now_ms = self.clock() if now_ms is None else now_ms
        outcomes: list[Status | TxError | None] = [None] * len(txs)
        fresh: list[int] = []
        state = self.state
        for i, tx in enumerate(txs):
            try:
                check_freshness(tx, self.chain_id, now_ms)
                check_signer(state, tx)
                fresh.append(i)
            except TxError as error:
                outcomes[i] = error
        if signatures_checked:
            valid = [True] * len(fresh)
        elif parallel:
            valid = self.verify_many([txs[i] for i in fresh])
        else:
            valid = [signatures_valid(txs[i]) for i in fresh]
        admitted = []
        for i, ok in zip(fresh, valid, strict=True):
            if ok:
                admitted.append(i)
            else:
                outcomes[i] = signature_refusal()
        known = self._queue([txs[i] for i in admitted], waiter, gate)
        for i, status in zip(admitted, known, strict=True):
            outcomes[i] = status
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, TxError):
                outcomes[i] = self._known_or(txs[i].id, outcome, waiter)
            elif outcome is not None and waiter is not None:
                waiter(outcome)
        return outcomes

    def _queue(self, txs: Sequence[Tx], waiter: Waiter | None,
               gate: Gate | None = None) -> list[Status | None]:
        """Queue checked transactions for the log; the known ones get their status instead.
        ``gate`` sees the signers of the new ones only (and may refuse them all by raising):
        a known id costs its signer nothing, or anyone replaying a member's transactions —
        public on chain until they expire — could use up that member's rate limit."""
        statuses: list[Status | None] = []
        executed: list[int] = []
        # Ids executed before this process loaded its state are not in `seen`: ask the store.
        # (Only the block loop writes `seen`; membership tests are atomic, and an id stays
        # pending until its block is committed.)
        seen = self.state.seen
        stored = (self.store.executed_ids([tx.id for tx in txs if tx.id not in seen])
                  if self.state.time_ms < self._lookup_until_ms else set[str]())
        with self._lock:
            if len(self._incoming) + len(txs) > self.settings.queue_depth_max:
                raise NodeBusy(f"more than {self.settings.queue_depth_max} transactions wait")
            if gate is not None:
                new = {tx.id: tx for tx in txs
                       if tx.id not in self._pending and tx.id not in seen and tx.id not in stored}
                if new:
                    gate([signer_of(self.state, tx) for tx in new.values()])
            for tx in txs:
                pending = self._pending.get(tx.id)
                if pending is None and (tx.id in seen or tx.id in stored):
                    # Executed: its outcome is in the store.
                    executed.append(len(statuses))
                    statuses.append(None)
                    continue
                if pending is None:
                    pending = _Pending(tx, tx.encode())
                    self._incoming.append(pending)
                    self._pending[tx.id] = pending
                if waiter is not None:
                    pending.waiters.append(waiter)
                statuses.append(Status(tx.id, "accepted") if pending.stage == "accepted" else None)
            self._wake.set()
        for i in executed:
            statuses[i] = self.status(txs[i].id)
        return statuses

    def _known_or(self, tx_id: str, error: TxError, waiter: Waiter | None) -> Status | TxError:
        """The status of a known id whose latest copy failed a check; ``error`` if unknown."""
        with self._lock:
            pending = self._pending.get(tx_id)
            if pending is not None and waiter is not None:
                pending.waiters.append(waiter)
        if pending is not None:
            return Status(tx_id, "accepted") if pending.stage == "accepted" else error
        known = self.status(tx_id)
        if known is None:
            return error
        if waiter is not None:
            waiter(known)
        return known

    def run(self, txs: Sequence[Tx], timeout_s: float = 30.0) -> list[Status]:
        """Submit ``txs`` in order and wait until each is executed (or rejected)."""
        done = threading.Semaphore(0)
        statuses: dict[str, Status] = {}

        def waiter(status: Status) -> None:
            if status.state in ("executed", *TERMINAL) and status.id not in statuses:
                statuses[status.id] = status
                done.release()

        for tx in txs:
            self.submit(tx, waiter)
        deadline = time.monotonic() + timeout_s
        for _ in txs:
            if not done.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise TimeoutError("transactions not executed in time")
        return [statuses[tx.id] for tx in txs]

    # -- the admission loop: queue -> log --------------------------------------------------------
    def _admit_loop(self) -> None:
        """Drain the queue into the log in batches (while one append is made durable, the next
        batch gathers), and close blocks with ticks; flush the queue before stopping."""
        while True:
            running = self._running.is_set()
            self._wake.wait(self._admit_wait_s() if running else 0)
            self._wake.clear()
            while not self.mirror and self._append_batch(flushing=not running):
                pass
            if not running:
                return

    def _append_batch(self, flushing: bool = False) -> bool:
        """Append one batch (and the tick it calls for); True when more is queued.

        Group commit: a tick is appended only once the block loop has consumed the previous
        one, so while a block executes and commits, the transactions arriving meanwhile wait
        in the log (already ``accepted``) and the next tick closes them all into one block.
        Under load blocks grow and the cost of each commit is shared; when idle, a payment
        waits only for its own block. (``block_gap_ms_min`` can space ticks out further.)"""
        limit = self.settings.block_transactions_max
        with self._lock:
            items, self._incoming = self._incoming[:limit], self._incoming[limit:]
            more = bool(self._incoming)
        now = self.clock()
        block_loop_idle = self._consumed_position >= self._tick_position
        tick = (bool(items) or self._untick or self._order_due(now)) and (flushing or (
            block_loop_idle and now - self._last_tick_ms >= self.settings.block_gap_ms_min))
        # While the log is full and nothing else is to be written, a bare tick tries it again
        # (it closes no block: no transaction follows the last tick).
        probe = not items and not tick and not self._untick and "log" in self._full
        if not items and not tick and not probe:
            return False
        try:
            entries = self.ordering.append([p.encoded for p in items], now, tick or probe,
                                           ids=[p.tx.id for p in items])
        except StoreFull as exc:
            self._refuse_unwritten(items, exc)
            return False
        except LogUnavailable as exc:
            self._log_unavailable(items, exc)
            return False
        if self._log_down_since is not None:
            log.warning("the log is back after %.1f s",
                        time.monotonic() - self._log_down_since)
            self._log_down_since = None
        self._log_retry_s = 0.0
        self._space_back("log")
        if probe:
            return False
        self._untick = not tick
        if tick:
            self._last_tick_ms = now
            self._tick_position = entries[-1].position
        accepted: list[_Pending] = []
        settled: list[_Pending] = []
        with self._lock:
            for entry, pending in zip(entries[: len(items)], items, strict=True):  # then a tick
                if not entry.duplicate:
                    self._admitted[entry.position] = pending.tx
                if self._pending.get(pending.tx.id) is not pending:
                    continue
                if entry.duplicate and entry.position <= self._read_position:
                    # The log held this id already, and the block loop has read past it:
                    # that copy's outcome is this transaction's.
                    del self._pending[pending.tx.id]
                    settled.append(pending)
                else:
                    pending.stage = "accepted"
                    accepted.append(pending)
        for pending in accepted:
            status = Status(pending.tx.id, "accepted")
            for waiter in list(pending.waiters):
                waiter(status)
        for pending in settled:
            known = self.status(pending.tx.id) or Status(pending.tx.id, "accepted")
            for waiter in list(pending.waiters):
                waiter(known)
        return more

    def _log_unavailable(self, items: list[_Pending], exc: LogUnavailable) -> None:
        """The log could not be reached (a federation's stream electing a leader): the batch
        goes back to the head of the queue and is appended again later — with the same ids,
        which the log deduplicates if a part of it was written."""
        with self._lock:
            self._incoming = items + self._incoming
        if self._log_down_since is None:
            self._log_down_since = time.monotonic()
            log.warning("%s; the queue waits and is appended again", exc)
        self._log_retry_s = self._retry_delay_s(self._log_retry_s)

    def _admit_wait_s(self) -> float:
        """How long the admit loop sleeps unless woken: the block interval, or while the log
        is full the delay before it tries again."""
        if "log" in self._full or self._log_down_since is not None:
            return self._log_retry_s
        return self.settings.block_interval_ms / 1000

    def _refuse_unwritten(self, items: list[_Pending], exc: StoreFull) -> None:
        """The log could not take ``items`` for lack of space, nor would it take what is queued
        behind them: their submitters hear ``refused`` (``disk_full``) now, and the node forgets
        them — their ids are in no log, so a retry later is safe."""
        self._out_of_space("log", exc)
        self._log_retry_s = self._retry_delay_s(self._log_retry_s)
        refusals: list[tuple[list[Waiter], Status]] = []
        with self._lock:
            items, self._incoming = items + self._incoming, []
            for pending in items:
                if self._pending.get(pending.tx.id) is pending:
                    del self._pending[pending.tx.id]
                refusals.append((list(pending.waiters), Status(
                    pending.tx.id, "refused", reason=DISK_FULL, detail=DISK_FULL_DETAIL)))
        for waiters, status in refusals:
            for waiter in waiters:
                waiter(status)

    # -- a full disk -----------------------------------------------------------------------------
    def _refuse_if_disk_full(self) -> None:
        if self._full:
            raise DiskFull(DISK_FULL_DETAIL)

    def _out_of_space(self, loop: str, exc: StoreFull) -> None:
        """``loop``'s write failed for lack of space: the node is disk full (logged once)."""
        with self._lock:
            starts = not self._full
            self._full.add(loop)
            if starts:
                self._full_since = time.monotonic()
        if starts:
            log.warning("%s; payments are refused (disk_full) until space is freed, the node "
                        "retries by itself", exc)

    def _space_back(self, loop: str) -> None:
        """``loop``'s write succeeded: the node resumes once no loop is out of space."""
        if loop not in self._full:  # only this loop adds or removes its own name
            return
        with self._lock:
            self._full.discard(loop)
            ends = not self._full
        if ends:
            log.warning("disk space is back after %.2f s: payments are accepted again",
                        time.monotonic() - self._full_since)

    def _retry_delay_s(self, previous_s: float) -> float:
        """The delay before the next try of a write that failed for lack of space: doubling."""
        low, high = self.settings.disk_full_retry_ms_min, self.settings.disk_full_retry_ms_max
        return min(max(2 * previous_s, low / 1000), high / 1000)

    # -- the block loop: log -> blocks -----------------------------------------------------------
    def _block_loop(self) -> None:
        """Read the log (only the log), cut blocks, execute and commit them. Runs until the
        node stops and the log holds nothing more it can read."""
        if not self._ready.is_set():
            self._load_state()
        while True:
            if self._votes_in:
                self._tally_votes()
            entries = self.ordering.read(self._read_position, self.settings.read_entries_max)
            if entries:
                self._read_position = entries[-1].position
                self._open.extend(entries)
                unticked = (len(entries) < self.settings.read_entries_max
                            and entries[-1].tx is not None and not self._untick)
                if unticked:
                    # The log ends with transactions no tick closed yet, whoever wrote them
                    # (another node of a federation): this node ticks too.
                    self._untick = True
                blocks = self._cut_and_execute()
                if (blocks or unticked) and self._untick:
                    self._wake.set()  # caught up: the admit loop may close the next block
                continue
            if not self._running.is_set() and not self._admitting():
                return
            self.ordering.wait(self._read_position, self.settings.block_interval_ms / 1000)

    def _cut_and_execute(self) -> int:
        """Cut the open entries into blocks one at a time, executing each before cutting the
        next: whether a bare tick closes a block depends on the standing orders due, that is
        on the state the previous block left (``cut_blocks``). Returns how many."""
        count = 0
        while True:
            due = self.state.next_order_due()
            blocks, self._open = cut_blocks(
                self._open, self.state.time_ms, self.settings.block_transactions_max,
                due[0] if due is not None else None, blocks_max=1,
            )
            if not blocks:
                break
            self._execute(blocks[0])
            count += 1
        if not self._open:
            # Every entry read is consumed, ticks that closed no block included: the admit
            # loop may tick again (it waits for the block loop to consume its last tick).
            self._consumed_position = max(self._consumed_position, self._read_position)
        return count

    def _order_due(self, now_ms: int) -> bool:
        """A standing order is due by ``now_ms``: a tick then closes a block that runs it,
        even when no transaction waits."""
        due = self.summary.next_order_due_ms
        return due is not None and due <= now_ms

    def _admitting(self) -> bool:
        return any(t.is_alive() for t in self._threads[:1])

    def _execute(self, block: CutBlock) -> None:
        txs, refused = self._transactions_of(block.entries)
        before = (self.store.executed_ids([tx.id for tx in txs])
                  if block.time_ms < self._lookup_until_ms else frozenset[str]())
        outcome = apply_block(self.state, txs, block.time_ms, executed_before=before)
        header = header_for(self.chain_id, self.last_hash, outcome)
        self._refuse_diverged(header.height, header.hash)
        # The state has applied the block: from here on this block is written as it is,
        # however long the disk stays full (``_written``), and no later block executes.
        signatures = self._written(lambda: self._sign(header))
        refused += [(tx.id, e.reason.value, e.detail) for tx, e in outcome.dropped]
        write = BlockWrite(
            header, signatures, outcome.txs, [r.encoded for r in outcome.results],
            outcome.touched, self.state.take_changes(), block.last_position, refused,
        )
        first_seq = self._written(lambda: self.store.commit_block(write))
        self.transactions = first_seq + len(outcome.txs)
        self.last_hash = header.hash
        self._consumed_position = block.last_position
        self._follow_validators()
        if self.validators.at(header.height).is_final(header.hash, signatures):
            self.final_height = header.height
        else:
            self._unfinal[header.height] = header.hash
        self.summary = summarise(self.state, self.last_hash, self.final_height,
                                 self.transactions)
        self._notify(outcome, header, first_seq, refused)
        for key, signature in signatures.items():
            own = Vote(header.height, header.hash, key, signature)
            if header.height in self._unfinal:  # not final by its own signature alone
                self.tally.add(own)  # counted here, not only once echoed by the federation
            if self.vote_sink is not None:
                self.vote_sink(own)
        if self._unfinal:
            self._advance_finality()

    def _sign(self, header: Header) -> dict[str, bytes]:
        """This node's signature of ``header`` with each of its keys in the validator set of
        that height (none: not a validator there), recorded before it is made (``signing``)."""
        in_force = self.validators.at(header.height).keys
        keys = [k for k in self._validator_keys if public_key_hex(k) in in_force]
        if not keys:
            return {}
        if self.signing is not None:
            self.signing.advance(header.height, header.hash)
        return {public_key_hex(k): sign_header(k, header.hash) for k in keys}

    def _follow_validators(self) -> None:
        """After a block whose ``set_validators`` executed: its set certifies from the next
        height on (the tally reads the same schedule), and the votes kept aside are counted
        again."""
        change = self.state.validators
        if change.from_height > self.validators.latest_from:
            self.validators.add(change)
            for evidence in self.tally.recount():
                self._record_evidence(evidence)

    def _written(self, write: Callable[[], T]) -> T:
        """``write()``, tried again while it fails for lack of space: the same write of the same
        block (same header, same signature), so that the block loop never moves past a block it
        executed. Stopping meanwhile halts the node; that block executes again from the log at
        the next start — the same block, which the signing record lets it sign again."""
        delay_s = 0.0
        while True:
            try:
                result = write()
            except StoreFull as exc:
                self._out_of_space("block", exc)
                delay_s = self._retry_delay_s(delay_s)
                if self._stopping.wait(delay_s):
                    raise StoreFull(f"{exc}; the node stopped before it could be written, it "
                                    "executes again from the log at the next start") from exc
                continue
            self._space_back("block")
            return result

    def _transactions_of(
        self, entries: Sequence[LogEntry]
    ) -> tuple[list[Tx], list[tuple[str, str, str]]]:
        """The block's transactions, in log order. Entries this node admitted were checked at
        admission; every other entry (another writer's, or one admitted before a restart) is
        parsed and its signatures verified here, and refused with its reason if they fail —
        the same on every node, since no node admitted it."""
        with self._lock:
            mine = [self._admitted.pop(e.position, None) for e in entries]
        foreign: list[tuple[int, Tx]] = []
        refused: list[tuple[str, str, str]] = []
        for i, (entry, tx) in enumerate(zip(entries, mine, strict=True)):
            if tx is None:
                assert entry.tx is not None
                try:
                    foreign.append((i, decode_tx(entry.tx)))
                except TxError as error:
                    log.warning("log entry %d refused: %s", entry.position, error)
                    refused.append((entry_id(entry.tx), error.reason.value, error.detail))
        valid = self.verify_many([tx for _, tx in foreign]) if foreign else []
        for (i, tx), ok in zip(foreign, valid, strict=True):
            if ok:
                mine[i] = tx
            else:
                refusal = signature_refusal()
                log.warning("log entry %d: transaction %s refused: %s",
                            entries[i].position, tx.id, refusal)
                refused.append((tx.id, refusal.reason.value, refusal.detail))
        return [tx for tx in mine if tx is not None], refused

    def _notify(self, outcome: BlockOutcome, header: Header, first_seq: int,
                refused: list[tuple[str, str, str]]) -> None:
        """Push each transaction's new status to its waiters and its event to the listeners."""
        state = "final" if header.height <= self.final_height else "executed"
        done: list[tuple[list[Waiter], Status]] = []
        with self._lock:
            for i, (tx, result) in enumerate(zip(outcome.txs, outcome.results, strict=True)):
                pending = self._pending.pop(tx.id, None)
                if pending is not None:
                    done.append((pending.waiters, Status(tx.id, state, result.to_json(),
                                                         header.height, first_seq + i)))
            for tx_id, reason, detail in refused:
                pending = self._pending.pop(tx_id, None)
                if pending is not None:
                    done.append((pending.waiters,
                                 Status(tx_id, "rejected", reason=reason, detail=detail)))
        # A duplicate is a retry of an id executed earlier (before a restart, or appended by
        # another writer): its waiters hear that first outcome, as a retry always does.
        done = [(waiters, self._first_outcome(status)) for waiters, status in done]
        for waiters, status in done:
            for waiter in waiters:
                waiter(status)
        events = [(frozenset(outcome.touched[i]),
                   TxEvent(tx.id, tx.type, result.to_json(), header.height, first_seq + i, state))
                  for i, (tx, result) in enumerate(zip(outcome.txs, outcome.results,
                                                       strict=True))] if self._listeners else []
        self._publish_events(events)
        if state == "executed":
            self._await_final(header.height, done, events)

    def _publish_events(self, events: list[tuple[frozenset[str], TxEvent]]) -> None:
        for accounts, event in events:
            for account in accounts:
                for listener in list(self._listeners):
                    listener(account, event)

    def _await_final(self, height: int, done: list[tuple[list[Waiter], Status]],
                     events: list[tuple[frozenset[str], TxEvent]]) -> None:
        """Remember what to push once block ``height`` is final (bounded: past
        ``awaiting_final_max``, the oldest block's waiters are let go — they heard
        ``executed`` and can ask the status)."""
        waiting = [(waiters, replace(status, state="final")) for waiters, status in done
                   if waiters and status.state == "executed"]
        finals = [(accounts, replace(event, status="final")) for accounts, event in events]
        if not waiting and not finals:
            return
        self._awaiting[height] = (waiting, finals)
        self._awaiting_count += len(waiting) + len(finals)
        while self._awaiting_count > self.settings.awaiting_final_max and self._awaiting:
            oldest = min(self._awaiting)
            dropped = self._awaiting.pop(oldest)
            self._awaiting_count -= len(dropped[0]) + len(dropped[1])

    # -- finality: the validators' votes -------------------------------------------------------
    def receive_votes(self, votes: Sequence[Vote]) -> None:
        """Votes from the federation (any thread): tallied by the block loop, soon."""
        with self._lock:
            room = self.settings.votes_queue_max - len(self._votes_in)
            self._votes_in.extend(votes[:max(0, room)])
        if len(votes) > room:
            log.warning("%d votes dropped: the queue of votes is full", len(votes) - max(0, room))
        self.ordering.wake()

    def _tally_votes(self) -> None:
        with self._lock:
            votes, self._votes_in = self._votes_in, []
        ceiling = self.state.height + heights_ahead_max
        floor = self.final_height - final_memory_blocks
        for vote in votes:
            if not floor < vote.height <= ceiling:
                continue
            evidence = self.tally.add(vote) or self._against_certified(vote)
            if evidence is not None:
                self._record_evidence(evidence)
        self._advance_finality()

    def _against_certified(self, vote: Vote) -> Equivocation | None:
        """A validator's valid signature, at a final height, of a header other than the one
        certified there: a wrong state signed (the certified header is the first of the pair,
        with this validator's signature of it when it gave one)."""
        certified = self._final_hashes.get(vote.height)
        if certified is None or certified == vote.block_hash:
            return None
        if self.tally.vote_of(vote.height, vote.key) != (vote.block_hash, vote.signature):
            return None  # not counted: not a validator's, or a signature that does not verify
        own = self.tally.signatures(vote.height, certified).get(vote.key, b"")
        return Equivocation(vote.height, vote.key, (certified, own),
                            (vote.block_hash, vote.signature))

    def _record_evidence(self, evidence: Equivocation) -> None:
        if any(e.height == evidence.height and e.key == evidence.key for e in self.evidence):
            return
        self.evidence.append(evidence)
        log.critical("validator %s signed two headers at height %d (%s and %s): evidence kept",
                     evidence.key, evidence.height, evidence.first[0], evidence.second[0])
        if self.on_evidence is not None:
            self.on_evidence(evidence)

    def _refuse_diverged(self, height: int, block_hash: str) -> None:
        other = self.tally.certified_other(height, block_hash)
        if other is not None:
            raise StateDiverged(height, block_hash, other[0], other[1])

    def _advance_finality(self) -> None:
        """Certify this node's blocks that more than 2/3 of the validators signed, move the
        final height to the highest, and push ``final`` to their waiters and listeners."""
        final = self.final_height
        certified = self._late_certificates()
        for height in sorted(self._unfinal):
            block_hash = self._unfinal[height]
            self._refuse_diverged(height, block_hash)
            signatures = self.tally.signatures(height, block_hash)
            if len(signatures) >= self.validators.at(height).quorum:
                certified.append((height, block_hash, signatures))
                final = height
        if final == self.final_height:
            if certified:
                self._written(lambda: self.store.set_signatures(certified))
            return
        self._written(lambda: self.store.set_signatures(certified))  # one transaction
        done = {height for height, _, _ in certified}
        for height in [h for h in self._unfinal if h <= final]:
            self._final_hashes[height] = self._unfinal.pop(height)
            if height not in done:  # final through a later block: its own certificate later
                self._uncertified.add(height)
            for key, (block_hash, signature) in self.tally.ballot(height).items():
                evidence = self._against_certified(Vote(height, block_hash, key, signature))
                if evidence is not None:
                    self._record_evidence(evidence)
        for height in [h for h in self._final_hashes if h <= final - final_memory_blocks]:
            del self._final_hashes[height]
            self._uncertified.discard(height)
        # the votes on the latest final blocks are kept: a late vote that contradicts them
        # is evidence too
        self.tally.forget_through(final - final_memory_blocks)
        self.final_height = final
        self.summary = replace(self.summary, final_height=final)
        for height in sorted(h for h in self._awaiting if h <= final):
            waiting, events = self._awaiting.pop(height)
            self._awaiting_count -= len(waiting) + len(events)
            for waiters, status in waiting:
                for waiter in waiters:
                    waiter(status)
            self._publish_events(events)

    def _late_certificates(self) -> list[tuple[int, str, dict[str, bytes]]]:
        """Blocks made final by a later certified block, whose own votes have come since:
        each gets its own certificate (a receipt, and a peer catching up, check each block's
        own)."""
        found = []
        for height in sorted(self._uncertified):
            block_hash = self._final_hashes.get(height)
            if block_hash is None:
                continue
            signatures = self.tally.signatures(height, block_hash)
            if len(signatures) >= self.validators.at(height).quorum:
                found.append((height, block_hash, signatures))
                self._uncertified.discard(height)
        return found

    def _first_outcome(self, status: Status) -> Status:
        if status.state == "rejected" and status.reason == Reason.DUPLICATE.value:
            return self.status(status.id) or status
        return status

    # -- queries ---------------------------------------------------------------------------------
    def status(self, tx_id: str) -> Status | None:
        """Where ``tx_id`` stands on this node (None: unknown, or queued but not yet in the log)."""
        with self._lock:
            pending = self._pending.get(tx_id)
            if pending is not None:
                return Status(tx_id, "accepted") if pending.stage == "accepted" else None
        stored = self.store.transaction(tx_id)
        if stored is not None:
            state = "final" if self.is_final(stored.height) else "executed"
            return Status(tx_id, state, stored.result, stored.height, stored.seq)
        dropped = self.store.dropped(tx_id)
        if dropped is not None:
            return Status(tx_id, "rejected", reason=dropped[0], detail=dropped[1])
        return None

    def is_final(self, height: int) -> bool:
        return height <= self.final_height

    def receipt(self, tx_id: str) -> dict[str, Any] | None:
        return receipt_of(self.store, tx_id)

    def add_listener(self, listener: Listener) -> None:
        """``listener(account, event)`` is called from the node thread after each commit."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)


def entry_id(data: bytes) -> str:
    """The id a refused log entry is recorded under: its transaction id when its body is
    canonical JSON of an object (a transaction without signatures, say), else the hash of
    the entry's bytes."""
    try:
        body = parse_json(data)["body"]
        if isinstance(body, dict):
            return sha256_hex(canonical(body))
    except (TxError, TypeError, KeyError):
        pass
    return sha256_hex(data)
