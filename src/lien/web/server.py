"""Serving the API with uvicorn, ending the event streams first when the server stops.

uvicorn's graceful shutdown waits for every open response to finish before it runs the app's
lifespan shutdown; an SSE stream never finishes by itself, so a plain ``uvicorn.Server`` would
wait for ever (or cancel the streams after a timeout). ``Server`` closes the streams first.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from fastapi import FastAPI


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._app.state.lien.hub.close()
        await super().shutdown(sockets)


def make_server(app: FastAPI, host: str = "127.0.0.1", port: int = 8000,
                **options: Any) -> Server:
    """A uvicorn server for ``app`` (from ``create_app``); ``await server.serve()`` runs it.

    Access logs are off by default: at thousands of requests per second they cost more than
    they tell (and URLs name accounts). So are proxy headers (``X-Forwarded-For``), which cost
    an address parse per request: pass ``proxy_headers=True`` behind a trusted proxy.
    """
    options.setdefault("access_log", False)
    options.setdefault("proxy_headers", False)
    options.setdefault("log_level", "warning")
    options.setdefault("http", "httptools")
    options.setdefault("lifespan", "on")
    config = uvicorn.Config(app, host=host, port=port, **options)
    return Server(config, app)
