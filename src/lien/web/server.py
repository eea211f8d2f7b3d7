"""Serving the API with uvicorn, within connection limits, ending the event streams first when
the server stops.

uvicorn's graceful shutdown waits for every open response to finish before it runs the app's
lifespan shutdown; an SSE stream never finishes by itself, so a plain ``uvicorn.Server`` would
wait for ever (or cancel the streams after a timeout). ``Server`` closes the streams first.

``Server`` also accepts the connections itself (``connections.Listener``) rather than through
the event loop's server, and each connection is a ``connections.LimitedProtocol``: deadlines and
bounds on requests, and never more connections than ``HttpLimits.connections_max``.
"""

from __future__ import annotations

import functools
import logging
import socket
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI

from .connections import HttpLimits, Listener, Pool
from .http_protocol import LimitedProtocol

logger = logging.getLogger("uvicorn.error")


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, limits: HttpLimits) -> None:
        super().__init__(config)
        self._app = app
        self.limits = limits
        self.pool = Pool(limits)
        self.listeners: list[Listener] = []

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup (lifespan, then listen), with our listener on each socket."""
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            self.should_exit = True
            return
        config = self.config
        if config.ssl is not None or config.uds is not None or config.fd is not None:
            raise ValueError("lien serves plain TCP: put TLS in a reverse proxy in front")
        try:
            listening = sockets or [_bind(config.host, config.port)]
        except OSError as exc:
            logger.error(exc)
            await self.lifespan.shutdown()
            sys.exit(1)
        factory = functools.partial(LimitedProtocol, config=config,
                                    server_state=self.server_state,
                                    app_state=self.lifespan.state, pool=self.pool)
        self.listeners = [Listener(sock, config.backlog, self.pool, factory)
                          for sock in listening]
        self.servers = []
        self.started = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in self.listeners:
            listener.close()
        self._app.state.lien.hub.close()
        await super().shutdown(sockets)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def make_server(app: FastAPI, host: str = "127.0.0.1", port: int = 8000,
                limits: HttpLimits | None = None, **options: Any) -> Server:
    """A uvicorn server for ``app`` (from ``create_app``); ``await server.serve()`` runs it.

    ``limits`` bound its connections (``connections.HttpLimits``; by default derived from this
    process's open-files limit). The app's own bound on event streams is its
    ``ApiSettings.sse_streams_max``: pass ``limits.streams_max`` there.

    Access logs are off by default: at thousands of requests per second they cost more than
    they tell (and URLs name accounts). So are proxy headers (``X-Forwarded-For``), which cost
    an address parse per request: they are read only from ``limits.trusted_proxies``.
    """
    limits = limits or HttpLimits.from_table({})
    options.setdefault("access_log", False)
    if limits.trusted_proxies:
        options["proxy_headers"] = True
        options["forwarded_allow_ips"] = ",".join(limits.trusted_proxies)
    options.setdefault("proxy_headers", False)
    options.setdefault("log_level", "warning")
    options.setdefault("lifespan", "on")
    options["http"] = "httptools"  # LimitedProtocol is uvicorn's httptools protocol
    options["ws"] = "none"
    config = uvicorn.Config(app, host=host, port=port, **options)
    return Server(config, app, limits)
