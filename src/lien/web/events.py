"""Live events: Server-Sent Events of the transactions executed for one account.

One ``EventHub`` listens to the node (a single listener, whatever the number of streams) and
hands each event to the streams of the accounts it touched. The node calls ``publish`` from its
own thread after each commit: it only looks up a dict and schedules the event on the stream's
event loop, and it never raises (an exception there would halt the node).

At most ``streams_max`` streams are open at once: one more is refused (``StreamsFull``, answered
503 ``too_many_streams`` with ``Retry-After``), logged without flooding (``SummarisedLog``).

Each stream has a bounded queue (``queue_events_max``). A client too slow to keep up gets an
``overflow`` event and the stream ends: it reconnects with ``Last-Event-ID`` (the last ``seq``
it saw) and the missed events are replayed from the account's history, or — when more than
``backlog_events_max`` were missed — it is told ``overflow`` again and should reload the history.

The events are the node's typed ``TxEvent`` records, live or replayed; they are encoded here,
once. Wire format: first ``retry: <ms>`` (how long a client waits before reconnecting), then
one event per executed transaction touching the account::

    id: <seq>
    event: transaction
    data: {"id", "type", "result", "height", "seq", "status"}

and the control events ``overflow`` and ``halted`` (``data: {}``), each followed by the end of
the stream. A comment line (``: keep-alive``) is sent every ``heartbeat_s`` so that proxies keep the
connection and a vanished client is noticed. Streams end cleanly when the client disconnects,
when the app shuts down (``EventHub.close``) and when the node halts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from ..node.node import TxEvent
from .logs import SummarisedLog
from .responses import json_bytes

log = logging.getLogger("lien.web.events")


class StreamsFull(Exception):
    """``streams_max`` event streams are open: a new one is refused (503 ``too_many_streams``);
    the client retries after ``retry_after_s``."""

    def __init__(self, streams_max: int, retry_after_s: int) -> None:
        super().__init__(f"{streams_max} event streams are open, the most this node serves "
                         f"(streams_max); retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Subscription:
    """One open stream: lives on one event loop, fed by the hub."""

    def __init__(self, account: str, loop: asyncio.AbstractEventLoop, queue_max: int) -> None:
        self.account = account
        self.loop = loop
        self.queue_max = queue_max
        self.events: deque[TxEvent] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False
        self.closed = False

    # Both run on the subscription's loop.
    def push(self, event: TxEvent) -> None:
        if len(self.events) >= self.queue_max:
            self.overflowed = True
        else:
            self.events.append(event)
        self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()


class EventHub:
    """Routes the node's events to the open streams, by account."""

    def __init__(self, queue_events_max: int = 1000, streams_max: int = 448,
                 retry_after_s: int = 3, log_interval_s: float = 10.0) -> None:
        self.queue_events_max = queue_events_max
        self.streams_max = streams_max
        self.retry_after_s = retry_after_s
        self.refusals = SummarisedLog(log, "event stream refused", log_interval_s)
        self._streams: dict[str, set[Subscription]] = {}
        self._open = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.closed = False

    def publish(self, account: str, tx_event: TxEvent) -> None:
        """The node's listener (node thread): must be cheap and must never raise."""
        streams = self._streams.get(account)
        if not streams:
            return
        try:
            with self._lock:
                targets = tuple(streams)
            for sub in targets:
                try:
                    sub.loop.call_soon_threadsafe(sub.push, tx_event)
                except RuntimeError:  # that stream's loop is closed
                    pass
        except Exception:  # never let a stream break the node
            log.exception("dropping an event for %s", account)

    def subscribe(self, account: str) -> Subscription:
        """A new stream of ``account``'s events; ``StreamsFull`` past ``streams_max``."""
        sub = Subscription(account, asyncio.get_running_loop(), self.queue_events_max)
        with self._lock:
            full = not self.closed and self._open >= self.streams_max
            if self.closed:
                sub.closed = True
            elif not full:
                self._streams.setdefault(account, set()).add(sub)
                self._open += 1
        if full:
            refused = StreamsFull(self.streams_max, self.retry_after_s)
            self.refusals.warn("too_many_streams", f"for {account}: {refused}")
            raise refused
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            streams = self._streams.get(sub.account)
            if streams is not None and sub in streams:
                streams.discard(sub)
                self._open -= 1
                if not streams:
                    del self._streams[sub.account]
            self._changed.notify_all()

    @property
    def open_streams(self) -> int:
        """Event streams open now (for monitoring)."""
        return self._open

    def wait_count(self, count: int, timeout_s: float) -> bool:
        """Block until at most ``count`` streams are open (for shutdown and tests)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._open <= count, timeout_s)

    def close(self) -> None:
        """End every stream (app shutdown); later subscriptions end at once."""
        with self._lock:
            self.closed = True
            subs = [sub for streams in self._streams.values() for sub in streams]
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub.close)
            except RuntimeError:
                pass


def sse(event: TxEvent) -> bytes:
    """One ``transaction`` event; its ``id`` is the seq, for ``Last-Event-ID``."""
    return (f"id: {event.seq}\nevent: transaction\ndata: ".encode()
            + json_bytes(event.to_json()) + b"\n\n")


def sse_control(kind: str) -> bytes:
    """A control event (``overflow``, ``halted``): no id, empty data; the stream ends."""
    return f"event: {kind}\ndata: {{}}\n\n".encode()


async def stream(
    hub: EventHub,
    sub: Subscription,
    backlog: Callable[[], tuple[list[TxEvent], bool]] | None,
    halted: Callable[[], bool],
    heartbeat_s: float,
    retry_ms: int,
) -> AsyncIterator[bytes]:
    """The body of one SSE response. ``backlog`` (run in a thread) returns the events missed
    since ``Last-Event-ID``, oldest first, and whether some could not be replayed."""
    try:
        yield f"retry: {retry_ms}\n\n".encode()
        last_seq = -1
        if backlog is not None:
            missed, gap = await asyncio.get_running_loop().run_in_executor(None, backlog)
            if gap:
                yield sse_control("overflow")
                return
            for event in missed:
                last_seq = event.seq
                yield sse(event)
        while True:
            if not sub.events and not sub.closed and not sub.overflowed:
                sub.ready.clear()
                try:
                    await asyncio.wait_for(sub.ready.wait(), heartbeat_s)
                except TimeoutError:
                    if halted():
                        yield sse_control("halted")
                        return
                    yield b": keep-alive\n\n"
                    continue
            while sub.events:
                event = sub.events.popleft()
                if event.seq > last_seq:  # already sent from the backlog
                    last_seq = event.seq
                    yield sse(event)
            if sub.overflowed:
                yield sse_control("overflow")
                return
            if sub.closed:
                return
    finally:
        hub.unsubscribe(sub)
