"""Connection limits of the HTTP server: no client holds the node with idle, slow or huge requests.

uvicorn alone has an idle timeout between requests but none while a request arrives, so a
client trickling its headers (slowloris) holds a connection for ever; no bound on the size of a
request head; and, with uvloop, it accepts every pending connection in one go before running any
``connection_made``: 1,100 connections under ``ulimit -n 1024`` hit EMFILE, and libuv then
accepts-and-closes every pending connection, silently — the node is unreachable, nothing logged.

Here the server accepts its connections itself (``Listener``) within a budget of file
descriptors, and each connection is an ``HttpToolsProtocol`` with deadlines and bounds
(``http_protocol.LimitedProtocol``), all of one server sharing a ``Pool``. The bounds are ``HttpLimits``, read by ``lien serve`` from the optional
``[http]`` table of DIR/node.toml::

    header_timeout_s   the request line and headers arrive within it, counted from the
                       connection's opening or the first byte of the next request: else 408 and
                       close (a connection that sent nothing is closed without an answer)
    body_timeout_s     the body arrives within it after the headers: else the connection closes
    idle_timeout_s     a kept-alive connection without a request closes after it
    send_timeout_s     a client that reads nothing of its response for it is cut off
    connections_max    connections open at once (derived from RLIMIT_NOFILE: below)
    streams_max        event streams open at once: one more is 503 ``too_many_streams``
    header_bytes_max   request line and headers: past it 431 ``header_too_large``
                       (a head that began in a packet counts from that packet's last end of
                       a head, so requests pipelined in one packet are each a head of their own)
    url_bytes_max      the request target (path and query): past it 414 ``url_too_long``
    log_interval_s     closed connections are logged without flooding (``logs``)
    trusted_proxies    addresses of the reverse proxies whose ``X-Forwarded-For`` and
                       ``X-Forwarded-Proto`` are believed (default none): behind a proxy, the
                       client's own address is then what rate limits count, and a request that
                       reached the proxy over HTTPS gets ``Secure`` cookies

**At ``connections_max``** a new connection closes the connection that has waited longest for
a request (idle between requests, or still sending its request): a flood of idle or slow
connections then only ever pushes out its own oldest members, and a client that sends its
request promptly is served. Refusing newcomers instead would hand the node to whoever connected
first until the header timeout, then again to the flood's reconnections. A connection whose
request is complete and being answered (an event stream, a payment waiting to be final) is never
closed for room; only when every connection is busy is a newcomer answered 503
``too_many_connections``. The event streams are bounded below it (``streams_max``) so that they
never fill the node.

A connection may pipeline at most ``PIPELINED_REQUESTS_MAX`` requests ahead of their answers
(each waits in memory): past it, it is closed.

Every closing for one of these reasons is logged (``SummarisedLog``: the first of each kind at
once, then a count per interval); the normal end of an idle kept-alive connection is not.
"""

from __future__ import annotations

import asyncio
import errno
import http
import ipaddress
import logging
import math
import resource
import socket
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .logs import SummarisedLog
from .responses import json_bytes

if TYPE_CHECKING:
    from .http_protocol import LimitedProtocol

log = logging.getLogger("lien.web.connections")

#: File descriptors kept for what is not a connection: the database and its WAL, the signing
#: record, log files, the event loop's own, threads' resolvers. ``connections_max`` is derived
#: from RLIMIT_NOFILE minus these.
FDS_RESERVED = 128
#: The derived ``connections_max`` never exceeds this, however high RLIMIT_NOFILE is (memory).
CONNECTIONS_DERIVED_CAP = 10_000
#: Connections accepted per wake-up of the listener (others wait their turn in the backlog).
ACCEPT_BATCH = 64
#: After accept() itself fails (out of descriptors or memory), wait this long before retrying.
ACCEPT_RETRY_S = 1.0
#: Requests a connection may pipeline ahead of their answers (each waits in memory); past it
#: the connection is closed. Browsers and HTTP libraries pipeline none, or a few.
PIPELINED_REQUESTS_MAX = 64


