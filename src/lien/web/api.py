"""The node's web app: the JSON HTTP API under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``)
and the HTML pages at ``/``.

A thin shell over ``Node`` and ``Store``: no SQL here, no business rule. Transactions are read
as raw bytes and parsed by the ledger's strict ``decode_tx`` (no floats, no NaN, no duplicate
keys), never coerced by a model. Status codes (the one translation point is ``errors.py``)::

    200  executed or final (with ``result``: an execution refusal such as
         ``insufficient_funds`` is a *result* recorded on chain, not an HTTP error), or a query
    202  accepted: the ordering log holds it durably, not executed yet (or the bounded wait
         ran out)
    400  admission refused (``malformed``, ``bad_field``, ``amount_invalid``, ``unknown_type``,
         ``bad_signature``, ``missing_signature``, ``wrong_chain``, ``expired``,
         ``expiry_too_far``, ``duplicate``, ``unknown_signer``, ``signer_not_active``), a bad
         query or path parameter (``malformed``), or an account id whose check digits fail
         (``bad_field``)
    404  ``not_found``            405  ``method_not_allowed``
    413  ``too_large`` (checked before parsing)
    429  ``rate_limited`` (with ``Retry-After``): per client address, per account, sign-ups
    503  ``node_halted`` / ``node_busy`` / ``disk_full`` / ``too_many_streams`` (with
         ``Retry-After``)
    500  ``internal``: a bug, logged

The server's connection limits answer before the app (``connections``): 408, 414, 431, 400
and 503 ``too_many_connections``. docs/protocol.md §12 gives the order of these answers.

Layout: ``context`` (settings, the shared context and its dependency), ``params`` (path and
query parameters), ``openapi`` (the document's constraints), ``routes/`` (one router module per
resource), ``pages/`` (HTML pages, where the wallet will mount), ``events`` (the SSE streams),
``admission`` (from a request to the node's queue), ``ratelimit`` (its token buckets),
``metrics`` (``GET /metrics`` for Prometheus, outside ``/api/v1``),
``views`` (JSON of stored records), ``federation_view`` (the node's view of its federation, for
``GET /federation`` and the home page), ``errors``, ``responses``, ``head`` (HEAD on every GET
route), ``server`` with its connection limits (``connections``, ``http_protocol``, ``logs``).

Run it with ``lien.web.make_server(create_app(node))`` (ends event streams before shutdown).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from ..members import Members, MemorySender
from ..node.node import Node
from ..store import Store
from . import errors, metrics, pages, session, wallet_api
from .context import PREFIX, ApiContext, ApiSettings, FederationInfo
from .openapi import add_components, bind_settings, without_422
from .head import HeadAsGet
from .routes import api_router

API_VERSION = "1.0.0"
#: The routes that submit transactions: their error answers count as refused transactions
#: (``metrics``).
SUBMISSIONS = frozenset({f"{PREFIX}/transactions", f"{PREFIX}/transactions/batch",
                         f"{wallet_api.PREFIX}/signup"})

__all__ = ["API_VERSION", "PREFIX", "SUBMISSIONS", "ApiSettings", "FederationInfo",
           "create_app"]


def create_app(node: Node, settings: ApiSettings | None = None,
               members: Members | None = None,
               federation: FederationInfo | None = None) -> FastAPI:
    """The web app of ``node`` (which the caller starts and stops). ``app.state.lien`` is its
    ``ApiContext``; its ``close()`` ends the event streams, and the app's lifespan calls it at
    shutdown. ``members``: the members' service of the wallet (``lien serve`` gives the node
    directory's secret and mail sender); by default, one over the node's database with a
    secret of this process and e-mail kept in memory. ``federation``: how the node is joined to
    others (``lien serve`` gives ``FederationInfo.of`` the federation it opened); by default
    an embedded node, alone."""
    if members is None and isinstance(node.store, Store):
        members = Members(node.store.personal, os.urandom(32), MemorySender())
    ctx = ApiContext(node, settings or ApiSettings(), members, federation)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.close()

    app = FastAPI(
        title="LIEN node API",
        version=API_VERSION,
        description=__doc__,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.lien = ctx

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = add_components(without_422(FastAPI.openapi(app)))
            app.openapi_schema = bind_settings(document, ctx.settings, node.chain_id)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    errors.install(app, metrics.refusal_counter(ctx.counts, SUBMISSIONS))
    session.install(app)
    app.add_middleware(metrics.CountAnswers, counts=ctx.counts)  # inside HeadAsGet
    app.add_middleware(HeadAsGet)
    app.include_router(api_router())
    if ctx.settings.metrics.enabled:
        app.include_router(metrics.router)
    app.include_router(wallet_api.router)
    app.include_router(pages.router)
    app.mount("/static", pages.static_files(), name="static")
    return app
