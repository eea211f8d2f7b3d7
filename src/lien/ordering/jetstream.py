"""The federation's ordering backend: one replicated NATS JetStream stream.

Every node of a federation appends to the same stream and reads all of it; the stream's
sequence numbers are the log's positions and the leader's timestamps its times, identical on
every reader, so every node cuts the same blocks (``cut_blocks``). The stream: 3 (or 5)
replicas, file storage, each server syncing every write (``sync_interval: always``, the
servers' setting), deduplication by message id over the expiry window, so a retried
transaction — or the same transaction sent to two nodes — takes one place.

* **Appends**: a transaction is published with its id as ``Nats-Msg-Id``; a publish returns
  when the stream's quorum stored it (``accepted``). A retry of a committed id is acknowledged
  ``duplicate`` with the first copy's position; that copy's bytes are not compared by NATS, so
  a duplicate's entry is marked and the node treats the log's copy as another writer's (it
  verifies it again). Error 10158 ("duplicate message id is in process", two publishers racing)
  is retried with the same id to learn the position. Publishes fail fast while the stream has
  no leader (4–9 s after its leader dies): they are retried until ``unavailable_ms_max``, then
  ``LogUnavailable`` is raised — nothing is lost by retrying, the ids deduplicate.
  ``Nats-Expected-Last-Msg-Id`` is never used (it froze 3-replica streams, measured).
* **Ticks**: an empty message with id ``tick-after-<position>``, the last position the node
  knows (read, or acknowledged to it). Every node publishes one when the log holds
  transactions after its last tick, so ticks keep coming when any node is down; the stream
  keeps one per position, so nodes ticking together add one tick, not three. (An id per time
  window, ``tick-<window>``, lost ticks: a node whose batch followed another node's tick in
  the same window got that earlier tick back as a duplicate, and its batch stayed open.)
* **Reading**: a durable pull consumer per node (``node-<name>``), started at the position the
  node has consumed; a pump on the connection's loop fills a bounded buffer the block loop reads
  (its ``wait`` is woken by arrivals).
* **Distrust**: the stream is crash-fault tolerant, not Byzantine, and its storage can be lost.
  A stream whose identity (creation time) changed, whose sequences go backwards, that no longer
  holds a position its consumer skipped, or that ends before the position a node consumed is
  **reset**: ``read`` raises ``StreamReset`` and the node halts loudly rather than execute
  positions it cannot trust (its certified blocks are kept). (A consumer skips what it sent
  and the node never received — it acknowledges nothing — when a server dies during a
  failover: the stream still holds those positions, and the consumer restarts there.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from ..ledger import limits
from .base import LogEntry, LogReset, LogUnavailable

log = logging.getLogger("lien.ordering")
T = TypeVar("T")

#: "duplicate message id is in process": two publishers raced with one id; retry to learn it
DUPLICATE_IN_PROCESS = 10158
#: checks in a row, over at least this long, before a stream that looks gone or shorter is
#: taken as lost (a server released from a partition answers with its stale state a while)
reset_checks_min = 5
reset_seconds_min = 10.0


class StreamReset(LogReset):
    """The stream is not the one this node consumed: recreated (its storage lost), or its
    sequences went backwards, skipped, or end before what the node consumed. The node's own
    certified blocks stay authoritative; positions read from such a stream are not trusted."""


@dataclass(frozen=True)
class Connection:
    """How to reach a NATS cluster: its servers, and optional credentials and TLS."""

    servers: tuple[str, ...]
    name: str = "lien"
    user: str | None = None
    password: str | None = None
    creds_file: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    connect_timeout_s: float = 5.0
    ping_interval_s: float = 2.0


class NatsLink:
    """One NATS connection and the asyncio loop, in a thread of its own, that drives it; the
    node's threads run coroutines on it with ``run``."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="lien-nats",
                                        daemon=True)
        self._thread.start()
        try:
            self.nc: Client = self.run(
                asyncio.wait_for(self._connect(), 2 * connection.connect_timeout_s),
                2 * connection.connect_timeout_s + 5)  # even if the cancellation hangs
        except Exception as exc:
            try:
                self.run(self._cancel_tasks(), 5)
            except Exception as cleanup:  # the loop is stopped below all the same
                log.warning("closing a failed NATS connection: %s", cleanup)
            self._stop_loop()
            raise LogUnavailable(f"cannot connect to NATS ({', '.join(connection.servers)}): "
                                 f"{type(exc).__name__} {exc}") from exc
        self.js = self.nc.jetstream()

    async def _connect(self) -> Client:
        c = self.connection
        options: dict[str, Any] = {
            "servers": list(c.servers), "name": c.name, "allow_reconnect": True,
            "max_reconnect_attempts": -1, "reconnect_time_wait": 0.25,
            "connect_timeout": c.connect_timeout_s,
            # a server that stops answering (paused, cut off) is left within seconds
            "ping_interval": c.ping_interval_s, "max_outstanding_pings": 2,
        }
        if c.user is not None:
            options.update(user=c.user, password=c.password or "")
        if c.creds_file is not None:
            options["user_credentials"] = c.creds_file
        if c.tls_ca_file is not None:
            import ssl

            context = ssl.create_default_context(cafile=c.tls_ca_file)
            if c.tls_cert_file is not None:
                context.load_cert_chain(c.tls_cert_file, c.tls_key_file)
            options["tls"] = context
        return await nats.connect(**options)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run ``coro`` on the link's loop and wait for its result (from another thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Start ``coro`` on the loop without waiting (it handles its own errors)."""
        asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        """Close the connection, end every task left on the loop (readers, resenders), and
        stop the loop."""
        try:
            self.run(self._shutdown(), 10)
        except Exception as exc:  # closing a connection whose servers are gone
            log.warning("closing the NATS connection: %s", exc)
        self._stop_loop()

    async def _shutdown(self) -> None:
        await self.nc.close()
        await self._cancel_tasks()

    async def _cancel_tasks(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


def stream_name_for(chain_id: str) -> str:
    """The stream of a chain's log: ``LIEN_<chain id>`` (chain ids are names NATS accepts)."""
    return "LIEN_" + re.sub(r"[^A-Za-z0-9_-]", "_", chain_id)


@dataclass(frozen=True)
class StreamSettings:
    name: str
    subject: str
    replicas: int = 3
    #: as long as a transaction may live: a retry within its lifetime is a duplicate
    duplicate_window_ms: int = limits.expiry_window_ms_max
    #: publishes in flight at once for one batch
    publish_in_flight_max: int = 256
    publish_timeout_ms: int = 2_000
    #: how long appends keep retrying while the stream has no leader before LogUnavailable
    unavailable_ms_max: int = 20_000
    #: entries read ahead of the block loop (the pump waits when the buffer is full)
    buffer_entries_max: int = 20_000
    fetch_batch_max: int = 1_000

    @classmethod
    def for_chain(cls, chain_id: str, **overrides: Any) -> StreamSettings:
        return cls(name=stream_name_for(chain_id), subject=f"lien.{chain_id}.log", **overrides)


def stream_config(settings: StreamSettings) -> StreamConfig:
    return StreamConfig(
        name=settings.name, subjects=[settings.subject], num_replicas=settings.replicas,
        storage=StorageType.FILE, duplicate_window=settings.duplicate_window_ms / 1000,
        allow_direct=False)


async def ensure_stream(js: Any, config: StreamConfig, deadline_s: float) -> Any:
    """Create the stream, or find it: retried while the cluster elects its meta leader (a
    few seconds after the servers start). Returns the stream's info."""
    delay_s = 0.05
    while True:
        try:
            try:
                return await js.stream_info(config.name)
            except nats.js.errors.NotFoundError:
                return await js.add_stream(config)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError,
                nats.js.errors.ServiceUnavailableError, nats.js.errors.APIError) as exc:
            if time.monotonic() > deadline_s:
                raise LogUnavailable(f"the stream {config.name} is not available: {exc}") from exc
            await asyncio.sleep(delay_s)  # the cluster elects a leader: no event to wait on
            delay_s = min(2 * delay_s, 0.5)