def open_files_max() -> int:
    """This process's soft RLIMIT_NOFILE (what ``ulimit -n`` says)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return CONNECTIONS_DERIVED_CAP * 2 if soft == resource.RLIM_INFINITY else int(soft)


def connections_budget(open_files: int) -> int:
    """The most connections ``open_files`` descriptors allow, leaving ``FDS_RESERVED``."""
    return max(open_files - FDS_RESERVED, open_files // 2)


@dataclass(frozen=True)
class HttpLimits:
    """The server's bounds on connections (the ``[http]`` table of DIR/node.toml; see the
    module docstring). The defaults are those of a process with 1024 open files; use
    ``for_open_files`` (or ``from_table``) to derive the connection counts from the actual
    limit."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 5.0
    send_timeout_s: float = 30.0
    connections_max: int = 896
    streams_max: int = 448
    header_bytes_max: int = 16_384
    url_bytes_max: int = 4_096
    log_interval_s: float = 10.0
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        proxies = self.trusted_proxies
        if not isinstance(proxies, (list, tuple)) or not all(
                isinstance(p, str) and _is_address(p) for p in proxies):
            raise ValueError("[http] trusted_proxies must be a list of IP addresses or networks, "
                             f"not {proxies!r}")
        object.__setattr__(self, "trusted_proxies", tuple(proxies))
        for f in fields(self):
            if f.name == "trusted_proxies":
                continue
            value = getattr(self, f.name)
            kind = int if f.name.endswith("_max") else (int, float)
            if (isinstance(value, bool) or not isinstance(value, kind) or not value > 0
                    or not math.isfinite(value)):  # nan: no timer could be set; inf: none is
                expected = "an integer" if kind is int else "a finite number"
                raise ValueError(f"[http] {f.name} must be {expected} above 0, not {value!r}")
        if self.streams_max >= self.connections_max:
            raise ValueError(f"[http] streams_max ({self.streams_max}) must be below "
                             f"connections_max ({self.connections_max}): streams would fill it")
        if self.url_bytes_max > self.header_bytes_max:
            raise ValueError(f"[http] url_bytes_max ({self.url_bytes_max}) is part of the "
                             f"head: it may not exceed header_bytes_max ({self.header_bytes_max})")

    @classmethod
    def for_open_files(cls, open_files: int, **settings: Any) -> HttpLimits:
        """Limits for a process that may open ``open_files`` descriptors: ``connections_max``
        (when not given) is what they allow (``connections_budget``, at most
        ``CONNECTIONS_DERIVED_CAP``), ``streams_max`` half of it; a ``connections_max`` beyond
        the budget is refused (EMFILE would refuse connections with no answer, or worse, make
        the node fail to write its signing record or open its database)."""
        budget = connections_budget(open_files)
        connections = settings.pop("connections_max", min(budget, CONNECTIONS_DERIVED_CAP))
        if isinstance(connections, int) and connections > budget:
            raise ValueError(
                f"[http] connections_max = {connections} needs more open files than this "
                f"process may have ({open_files}, {FDS_RESERVED} of them kept for the node): "
                f"raise the limit (ulimit -n, systemd LimitNOFILE=) or lower connections_max")
        streams = settings.pop("streams_max", max(1, connections // 2)
                               if isinstance(connections, int) else 1)
        return cls(connections_max=connections, streams_max=streams, **settings)

    @classmethod
    def from_table(cls, table: object, open_files: int | None = None) -> HttpLimits:
        """The ``[http]`` table of node.toml (any subset of the fields); ``ValueError`` names
        an unknown key or a bad value."""
        if not isinstance(table, Mapping):
            raise ValueError("[http] must be a table of settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"[http] has no setting {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        return cls.for_open_files(open_files_max() if open_files is None else open_files,
                                  **dict(table))


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


class Cut(StrEnum):
    """Why the server closed a connection (the kind in the log)."""

    NO_REQUEST = "no_request"
    SLOW_HEADERS = "slow_headers"
    SLOW_BODY = "slow_body"
    SLOW_READER = "slow_reader"
    HEADER_TOO_LARGE = "header_too_large"
    URL_TOO_LONG = "url_too_long"
    MALFORMED = "malformed"
    PIPELINE_TOO_DEEP = "pipeline_too_deep"
    EVICTED = "evicted"
    REFUSED = "refused"
    ACCEPT_FAILED = "accept_failed"


#: Cuts answered before closing: (status, API error code); the codes are in errors.API_CODES.
ANSWERS: dict[Cut, tuple[int, str]] = {
    Cut.SLOW_HEADERS: (408, "request_timeout"),
    Cut.HEADER_TOO_LARGE: (431, "header_too_large"),
    Cut.URL_TOO_LONG: (414, "url_too_long"),
    Cut.MALFORMED: (400, "malformed"),
    Cut.REFUSED: (503, "too_many_connections"),
}


def describe(cut: Cut, limits: HttpLimits) -> str:
    """What happened, naming the setting (for the log and the answer's ``detail``)."""
    return {
        Cut.NO_REQUEST: f"no request within header_timeout_s ({limits.header_timeout_s:g} s)",
        Cut.SLOW_HEADERS: f"request line and headers incomplete after header_timeout_s "
                          f"({limits.header_timeout_s:g} s)",
        Cut.SLOW_BODY: f"request body incomplete after body_timeout_s "
                       f"({limits.body_timeout_s:g} s)",
        Cut.SLOW_READER: f"the client read none of its response for send_timeout_s "
                         f"({limits.send_timeout_s:g} s)",
        Cut.HEADER_TOO_LARGE: f"request line and headers over header_bytes_max "
                              f"({limits.header_bytes_max} bytes)",
        Cut.URL_TOO_LONG: f"request URL over url_bytes_max ({limits.url_bytes_max} bytes)",
        Cut.MALFORMED: "not an HTTP/1.1 request",
        Cut.PIPELINE_TOO_DEEP: f"more than {PIPELINED_REQUESTS_MAX} requests pipelined ahead "
                               f"of their answers",
        Cut.EVICTED: f"waiting for a request, closed to make room for a new connection "
                     f"(connections_max {limits.connections_max})",
        Cut.REFUSED: f"the node's connections_max ({limits.connections_max}) connections are "
                     f"all answering requests; retry later",
        Cut.ACCEPT_FAILED: f"accept() failed; accepting again in {ACCEPT_RETRY_S:g} s",
    }[cut]


def answer_bytes(cut: Cut, limits: HttpLimits,
                 default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """The whole HTTP answer of a refused request: an API error body, then close."""
    status, code = ANSWERS[cut]
    body = json_bytes({"error": {"code": code, "detail": describe(cut, limits)}})
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}".encode()]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [b"content-type: application/json", b"content-length: %d" % len(body),
              b"connection: close"]
    if status == 503:
        lines.append(b"retry-after: 1")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address or "?")


class Pool:
    """The server's connections: how many descriptors they hold, which wait for a request
    (oldest first: the ones closed to make room) and which are being answered."""

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.log = SummarisedLog(log, "connection closed", limits.log_interval_s)
        #: connections accepted whose socket is not closed yet
        self.fds = 0
        #: connections closed to make room whose socket is not released yet
        self.closing = 0
        self._idle: OrderedDict[LimitedProtocol, None] = OrderedDict()
        self._busy: set[LimitedProtocol] = set()

    def cut(self, cut: Cut, peer: Any) -> None:
        self.log.warn(cut.value, f"{_peer(peer)}: {describe(cut, self.limits)}")

    # -- the listener's side ---------------------------------------------------------------
    def full(self) -> bool:
        return self.fds >= self.limits.connections_max

    def make_room(self) -> bool:
        """Close the connection that has waited longest for a request; False when every
        connection is being answered. True also while an earlier one is still closing."""
        if self.closing:
            return True
        if not self._idle:
            return False
        oldest = next(iter(self._idle))
        del self._idle[oldest]
        self.closing += 1
        oldest.evict()
        self.cut(Cut.EVICTED, oldest.client)
        return True

    # -- the connections' side -------------------------------------------------------------
    def opened(self, conn: LimitedProtocol) -> None:
        self._idle[conn] = None

    def waiting(self, conn: LimitedProtocol) -> None:
        """``conn`` waits for its next request (newest of the idle ones)."""
        if conn in self._busy:
            self._busy.discard(conn)
            self._idle[conn] = None
        elif conn in self._idle:
            self._idle.move_to_end(conn)

    def answering(self, conn: LimitedProtocol) -> None:
        """``conn``'s request is complete and being answered: not closed for room."""
        if conn in self._idle:
            del self._idle[conn]
            self._busy.add(conn)

    def closed(self, conn: LimitedProtocol, evicted: bool) -> None:
        """``conn``'s socket is released (its ``connection_lost``)."""
        self.fds -= 1
        if evicted:
            self.closing -= 1
        self._idle.pop(conn, None)
        self._busy.discard(conn)


class Listener:
    """Accepts connections on a listening socket, never past ``connections_max``.

    uvloop's own server accepts every pending connection before it runs any protocol code, so
    no count kept by the protocols can stop a burst from reaching the descriptor limit. This
    one accepts in batches: at ``connections_max`` it first closes the oldest idle connection
    (``Pool.make_room``) and accepts once that socket is released; when every connection is
    busy it answers 503 on the new socket and closes it at once. Connections it does not take
    yet wait in the kernel's backlog, unharmed."""

    def __init__(self, sock: socket.socket, backlog: int, pool: Pool,
                 protocol_factory: Callable[[], asyncio.Protocol]) -> None:
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.pool = pool
        self.protocol_factory = protocol_factory
        self._tasks: set[asyncio.Task[None]] = set()
        self._retry: asyncio.TimerHandle | None = None
        sock.listen(backlog)
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting (server shutdown); connections already open go on."""
        if self._retry is not None:
            self._retry.cancel()
        else:
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            if self.pool.full() and self.pool.make_room():
                return  # accept when the room is made (a socket released)
            try:
                conn, address = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno == errno.ECONNABORTED:
                    continue
                self._pause(exc)
                return
            if self.pool.full():
                self._refuse(conn, address)
                continue
            self.pool.fds += 1
            task = self.loop.create_task(self._connect(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.protocol_factory, conn)
        except OSError:  # the client left before its transport was made
            conn.close()
            self.pool.fds -= 1

    def _refuse(self, conn: socket.socket, address: Any) -> None:
        """Every connection is busy: 503 on the raw socket, closed at once (no descriptor
        kept). What the client sent is read first, so that the close does not reset the
        connection under its answer."""
        self.pool.cut(Cut.REFUSED, address)
        try:
            conn.setblocking(False)
            try:
                conn.recv(65536)
            except OSError:
                pass
            conn.send(answer_bytes(Cut.REFUSED, self.pool.limits, []))
        except OSError:
            pass
        finally:
            conn.close()

    def _pause(self, exc: OSError) -> None:
        self.pool.log.warn(Cut.ACCEPT_FAILED.value,
                           f"{exc.strerror}: {describe(Cut.ACCEPT_FAILED, self.pool.limits)}")
        self.loop.remove_reader(self.sock.fileno())
        self._retry = self.loop.call_later(ACCEPT_RETRY_S, self._resume)

    def _resume(self) -> None:
        self._retry = None
        self.loop.add_reader(self.sock.fileno(), self._accept)
