"""From an HTTP request to the node's admission, and waiting for the stage the client asked.

The pipeline of one transaction (the same for a batch item)::

    the client address's rate limit (per transaction, ``ratelimit``)  ->  decode_tx (strict,
        on the loop)  ->  node.submit: freshness + signer + signatures, then the gate (the
        account's or the sign-up rate limits) + queue (in a worker thread)  ->  the node
        pushes each stage to a waiter: accepted (the log holds it), executed, final, or
        rejected  ->  answer at the stage asked (``wait``)

``accepted`` is answered only once the node's ordering log holds the transaction durably: a
crash after that answer cannot lose it. Signature verification is the expensive step; it runs
in this module's thread pool (libsodium releases the GIL), never on the event loop. The node
calls waiters from its own threads: they hand the status to the loop with
``call_soon_threadsafe`` and never raise (an exception there would halt the node). Nothing
polls: every stage is pushed.

A known id is never executed twice: the node recognises pending and executed ids, and a retry
that fails a check (expired since, signatures replaced) is answered with the id's first
outcome when the node knows it.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..ledger import Reason, Tx, TxError, limits, parse_json, parse_tx
from ..node.node import MIRROR_DETAIL, DISK_FULL, DiskFull, Node, NodeBusy, Status
from .errors import NodeHalted
from .ratelimit import RateLimits

WAITS = ("accepted", "executed", "final")
#: How far along each status is: a waiter for ``wait`` is done at that rank or beyond.
_RANK = {"queued": 0, "accepted": 1, "executed": 2, "final": 3, "rejected": 3, "refused": 3}


def reached(status: Status, wait: str) -> bool:
    return _RANK[status.state] >= _RANK[wait]


def _later(status: Status, latest: Status | None) -> bool:
    """Whether ``status`` is at least as far along as ``latest`` (waiters may be called from
    several threads: an older stage arriving late never replaces a newer one)."""
    return latest is None or reached(status, latest.state)


@dataclass(frozen=True, slots=True)
class BatchItem:
    """The outcome of one batch item: its status, or the code that refused it."""

    index: int
    id: str | None = None
    status: Status | None = None
    error: tuple[str, str] | None = None  #: (code, detail)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index}
        if self.status is not None:
            data.update(self.status.to_json())
        elif self.id is not None:
            data["id"] = self.id
        if self.error is not None:
            data["error"] = {"code": self.error[0], "detail": self.error[1]}
        return data


def refuse_if_rejected(status: Status) -> Status:
    """A transaction dropped before any block answers with its admission reason (4xx); one the
    log could not take for lack of space, 503 ``disk_full``."""
    if status.state == "refused" and status.reason == DISK_FULL:
        raise DiskFull(status.detail)
    if status.state == "rejected":
        raise TxError(Reason(status.reason or Reason.MALFORMED), status.detail)
    return status


class _Progress:
    """The latest status of one submission, resolving ``done`` on the loop at ``wait``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wait: str) -> None:
        self.loop = loop
        self.wait = wait
        self.latest: Status | None = None
        self.done: asyncio.Future[None] = loop.create_future()

    def waiter(self, status: Status) -> None:
        """Called by the node from any thread; never raises."""
        if _later(status, self.latest):
            self.latest = status
        if reached(status, self.wait):
            try:
                self.loop.call_soon_threadsafe(self._resolve)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    def _resolve(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class _BatchProgress:
    """Counts the items of a batch that reached ``accepted`` (worker thread side)."""

    def __init__(self) -> None:
        self.latest: dict[str, Status] = {}
        self._changed = threading.Condition()

    def waiter(self, status: Status) -> None:
        with self._changed:
            if _later(status, self.latest.get(status.id)):
                self.latest[status.id] = status
            self._changed.notify_all()

    def wait_accepted(self, ids: list[str], timeout_s: float) -> bool:
        def all_accepted() -> bool:
            return all(i in self.latest and reached(self.latest[i], "accepted") for i in ids)

        with self._changed:
            return self._changed.wait_for(all_accepted, timeout_s)


class Admission:
    """Admits transactions into one node on behalf of the API."""

    def __init__(self, node: Node, threads: int, wait_ms_max: int, limits: RateLimits) -> None:
        self.node = node
        self.wait_ms_max = wait_ms_max
        self.limits = limits
        self.pool = ThreadPoolExecutor(threads, "lien-api")
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.pool.shutdown(wait=False, cancel_futures=True)

    def ensure_running(self) -> None:
        if self.closed:  # the app shut down: its threads are gone (a 503, not a 500)
            raise NodeHalted("the API is shut down")
        if self.node.failure is not None:
            raise NodeHalted("the node halted; see its log")
        if not self.node.running:
            raise NodeHalted("the node is not running")
        if self.node.mirror:
            raise NodeHalted(MIRROR_DETAIL)

    # -- in a worker thread ----------------------------------------------------------------------
    def admit_batch(self, data: bytes, address: str) -> list[BatchItem]:
        """Parse, check and queue every item; answer once the log holds the admitted ones.
        The route counted one submission from ``address``; the other items count here."""
        document = parse_json(data)
        if not isinstance(document, dict) or set(document) != {"transactions"}:
            raise TxError(Reason.MALFORMED, 'a batch is {"transactions": [...]}')
        raw = document["transactions"]
        if not isinstance(raw, list):
            raise TxError(Reason.MALFORMED, "transactions must be a list")
        if len(raw) > limits.batch_transactions_max:
            raise TxError(Reason.TOO_LARGE,
                          f"more than {limits.batch_transactions_max} transactions")
        if len(raw) > 1:
            self.limits.submissions(address, len(raw) - 1)
        items: list[BatchItem | None] = [None] * len(raw)
        parsed: list[tuple[int, Tx]] = []
        for index, envelope in enumerate(raw):
            try:
                parsed.append((index, parse_tx(envelope)))
            except TxError as error:
                items[index] = BatchItem(index, error=(error.reason.value, error.detail))
        progress = _BatchProgress()
        # One lock round for the lot; a full queue (NodeBusy) refuses the whole batch: 503.
        outcomes = self.node.submit_many([tx for _, tx in parsed], progress.waiter,
                                         gate=self.limits.gate(address))
        queued = [tx.id for (_, tx), outcome in zip(parsed, outcomes, strict=True)
                  if outcome is None]
        if not progress.wait_accepted(queued, self.wait_ms_max / 1000):
            self._raise_if_halted()
            raise NodeBusy("the log did not take the batch in time; retry the same batch")
        self._raise_if_halted()
        # The log could not take some of them (a full disk): the whole batch is refused, as
        # for a full queue; retrying the same batch is safe (an id accepted meanwhile answers
        # its status).
        for tx_id in queued:
            refuse_if_rejected(progress.latest[tx_id])
        for (index, tx), outcome in zip(parsed, outcomes, strict=True):
            if isinstance(outcome, TxError):
                items[index] = BatchItem(index, tx.id,
                                         error=(outcome.reason.value, outcome.detail))
                continue
            status = outcome if outcome is not None else progress.latest[tx.id]
            if status.state == "rejected":
                items[index] = BatchItem(index, tx.id, error=(status.reason or "", status.detail))
            else:
                items[index] = BatchItem(index, tx.id, status)
        return [item for item in items if item is not None]

    def _raise_if_halted(self) -> None:
        if self.node.failure is not None:
            raise NodeHalted("the node halted before the log took the transactions")

    # -- on the event loop -----------------------------------------------------------------------
    async def submit(self, tx: Tx, wait: str, address: str) -> Status:
        """Admit ``tx`` (sent from ``address``) and wait (at most ``wait_ms_max``) until it
        reaches ``wait``: 202 ``accepted`` when the wait runs out after the log took it."""
        self.ensure_running()
        loop = asyncio.get_running_loop()
        progress = _Progress(loop, wait)
        await loop.run_in_executor(self.pool, self.node.submit, tx, progress.waiter, None,
                                   self.limits.gate(address))
        await asyncio.wait({progress.done}, timeout=self.wait_ms_max / 1000)
        self._raise_if_halted()
        status = progress.latest
        if status is None or status.state == "queued":
            raise NodeBusy("the log did not take the transaction in time; retry the same one")
        return refuse_if_rejected(status)

    async def submit_batch(self, data: bytes, address: str) -> list[BatchItem]:
        self.ensure_running()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self.admit_batch, data, address)


__all__ = ["WAITS", "Admission", "BatchItem", "reached", "refuse_if_rejected"]
