"""The node's JSON HTTP API, under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``).

A thin shell over ``Node`` and ``Store``: no SQL here, no business rule. Transactions are read
as raw bytes and parsed by the ledger's strict ``decode_tx`` (no floats, no NaN, no duplicate
keys), never coerced by a model. Status codes (the one translation point is ``errors.py``)::

    200  executed or final (with ``result``: an execution refusal such as
         ``insufficient_funds`` is a *result* recorded on chain, not an HTTP error), or a query
    202  accepted: queued, not executed yet (or the bounded wait ran out)
    400  admission refused (``malformed``, ``bad_field``, ``amount_invalid``, ``unknown_type``,
         ``bad_signature``, ``missing_signature``, ``wrong_chain``, ``expired``,
         ``expiry_too_far``, ``duplicate``), or a bad query or path parameter (``malformed``)
    404  ``not_found``            413  ``too_large`` (checked before parsing)
    503  ``node_halted`` / ``node_busy`` (with ``Retry-After``)

Run it with ``lien.web.make_server(create_app(node))`` (ends event streams before shutdown).
There is no per-client rate limit yet: put the node behind a proxy that has one.
"""

# No `from __future__ import annotations`: FastAPI reads the parameters' annotations, which
# name the settings of the enclosing create_app.
import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.routing import Route

from ..ledger import DESCRIPTIONS, Reason, TxError, decode_tx, limits, parse_account_id
from ..ledger.reasons import ADMISSION
from ..node.node import Node
from . import errors, views
from .admission import WAITS, Admission
from .events import EventHub, stream
from .home import home_router
from .responses import json_response, read_body

PREFIX = "/api/v1"
API_VERSION = "1.0.0"
_TX_ID = re.compile(r"[0-9a-fA-F]{64}")
#: Bound of integers in query and path parameters (JavaScript-safe, fits SQLite's INTEGER).
_INT_MAX = 2**53 - 1


@dataclass(frozen=True)
class ApiSettings:
    """Named bounds of the API (the ledger's protocol limits are in ``lien.ledger.limits``)."""

    #: Longest a request waits for ``wait=executed|final`` before answering 202.
    wait_ms_max: int = 10_000
    #: Threads that verify signatures and enqueue, off the event loop.
    admission_threads: int = 4
    #: Largest body of POST /transactions (one encoded transaction).
    request_bytes_max: int = limits.transaction_bytes_max
    #: Largest body of POST /transactions/batch: a full batch of full transactions.
    batch_bytes_max: int = limits.batch_transactions_max * (limits.transaction_bytes_max + 2) + 64
    history_page_max: int = 200
    blocks_page_max: int = 200
    sse_heartbeat_s: float = 15.0
    sse_queue_events_max: int = 1000
    sse_backlog_events_max: int = 200


class ApiContext:
    """What the routes share: the node, the admission pipeline and the event hub."""

    def __init__(self, node: Node, settings: ApiSettings) -> None:
        self.node = node
        self.store = node.store
        self.settings = settings
        self.admission = Admission(node, settings.admission_threads, settings.wait_ms_max)
        self.hub = EventHub(settings.sse_queue_events_max)
        node.add_listener(self.hub.publish)
        self.hot_routes: list[Route] = []
        self._closed = False

    def close(self) -> None:
        """End the event streams and release the threads; the node itself keeps running."""
        if self._closed:
            return
        self._closed = True
        self.hub.close()
        self.node.remove_listener(self.hub.publish)
        self.admission.close()


# -- parameters -----------------------------------------------------------------------------------
def tx_id(text: str) -> str:
    if not _TX_ID.fullmatch(text):
        raise TxError(Reason.BAD_FIELD, "a transaction id is 64 hex digits")
    return text.lower()


def account_param(text: str) -> str:
    """Accept what people type (lower case, hyphens, spaces, Crockford look-alikes)."""
    if len(text) > 64:
        raise TxError(Reason.BAD_FIELD, "not an account id")
    return parse_account_id(text)


