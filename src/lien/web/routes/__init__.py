"""The JSON API's routers, one module per resource, all under ``/api/v1`` (``PREFIX``).

Each module holds a plain ``router`` whose handlers get what they need through dependencies
(``ctx: Ctx``, ``lien.web.context``), so each route is registered once and the route that the
OpenAPI document describes is the one that runs.

    transactions   POST /transactions, POST /transactions/batch, GET /transactions/{id}[/receipt]
    accounts       GET /accounts/{account_id}, GET /accounts/{account_id}/history
    events         GET /accounts/{account_id}/events (Server-Sent Events)
    blocks         GET /blocks, GET /blocks/certified, GET /blocks/{height}
    currencies     GET /currencies, GET /currencies/{code}
    chain          GET /chain, GET /reasons
    federation     GET /federation
"""

from __future__ import annotations

from fastapi import APIRouter

from ..context import PREFIX
from . import accounts, blocks, chain, currencies, events, federation, transactions


def api_router() -> APIRouter:
    """Every route of the API, under ``PREFIX``."""
    router = APIRouter(prefix=PREFIX)
    for module in (transactions, accounts, events, blocks, currencies, chain, federation):
        router.include_router(module.router)
    return router
