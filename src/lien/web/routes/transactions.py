"""Submitting transactions and reading their status and receipt.

``POST /transactions`` is the hot path: its handler reads the raw body itself (bounded before
parsing, then the ledger's strict ``decode_tx``: no model coerces a transaction) and answers a
plain ``Response``. Its route is a ``RawRoute``: registered once and documented like the others
(the documented route is the one that runs), but called with the request alone — FastAPI's
dependency solving cost more than all the rest of the framework on that path (measured in
process: ~200 µs against ~90 µs a request) — so it reads ``wait`` and the context itself.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, cast

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.routing import request_response

from ...ledger import Reason, TxError, decode_tx, limits
from .. import errors
from ..admission import WAITS
from ..context import Ctx, context_of
from ..openapi import BATCH, ENVELOPE, ERROR, ERRORS, STATUS, json_200, request_body
from ..params import TxIdPath  # and the {id:tx_id} segment of the paths below
from ..ratelimit import client_address
from ..responses import json_response, read_body

router = APIRouter(tags=["transactions"])

#: Documented here because the hot route's handler reads ``wait`` itself (``RawRoute``).
WAIT_PARAMETER = {
    "name": "wait", "in": "query", "required": False,
    "description": "When to answer: once queued (`accepted`, 202), once `executed`, or once "
                   "`final` (200 with the result, or 202 with the current status when the wait, "
                   "at most `wait_ms_max` = 10 s by default, runs out).",
    "schema": {"type": "string", "enum": list(WAITS), "default": "accepted"},
}


class RawRoute(APIRoute):
    """A documented route, registered once, whose handler is called with the request alone,
    as by a plain Starlette route: no dependency solving and no validation by FastAPI; the
    handler reads and checks what it needs itself, as the document describes it."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        self.app = request_response(
            cast(Callable[[Request], Coroutine[Any, Any, Response]], endpoint))


async def submit_transaction(request: Request) -> Response:
    """The hot path (a ``RawRoute``): ``wait`` and the context are read here, not solved."""
    ctx = context_of(request)
    address = client_address(request)
    ctx.limits.submissions(address)  # before anything is read
    wait = request.query_params.get("wait", "accepted")
    if wait not in WAITS:
        raise TxError(Reason.MALFORMED, f"wait: one of {', '.join(WAITS)}")
    tx = decode_tx(await read_body(request, ctx.settings.request_bytes_max))
    status = await ctx.admission.submit(tx, wait, address)
    return json_response(status.to_json(), 202 if status.state == "accepted" else 200)


router.add_api_route(
    "/transactions",
    submit_transaction,
    methods=["POST"],
    route_class_override=RawRoute,
    summary="Submit one signed transaction",
    description=(
        "The raw envelope `{body, signatures}` as JSON. `wait` chooses when to answer: "
        "`accepted` (default, 202 once queued), `executed` or `final` (200 with the result, "
        "or 202 with the current status when the wait runs out). On a node that is its "
        "chain's only validator a block is final as soon as it is executed: the answer is "
        "`final`, never `executed`.\n\n"
        "An *execution refusal* (e.g. `insufficient_funds`, `unknown_account`) is the recorded "
        "result of an executed transaction: **200** with `result.code`, not an HTTP error. "
        "Admission refusals are 400 (413 for `too_large`); a signer that holds no account "
        "is `unknown_signer`. Past a rate limit (per client address, per account, sign-ups) "
        "the answer is 429 `rate_limited` with `Retry-After` in seconds, and nothing is "
        "queued.\n\n"
        "Resubmitting a known id never executes it again: the answer is its first outcome."
    ),
    responses={200: STATUS, 202: STATUS, 413: ERROR, 429: ERROR, **ERRORS},
    openapi_extra={**request_body(ENVELOPE, "One signed envelope (docs/protocol.md §6)."),
                   "parameters": [WAIT_PARAMETER]},
)


@router.post(
    "/transactions/batch",
    summary="Submit many signed transactions",
    description=(
        f'`{{"transactions": [envelope, ...]}}`, at most {limits.batch_transactions_max} '
        "items. Signatures are verified in parallel; each item gets its own outcome, in "
        "order: `{index, id, status, ...}` as for one transaction, or "
        "`{index, id?, error: {code, detail}}` (`id` when the item parsed). Items are only "
        "queued: follow them with GET /transactions/{id} or the events. A body that is not "
        "strict JSON (a float, NaN, a repeated key, an integer beyond ±(2^53 − 1)) is "
        "refused whole. Rate limits count each item; past one the whole batch is refused, "
        "429 `rate_limited` with `Retry-After`."
    ),
    responses={**json_200("`{items: [...]}`, one per item, in order."), 413: ERROR, 429: ERROR,
               **ERRORS},
    openapi_extra=request_body(BATCH, "A list of envelopes."),
)
async def submit_batch(ctx: Ctx, request: Request) -> Response:
    address = client_address(request)
    ctx.limits.submissions(address)  # one now, the other items once they are counted
    data = await read_body(request, ctx.settings.batch_bytes_max)
    items = await ctx.admission.submit_batch(data, address)
    for item in items:  # refused inside a 200 answer: counted here, the rest by errors
        if item.error is not None:
            ctx.counts.refused(item.error[0])
    return json_response({"items": [item.to_json() for item in items]})


@router.get("/transactions/{id:tx_id}", summary="Status of a transaction",
            description="`accepted`, `executed`, `final` (with result, height, seq) or "
                        "`rejected` (with the admission reason).",
            responses={200: STATUS, **ERRORS})
def transaction_status(ctx: Ctx, id: TxIdPath) -> Response:
    status = ctx.node.status(id.lower())
    if status is None:
        raise errors.NotFound("unknown transaction")
    return json_response(status.to_json())


@router.get("/transactions/{id:tx_id}/receipt", summary="Receipt of an executed transaction",
            description="Checkable offline by anyone: the transaction, its result, the "
                        "Merkle proof to the block header and the validators' signatures.",
            responses={**json_200("The receipt (docs/protocol.md §10.6)."), **ERRORS})
def transaction_receipt(ctx: Ctx, id: TxIdPath) -> Response:
    receipt = ctx.node.receipt(id.lower())
    if receipt is None:
        raise errors.NotFound("no executed transaction with this id")
    return json_response(receipt)