TxIdPath = Annotated[str, Path(description="Transaction id: 64 hex digits.")]
AccountPath = Annotated[
    str, Path(description="Account id, e.g. `K7QM-3XZ9-WT42` (case, hyphens, spaces ignored).")
]

# -- OpenAPI documentation ------------------------------------------------------------------------
_ERROR = {
    "description": "An error: `{\"error\": {\"code\": <reason>, \"detail\": <text>}}`.",
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "detail"], "properties": {
            "code": {"type": "string"}, "detail": {"type": "string"}}}},
    }}},
}
_ERRORS: dict[int | str, dict[str, Any]] = {400: _ERROR, 404: _ERROR, 503: _ERROR}
_SIGNATURE = {"type": "object", "required": ["key", "sig"], "properties": {
    "key": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    "sig": {"type": "string", "pattern": "^[0-9a-f]{128}$"}}}
_ENVELOPE = {
    "type": "object",
    "required": ["body", "signatures"],
    "properties": {
        "body": {"type": "object", "description": (
            "`chain`, `type`, `expires` (ms), `nonce` and the fields of the type; amounts are "
            "integers of minor units (centimes). See docs/protocol.md.")},
        "signatures": {"type": "array", "items": _SIGNATURE, "maxItems": limits.signatures_max},
    },
}


def _body_doc(schema: dict[str, Any], limit: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": f"At most {limit}.",
                            "content": {"application/json": {"schema": schema}}}}


_WAIT_DOC = {"name": "wait", "in": "query", "required": False,
             "description": "When to answer: once queued, executed, or final.",
             "schema": {"type": "string", "enum": list(WAITS), "default": "accepted"}}
_STATUS_DOC = {"description": "`{id, status, result?, height?, seq?, reason?, detail?}`"}


