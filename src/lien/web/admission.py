"""From an HTTP request to the node's queue: check, verify off the event loop, enqueue, wait.

The pipeline of one transaction (the same for a batch item)::

    decode_tx (strict, on the loop)  ->  freshness + signatures + enqueue (in a worker thread)
        ->  202 accepted,  or wait for the node's waiter  ->  200 executed / final

Signature verification is the expensive step; it runs in this module's thread pool (libsodium
releases the GIL), never on the event loop. The node calls waiters from its own thread: they
hand the status to the loop with ``call_soon_threadsafe`` and never raise (an exception there
would halt the node).

A known id is never executed twice: the node's ``enqueue`` recognises pending and executed ids,
and a retry that fails a check (expired since, signatures replaced) is answered with the id's
first outcome when the node knows it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..ledger import Reason, Tx, TxError, check_freshness, limits, parse_json, parse_tx
from ..node.node import Node, Status
from .errors import NodeHalted

WAITS = ("accepted", "executed", "final")
#: How often a ``wait=final`` request looks again at a block executed but not yet certified.
FINAL_POLL_S = 0.05


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
    """A transaction dropped before any block answers with its admission reason (4xx)."""
    if status.state == "rejected":
        raise TxError(Reason(status.reason or Reason.MALFORMED), status.detail)
    return status


def _resolve(future: asyncio.Future[Status], status: Status) -> None:
    if not future.done():
        future.set_result(status)


def loop_waiter(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Status]) -> Callable[
    [Status], None
]:
    """A node waiter that resolves ``future`` on ``loop``; safe to call from any thread."""

    def waiter(status: Status) -> None:
        try:
            loop.call_soon_threadsafe(_resolve, future, status)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    return waiter


class Admission:
    """Admits transactions into one node on behalf of the API."""

    def __init__(self, node: Node, threads: int, wait_ms_max: int) -> None:
        self.node = node
        self.wait_ms_max = wait_ms_max
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

    # -- in a worker thread ----------------------------------------------------------------------
    def admit_batch(self, data: bytes) -> list[BatchItem]:
        document = parse_json(data)
        if not isinstance(document, dict) or set(document) != {"transactions"}:
            raise TxError(Reason.MALFORMED, 'a batch is {"transactions": [...]}')
        raw = document["transactions"]
        if not isinstance(raw, list):
            raise TxError(Reason.MALFORMED, "transactions must be a list")
        if len(raw) > limits.batch_transactions_max:
            raise TxError(Reason.TOO_LARGE,
                          f"more than {limits.batch_transactions_max} transactions")
        now_ms = self.node.clock()
        items: list[BatchItem | None] = [None] * len(raw)
        checked: list[tuple[int, Tx]] = []
        for index, envelope in enumerate(raw):
            tx = None
            try:
                tx = parse_tx(envelope)
                check_freshness(tx, self.node.chain_id, now_ms)
                checked.append((index, tx))
            except TxError as error:
                items[index] = self._refused(index, tx, error)
        valid = self.node.verify_many([tx for _, tx in checked])
        verified: list[tuple[int, Tx]] = []
        for (index, tx), ok in zip(checked, valid):
            if ok:
                verified.append((index, tx))
            else:
                items[index] = self._refused(
                    index, tx, TxError(Reason.BAD_SIGNATURE, "a signature does not verify"))
        # One lock round for the lot; a full queue (NodeBusy) refuses the whole batch: 503.
        statuses = self.node.enqueue_many([tx for _, tx in verified])
        for (index, tx), status in zip(verified, statuses):
            items[index] = BatchItem(index, tx.id, status)
        return [item for item in items if item is not None]

    def _refused(self, index: int, tx: Tx | None, error: TxError) -> BatchItem:
        if tx is None:
            return BatchItem(index, error=(error.reason.value, error.detail))
        try:
            return BatchItem(index, tx.id, refuse_if_rejected(self.node.first_outcome(tx.id, error)))
        except TxError as refusal:
            return BatchItem(index, tx.id, error=(refusal.reason.value, refusal.detail))

    # -- on the event loop -----------------------------------------------------------------------
    async def submit(self, tx: Tx, wait: str) -> Status:
        """Admit ``tx`` and wait (at most ``wait_ms_max``) until it reaches ``wait``."""
        self.ensure_running()
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.wait_ms_max / 1000
        now_ms = self.node.clock()
        if wait == "accepted":
            status = await loop.run_in_executor(self.pool, self.node.submit, tx, None, now_ms)
            return refuse_if_rejected(status)
        future: asyncio.Future[Status] = loop.create_future()
        status = await loop.run_in_executor(
            self.pool, self.node.submit, tx, loop_waiter(loop, future), now_ms)
        if status.state == "accepted":
            await asyncio.wait({future}, timeout=max(0.0, deadline - time.monotonic()))
            if future.done():
                status = future.result()
        if self.node.failure is not None:
            raise NodeHalted("the node halted before executing the transaction")
        if wait == "final" and status.state == "executed":
            status = await self._until_final(status, deadline)
        return refuse_if_rejected(status)

    async def _until_final(self, status: Status, deadline: float) -> Status:
        """Blocks become final when validators co-sign, which the node does not announce."""
        loop = asyncio.get_running_loop()
        while status.state == "executed" and time.monotonic() < deadline:
            await asyncio.sleep(FINAL_POLL_S)
            known = await loop.run_in_executor(self.pool, self.node.status, status.id)
            status = known or status
        return status

    async def submit_batch(self, data: bytes) -> list[BatchItem]:
        self.ensure_running()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self.admit_batch, data)