def write_identity(path: Path, stream: str, created: str, base: int) -> None:
    """Record which stream a node consumes (its creation time) and the log position of its
    sequence 0 (``base``), synced: read back at every start."""
    temporary = path.with_suffix(".tmp")
    with temporary.open("w") as f:
        f.write(json.dumps({"stream": stream, "created": created, "base": base}) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def entry_of(msg: Msg) -> tuple[int, int]:
    """(stream sequence, time in ms) of a delivered message, from its reply subject
    ``$JS.ACK.[<domain>.<account hash>.]<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>...``
    (nanoseconds as the stream's leader stamped them: the same on every reader)."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[7]) // 1_000_000
    return int(tokens[7]), int(tokens[9]) // 1_000_000


class JetStreamLog:
    """The ordering log of a federation node (see the module doc)."""

    def __init__(self, link: NatsLink, settings: StreamSettings, consumer: str,
                 identity_file: Path | None = None, start_timeout_ms: int = 30_000) -> None:
        """``consumer``: this node's durable consumer's name. ``identity_file``: where the
        node keeps the identity of the stream it consumed (its creation time), to notice a
        stream recreated while it was down."""
        self.link = link
        self.settings = settings
        self.consumer = re.sub(r"[^A-Za-z0-9_-]", "_", consumer)
        self.identity_file = identity_file
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._buffer: deque[LogEntry] = deque()
        self._next = 0  #: the position the pump reads next (0: not started)
        self._want: int | None = None  #: restart the consumer after this position
        self._closed = False
        self._woken = False
        self._known = 0  #: the highest position this node has read or been acknowledged
        self.failure: StreamReset | None = None
        #: a position the consumer delivered past: is it still in the stream? (``_take``)
        self._skipped: int | None = None
        #: when the last checks in a row found the stream gone or shorter (``_check_stream``)
        self._suspicions: list[float] = []
        self._space = asyncio.Event()
        info = link.run(ensure_stream(link.js, stream_config(settings),
                                      time.monotonic() + start_timeout_ms / 1000),
                        start_timeout_ms / 1000 + 5)
        self.identity = info.created.isoformat() if info.created else ""
        #: the log position of the stream's sequence 0: 0, or — after the federation resumed
        #: on a new stream (``resume``) — the position this node had consumed of the old one
        self.base = 0
        self._check_identity()
        self.last_sequence = info.state.last_seq
        self._pump_started = False

    # -- identity --------------------------------------------------------------------------------
    def _check_identity(self) -> None:
        if self.identity_file is None:
            return
        if self.identity_file.exists():
            known = json.loads(self.identity_file.read_text())
            if known.get("created") == self.identity:
                self.base = int(known.get("base", 0))
                return
            if known.get("stream") == self.settings.name:
                self.failure = StreamReset(
                    f"the stream {self.settings.name} was recreated (created {self.identity}, "
                    f"this node consumed the one created {known.get('created')}): its "
                    "positions restart; the node keeps its certified blocks and must recover "
                    "from peers")
                log.critical("%s", self.failure)
                return
        write_identity(self.identity_file, self.settings.name, self.identity, 0)

    # -- appends ---------------------------------------------------------------------------------
    def append(self, txs: Sequence[bytes], time_ms: int, tick: bool,
               ids: Sequence[str] | None = None) -> list[LogEntry]:
        if ids is None or len(ids) != len(txs):
            raise ValueError("the JetStream log needs each transaction's id")
        timeout_s = (self.settings.unavailable_ms_max + self.settings.publish_timeout_ms) / 1000
        try:
            return self.link.run(self._append(txs, list(ids), time_ms, tick), timeout_s + 5)
        except TimeoutError as exc:
            raise LogUnavailable(f"the stream did not take the batch: {exc}") from exc

    async def _append(self, txs: Sequence[bytes], ids: list[str], time_ms: int,
                      tick: bool) -> list[LogEntry]:
        limit = asyncio.Semaphore(self.settings.publish_in_flight_max)
        deadline = time.monotonic() + self.settings.unavailable_ms_max / 1000

        async def one(data: bytes, msg_id: str) -> LogEntry:
            async with limit:
                seq, duplicate = await self._publish(data, msg_id, deadline)
            return LogEntry(self.base + seq, time_ms, data or None, duplicate)

        entries = list(await asyncio.gather(*(one(d, i) for d, i in zip(txs, ids, strict=True))))
        with self._lock:
            self._known = max([self._known, *(e.position for e in entries)])
            after = self._known
        if tick:
            entries.append(await one(b"", f"tick-after-{after}"))
        return entries

    async def _publish(self, data: bytes, msg_id: str, deadline: float) -> tuple[int, bool]:
        delay_s = 0.01
        while True:
            try:
                ack = await self.link.js.publish(
                    self.settings.subject, data, timeout=self.settings.publish_timeout_ms / 1000,
                    stream=self.settings.name, headers={"Nats-Msg-Id": msg_id})
                return ack.seq, bool(ack.duplicate)
            except nats.js.errors.APIError as exc:
                if exc.err_code != DUPLICATE_IN_PROCESS and not isinstance(
                        exc, nats.js.errors.ServiceUnavailableError):
                    raise LogUnavailable(f"the stream refused {msg_id}: {exc}") from exc
                error: Exception = exc
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError,
                    nats.errors.ConnectionClosedError, nats.js.errors.NoStreamResponseError,
                    nats.errors.OutboundBufferLimitError) as exc:
                error = exc
            if self._closed or time.monotonic() > deadline:
                raise LogUnavailable(f"the stream did not take {msg_id}: {error}") from error
            await asyncio.sleep(delay_s)  # the stream elects a leader: retried, ids dedupe
            delay_s = min(2 * delay_s, 0.25)

    # -- reading ---------------------------------------------------------------------------------
    def read(self, after: int, limit: int) -> list[LogEntry]:
        with self._lock:
            if self.failure is not None:
                raise self.failure
            buffer = self._buffer
            while buffer and buffer[0].position <= after:
                buffer.popleft()
            if not self._pump_started or (buffer and buffer[0].position != after + 1) or (
                    not buffer and self._next != after + 1):
                self._reposition(after)
                return []
            taken = [buffer[i] for i in range(min(limit, len(buffer)))]
        if taken:
            self.link.loop.call_soon_threadsafe(self._space.set)
        return taken

    def _reposition(self, after: int) -> None:
        """(Re)start reading after ``after`` (the lock held)."""
        if after > self.base + self.last_sequence and self.failure is None and self._next == 0:
            self.failure = StreamReset(
                f"the stream {self.settings.name} ends at {self.base + self.last_sequence}, before "
                f"position {after} this node consumed: it lost its tail")
            log.critical("%s", self.failure)
            raise self.failure
        self._buffer.clear()
        self._want = after
        self._next = after + 1
        if not self._pump_started:
            self._pump_started = True
            self.link.spawn(self._pump())
        else:
            self.link.loop.call_soon_threadsafe(self._space.set)

    async def _consumer(self, after: int) -> Any:
        name = f"node-{self.consumer}"
        js = self.link.js
        try:
            await js.delete_consumer(self.settings.name, name)
        except nats.js.errors.NotFoundError:
            pass
        return await js.pull_subscribe(
            self.settings.subject, durable=name, stream=self.settings.name,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                  opt_start_seq=after - self.base + 1,
                                  ack_policy=AckPolicy.NONE,
                                  max_waiting=4))

    async def _pump(self) -> None:
        """Fill the buffer from this node's consumer, in stream order, while the log is open."""
        sub: Any = None
        delay_s = 0.05
        while not self._closed and self.failure is None:
            try:
                if self._want is not None:
                    if sub is not None:
                        old, sub = sub, None
                        await old.unsubscribe()
                    if self._skipped is not None:
                        await self._check_skipped(self._skipped)
                        if self.failure is not None:
                            break
                    with self._lock:
                        after = self._want
                    sub = await self._consumer(after)
                    # Only now: a creation that failed or timed out (the cluster electing a
                    # leader) is tried again, never left with the old subscription.
                    with self._lock:
                        if self._want == after:
                            self._want = None
                with self._lock:
                    full = len(self._buffer) >= self.settings.buffer_entries_max
                if full:
                    self._space.clear()
                    await self._space.wait()
                    continue
                msgs = await sub.fetch(self.settings.fetch_batch_max, timeout=1.0)
                delay_s = 0.05
            except (nats.errors.TimeoutError, asyncio.TimeoutError):
                await self._check_stream()  # and restarts a consumer that delivers nothing
                continue
            except Exception as exc:  # the cluster fails over, the consumer is gone: try again
                if self._closed:
                    break
                log.warning("reading the stream %s: %s", self.settings.name, exc)
                await asyncio.sleep(delay_s)  # no event tells when the cluster is back
                delay_s = min(2 * delay_s, 1.0)
                with self._lock:
                    if self._want is None:
                        self._want = self._next - 1
                await self._check_stream()
                continue
            self._take(msgs)
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as exc:
                log.debug("unsubscribing: %s", exc)

    def _take(self, msgs: list[Msg]) -> None:
        with self._arrived:
            if self._want is not None:
                return  # repositioned meanwhile: these are stale
            for msg in msgs:
                seq, time_ms = entry_of(msg)
                seq += self.base  # a position of the log
                if seq < self._next:
                    continue  # redelivered after a reconnect
                if seq != self._next:
                    # The consumer acknowledges nothing: what it sent and this node never
                    # received (lost with a connection or a server during a failover) is not
                    # sent again. The pump asks the stream for the position before it restarts
                    # the consumer there: only an entry gone from the stream is a reset.
                    log.warning("the consumer of %s skipped from %d to %d: restarted",
                                self.settings.name, self._next, seq)
                    self._skipped = self._next
                    self._want = self._next - 1
                    break
                self._buffer.append(LogEntry(seq, time_ms, msg.data or None))
                self._next = seq + 1
                self._known = max(self._known, seq)
            self._arrived.notify_all()

    async def _check_skipped(self, position: int) -> None:
        """The consumer skipped ``position``: a reset if the stream keeps not holding it."""
        try:
            await self.link.js.get_msg(self.settings.name, position - self.base)
        except nats.js.errors.NotFoundError:
            # asked again at the next restart of the consumer: a reset only if it stays so
            self._suspect(f"the stream {self.settings.name} no longer holds position "
                          f"{position}: entries were lost or removed")
            return
        with self._lock:
            self._skipped = None
        self._suspicions = []

    async def _check_stream(self) -> None:
        """The stream is still the one this node consumes: same creation, not shorter; and
        this node's consumer, which just delivered nothing, has nothing to deliver.

        A recreated stream (another creation time) is certain at once. A stream that looks
        gone or shorter may be a stale server's view (one just released from a partition
        still answers with its old state): it is a reset only when every check says so for
        ``reset_checks_min`` checks in a row over ``reset_seconds_min``."""
        try:
            info = await self.link.js.stream_info(self.settings.name)
        except nats.js.errors.NotFoundError:
            self._suspect(f"the stream {self.settings.name} is gone (its servers' storage "
                          f"lost?): this node consumed it up to {self._next - 1}; it keeps "
                          "its blocks")
            return
        except Exception as exc:  # the cluster is failing over: asked again later
            log.debug("stream info: %s", exc)
            return
        created = info.created.isoformat() if info.created else ""
        with self._arrived:
            last = self.base + info.state.last_seq
            if last >= self._next and self._want is None:
                # The stream holds entries this consumer did not deliver within a whole fetch:
                # lost in a failover (it does not ack). Read again from the first missing.
                log.warning("the stream holds entries up to %d, none came after %d: reading "
                            "again", last, self._next - 1)
                self._want = self._next - 1
            if created != self.identity:
                self._fail(StreamReset(
                    f"the stream {self.settings.name} was recreated (created {created}; this "
                    f"node consumed the one created {self.identity} up to {self._next - 1})"))
                return
        if last < self._next - 1:
            self._suspect(f"the stream {self.settings.name} ends at position {last}, before "
                          f"{self._next - 1} this node consumed: it lost its tail")
        else:
            self._suspicions = []

    def _suspect(self, problem: str) -> None:
        now = time.monotonic()
        self._suspicions.append(now)
        log.warning("%s (check %d)", problem, len(self._suspicions))
        if (len(self._suspicions) >= reset_checks_min
                and now - self._suspicions[0] >= reset_seconds_min):
            with self._arrived:
                self._fail(StreamReset(problem))

    def _fail(self, failure: StreamReset) -> None:
        """(The lock held.)"""
        self.failure = failure
        log.critical("%s", failure)
        self._arrived.notify_all()

    def wait(self, after: int, timeout_s: float) -> bool:
        with self._arrived:
            woke = self._arrived.wait_for(
                lambda: self._closed or self._woken or self.failure is not None or (
                    bool(self._buffer) and self._buffer[-1].position > after), timeout_s)
            self._woken = False
            return bool(woke) and not self._closed

    def wake(self) -> None:
        with self._arrived:
            self._woken = True
            self._arrived.notify_all()

    def close(self) -> None:
        with self._arrived:
            self._closed = True
            self._arrived.notify_all()
        self.link.loop.call_soon_threadsafe(self._space.set)