def _routes(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    node, store, settings = ctx.node, ctx.store, ctx.settings

    async def submit_transaction(request: Request) -> Response:
        wait = request.query_params.get("wait", "accepted")
        if wait not in WAITS:
            raise TxError(Reason.MALFORMED, f"wait: one of {', '.join(WAITS)}")
        tx = decode_tx(await read_body(request, settings.request_bytes_max))
        status = await ctx.admission.submit(tx, wait)
        return json_response(status.to_json(), 202 if status.state == "accepted" else 200)

    # The hot path: a plain Starlette route, matched before the documented FastAPI route of
    # the same endpoint (which only serves the OpenAPI document): no dependency solving,
    # no model. Errors still go through the app's exception handlers.
    ctx.hot_routes.append(Route(f"{PREFIX}/transactions", submit_transaction, methods=["POST"]))
    router.add_api_route(
        "/transactions",
        submit_transaction,
        methods=["POST"],
        summary="Submit one signed transaction",
        description=(
            "The raw envelope `{body, signatures}` as JSON. `wait` chooses when to answer: "
            "`accepted` (default, 202 once queued), `executed` or `final` (200 with the "
            f"result, or 202 with the current status after {settings.wait_ms_max} ms).\n\n"
            "An *execution refusal* (e.g. `insufficient_funds`, `unknown_account`) is the "
            "recorded result of an executed transaction: **200** with `result.code`, not an "
            "HTTP error. Admission refusals are 400 (413 for `too_large`).\n\n"
            "Resubmitting a known id never executes it again: the answer is its first outcome."
        ),
        responses={200: _STATUS_DOC, 202: _STATUS_DOC, 413: _ERROR, **_ERRORS},
        openapi_extra={**_body_doc(_ENVELOPE, f"{settings.request_bytes_max} bytes"),
                       "parameters": [_WAIT_DOC]},
    )

    @router.post(
        "/transactions/batch",
        summary="Submit many signed transactions",
        description=(
            f'`{{"transactions": [envelope, ...]}}`, at most {limits.batch_transactions_max} '
            "items. Signatures are verified in parallel; each item gets its own outcome "
            "(`{index, id, status}` or `{index, id?, error: {code, detail}}`), in order. "
            "Items are only queued: follow them with GET /transactions/{id} or the events. "
            "A body that is not strict JSON (a float, NaN, a repeated key) is refused whole."
        ),
        responses={200: {"description": "`{items: [...]}`"}, 413: _ERROR, **_ERRORS},
        openapi_extra=_body_doc(
            {"type": "object", "required": ["transactions"], "properties": {
                "transactions": {"type": "array", "items": _ENVELOPE,
                                 "maxItems": limits.batch_transactions_max}}},
            f"{settings.batch_bytes_max} bytes"),
    )
    async def submit_batch(request: Request) -> Response:
        data = await read_body(request, settings.batch_bytes_max)
        items = await ctx.admission.submit_batch(data)
        return json_response({"items": [item.to_json() for item in items]})

    @router.get("/transactions/{id}", summary="Status of a transaction",
                description="`accepted`, `executed`, `final` (with result, height, seq) or "
                            "`rejected` (with the admission reason).",
                responses={200: _STATUS_DOC, **_ERRORS})
    def transaction_status(id: TxIdPath) -> Response:
        status = node.status(tx_id(id))
        if status is None:
            raise errors.NotFound("unknown transaction")
        return json_response(status.to_json())

    @router.get("/transactions/{id}/receipt", summary="Receipt of an executed transaction",
                description="Checkable offline by anyone: the transaction, its result, the "
                            "Merkle proof to the block header and the validators' signatures.",
                responses=_ERRORS)
    def transaction_receipt(id: TxIdPath) -> Response:
        receipt = node.receipt(tx_id(id))
        if receipt is None:
            raise errors.NotFound("no executed transaction with this id")
        return json_response(receipt)

    def known_account(text: str) -> str:
        account = account_param(text)
        if store.account_row(account) is None:
            raise errors.NotFound("unknown account")
        return account

    @router.get("/accounts/{account_id}", summary="An account and its balances",
                description="Kind, keys, delegations and, per currency: status, roles, "
                            "nantie, credit, floor, ceiling (integers `*_minor` with a French "
                            "`*_text` for display). 400 `bad_field` for a typo in the id.",
                responses=_ERRORS)
    def get_account(account_id: AccountPath) -> Response:
        row = store.account_row(account_param(account_id))
        if row is None:
            raise errors.NotFound("unknown account")
        return json_response(views.account(*row))

    @router.get("/accounts/{account_id}/history", summary="An account's transactions",
                description="Newest first, in `seq` order. Pass the returned `next` as "
                            "`before` for the next page; `next` is null on the last page.",
                responses=_ERRORS)
    def account_history(
        account_id: AccountPath,
        before: Annotated[int | None, Query(ge=0, le=_INT_MAX)] = None,
        limit: Annotated[int, Query(ge=1, le=settings.history_page_max)] = 50,
    ) -> Response:
        account = known_account(account_id)
        rows = store.history(account, before, limit + 1)
        page = rows[:limit]
        return json_response({
            "account": account,
            "items": [views.history_item(r) for r in page],
            "next": page[-1].seq if len(rows) > limit else None,
        })

    @router.get("/accounts/{account_id}/events", summary="Live events of an account (SSE)",
                description="`text/event-stream`: one `transaction` event per executed "
                            "transaction touching the account (`id:` is its seq). Reconnect "
                            "with `Last-Event-ID` to replay what was missed; `overflow` means "
                            "reload the history.",
                response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {}}}, **_ERRORS})
    async def account_events(account_id: AccountPath, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        account = await loop.run_in_executor(None, known_account, account_id)
        last = request.headers.get("last-event-id")
        if last is not None and not (last.isascii() and last.isdigit() and len(last) < 16):
            raise TxError(Reason.MALFORMED, "Last-Event-ID is a seq (an integer)")
        sub = ctx.hub.subscribe(account)
        backlog = None
        if last is not None:
            after = int(last)

            def backlog() -> tuple[list[dict[str, Any]], bool]:
                return _backlog(ctx, account, after)

        body = stream(ctx.hub, sub, backlog, lambda: not node.running,
                      settings.sse_heartbeat_s)
        return StreamingResponse(body, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    @router.get("/blocks", summary="Blocks after a height",
                description="Oldest first; pass the returned `next` as `after`.",
                responses={400: _ERROR})
    def list_blocks(
        after: Annotated[int, Query(ge=0, le=_INT_MAX)] = 0,
        limit: Annotated[int, Query(ge=1, le=settings.blocks_page_max)] = 50,
    ) -> Response:
        rows = store.blocks(after, limit + 1)
        page = rows[:limit]
        return json_response({
            "items": [views.block(b, node.validators) for b in page],
            "next": page[-1].header.height if len(rows) > limit else None,
        })

    @router.get("/blocks/{height}", summary="One block",
                description="Header, hash, validator signatures, finality and transaction ids.",
                responses=_ERRORS)
    def get_block(height: Annotated[int, Path(ge=1, le=_INT_MAX)]) -> Response:
        block = store.block(height)
        if block is None:
            raise errors.NotFound("no block at this height")
        data = views.block(block, node.validators)
        data["transactions"] = [s.tx.id for s in store.block_txs(block)]
        return json_response(data)

    @router.get("/chain", summary="This chain",
                description="Chain id, genesis document, height, last hash and validators.")
    def get_chain() -> Response:
        last = store.last_block()
        config = node.config
        return json_response({
            "chain_id": node.chain_id,
            "genesis": config.to_json(),
            "genesis_root": config.genesis_root().hex(),
            "height": last.header.height if last else 0,
            "last_hash": last.header.hash if last else config.genesis_root().hex(),
            "time_ms": last.header.time_ms if last else config.genesis_time_ms,
            "validators": list(config.validators),
            "node": {"running": node.running, "halted": node.failure is not None},
        })

    @router.get("/reasons", summary="Every reason and error code",
                description="The ledger's reason codes (admission and execution) with their "
                            "description, and the API's own error codes.")
    def get_reasons() -> Response:
        return json_response({
            "reasons": [
                {"code": r.value, "family": _family(r), "http_status": _http(r),
                 "description": DESCRIPTIONS[r]}
                for r in Reason
            ],
            "api_errors": [{"code": c, "description": d} for c, d in errors.API_CODES.items()],
        })

    return router


def _family(reason: Reason) -> str:
    if reason is Reason.OK:
        return "ok"
    return "admission" if reason in ADMISSION else "execution"


def _http(reason: Reason) -> int:
    return errors.http_status(reason) if reason in ADMISSION else 200


def _backlog(ctx: ApiContext, account: str, after: int) -> tuple[list[dict[str, Any]], bool]:
    """Events of ``account`` after seq ``after``, oldest first; True when some are too old."""
    size = ctx.settings.sse_backlog_events_max
    rows = ctx.store.history(account, None, size + 1)
    missed = [r for r in rows if r.seq > after]
    if len(missed) > size:
        return [], True
    final: dict[int, bool] = {}
    events = []
    for r in reversed(missed):
        if r.height not in final:
            block = ctx.store.block(r.height)
            final[r.height] = block is not None and ctx.node.validators.is_final(
                block.header.hash, block.signatures)
        events.append({"id": r.tx.id, "type": r.tx.type, "result": r.result,
                       "height": r.height, "seq": r.seq,
                       "status": "final" if final[r.height] else "executed"})
    return events, False


def _without_422(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents a 422 for its validation errors; this API answers them 400
    ``malformed`` (``errors.py``), documented as such: drop the 422 and its schemas."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if document.get("components") == {"schemas": {}}:
        del document["components"]
    return document


def create_app(node: Node, settings: ApiSettings | None = None) -> FastAPI:
    """The API of ``node`` (which the caller starts and stops). ``app.state.lien.close()``
    ends the event streams; the app's lifespan calls it at shutdown."""
    ctx = ApiContext(node, settings or ApiSettings())

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
        return app.openapi_schema or _without_422(FastAPI.openapi(app))

    app.openapi = openapi  # type: ignore[method-assign]
    errors.install(app)
    app.include_router(_routes(ctx))
    app.include_router(home_router(node))
    app.router.routes[0:0] = ctx.hot_routes
    return app
