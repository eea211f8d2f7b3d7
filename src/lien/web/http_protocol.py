"""One connection of the HTTP server: uvicorn's httptools protocol with deadlines while a
request arrives, a bounded request head, and its place in the server's ``connections.Pool``.

The bounds, and what happens past them, are described in ``connections``; here is only how one
connection keeps them. One read timer at a time: the header deadline runs from the opening (or the
next request's first byte) to the end of the headers, then the body deadline to the end of the
body; uvicorn's keep-alive timer runs between requests, and a send timer while the client does
not read what is written to it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools  # type: ignore[import-untyped]  # no type information; two exceptions used
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from .connections import ANSWERS, PIPELINED_REQUESTS_MAX, Cut, Pool, answer_bytes


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request that is refused."""


class LimitedProtocol(HttpToolsProtocol):
    """One connection (see the module docstring). The end of uvicorn's keep-alive timer is the
    normal end of a connection: it is not logged."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 pool: Pool, _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.pool = pool
        self.limits = pool.limits
        self._timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        #: bytes of the request head received so far; -1 when no request is being read
        self._head_bytes = -1
        #: requests begun so far (tells whether the head being read began in this packet)
        self._heads_begun = 0
        self._url_bytes = 0
        self._body_pending = False
        self._refusal: Cut | None = None
        #: the request being answered (uvicorn's ``cycle`` is the last one read: with
        #: pipelined requests, another)
        self._answering: RequestResponseCycle | None = None
        self._evicted = False

    # -- timers ----------------------------------------------------------------------------
    def _arm(self, delay_s: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay_s, self._read_timeout)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _read_timeout(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes >= 0:
            self._answer(Cut.SLOW_HEADERS)
        else:
            self._abort(Cut.SLOW_BODY if self._body_pending else Cut.NO_REQUEST)

    # -- ending a connection ---------------------------------------------------------------
    def _answer(self, cut: Cut) -> None:
        """Refuse the request being read: answer (unless another response is under way on
        this connection) and close."""
        self._disarm()
        self._unset_keepalive_if_required()
        if cut in ANSWERS and (self.cycle is None or self.cycle.response_complete):
            self.transport.write(
                answer_bytes(cut, self.limits, self.server_state.default_headers))
        self.transport.close()
        self.pool.cut(cut, self.client)

    def _abort(self, cut: Cut) -> None:
        self._disarm()
        self._unset_keepalive_if_required()
        self.transport.abort()
        self.pool.cut(cut, self.client)

    def evict(self) -> None:
        """Closed by the pool to make room (it logs it)."""
        self._evicted = True
        self._disarm()
        self._unset_keepalive_if_required()
        self.transport.abort()

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.pool.opened(self)
        self._arm(self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        self.pool.closed(self, self._evicted)
        # uvicorn tells only the last request read that the client left: with pipelined
        # requests the one being answered would write to a closed transport (a RuntimeError).
        for cycle in (self._answering, *(cycle for cycle, _app in self.pipeline)):
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        heads_begun = self._heads_begun
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            return  # no WebSocket here: the request was handed to the app as plain HTTP
        except httptools.HttpParserError:
            self._answer(self._refusal or Cut.MALFORMED)
            return
        if self._head_bytes >= 0:  # a head still incomplete: bound what it may hold
            if self._heads_begun == heads_begun:  # all of this packet is that head's
                self._head_bytes += len(data)
            else:  # it began in this packet: at most what follows the last end of a head
                end = data.rfind(b"\r\n\r\n")
                self._head_bytes = len(data) - (end + 4) if end >= 0 else len(data)
            if self._head_bytes > self.limits.header_bytes_max:
                self._answer(Cut.HEADER_TOO_LARGE)
        elif self._body_pending and self._timer is None:
            self._arm(self.limits.body_timeout_s)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.limits.send_timeout_s,
                                                    self._send_timeout)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_timeout(self) -> None:
        self._send_timer = None
        if not self.transport.is_closing():
            self._abort(Cut.SLOW_READER)

    # -- parser callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._heads_begun += 1
        self._url_bytes = 0
        if self._timer is None:  # the next request on a kept-alive connection
            self._arm(self.limits.header_timeout_s)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.url_bytes_max:
            self._refusal = Cut.URL_TOO_LONG
            raise _Refused

    def on_headers_complete(self) -> None:
        # The head as sent, within a few bytes (the method, spaces and version are not kept).
        head_bytes = 16 + len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if head_bytes > self.limits.header_bytes_max:
            self._refusal = Cut.HEADER_TOO_LARGE
            raise _Refused
        if len(self.pipeline) >= PIPELINED_REQUESTS_MAX:  # each waits in memory
            self._refusal = Cut.PIPELINE_TOO_DEEP
            raise _Refused
        self._head_bytes = -1
        self._disarm()
        self._body_pending = True
        super().on_headers_complete()
        if not (self.pipeline and self.pipeline[0][0] is self.cycle):  # not queued: started
            self._answering = self.cycle

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._body_pending = False
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            self.pool.answering(self)

    def on_response_complete(self) -> None:
        # uvicorn's, with the pool told and the idle timeout of the limits.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._answering = cycle
            task = self.loop.create_task(cycle.run_asgi(app))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)
        else:
            self.pool.waiting(self)
            self.timeout_keep_alive_task = self.loop.call_later(
                self.limits.idle_timeout_s, self.timeout_keep_alive_handler)
