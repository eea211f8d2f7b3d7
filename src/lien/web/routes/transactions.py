"""Submitting transactions and reading their status and receipt.

``POST /transactions`` is the hot path: its handler reads the raw body itself (bounded before
parsing, then the ledger's strict ``decode_tx``: no model coerces a transaction) and answers a
plain ``Response``; its only parameter besides the request is ``wait``, and the context comes
from an ``async`` dependency (no thread hop). The documented route is the one that runs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from ...ledger import decode_tx, limits
from .. import errors
from ..context import Ctx
from ..openapi import BATCH, ENVELOPE, ERROR, ERRORS, STATUS, json_200, request_body
from ..params import TxIdPath  # and the {id:tx_id} segment of the paths below
from ..responses import json_response, read_body

router = APIRouter(tags=["transactions"])

Wait = Literal["accepted", "executed", "final"]
WaitQuery = Annotated[Wait, Query(
    description="When to answer: once queued (`accepted`, 202), once `executed`, or once "
                "`final` (200 with the result, or 202 with the current status when the wait, "
                "at most `wait_ms_max` = 10 s by default, runs out).")]


@router.post(
    "/transactions",
    summary="Submit one signed transaction",
    description=(
        "The raw envelope `{body, signatures}` as JSON. `wait` chooses when to answer: "
        "`accepted` (default, 202 once queued), `executed` or `final` (200 with the result, "
        "or 202 with the current status when the wait runs out). On a node that is its "
        "chain's only validator a block is final as soon as it is executed: the answer is "
        "`final`, never `executed`.\n\n"
        "An *execution refusal* (e.g. `insufficient_funds`, `unknown_account`) is the recorded "
        "result of an executed transaction: **200** with `result.code`, not an HTTP error. "
        "Admission refusals are 400 (413 for `too_large`).\n\n"
        "Resubmitting a known id never executes it again: the answer is its first outcome."
    ),
    responses={200: STATUS, 202: STATUS, 413: ERROR, **ERRORS},
    openapi_extra=request_body(ENVELOPE, "One signed envelope (docs/protocol.md §6)."),
)
async def submit_transaction(ctx: Ctx, request: Request, wait: WaitQuery = "accepted",
                             ) -> Response:
    tx = decode_tx(await read_body(request, ctx.settings.request_bytes_max))
    status = await ctx.admission.submit(tx, wait)
    return json_response(status.to_json(), 202 if status.state == "accepted" else 200)


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
        "refused whole."
    ),
    responses={**json_200("`{items: [...]}`, one per item, in order."), 413: ERROR, **ERRORS},
    openapi_extra=request_body(BATCH, "A list of envelopes."),
)
async def submit_batch(ctx: Ctx, request: Request) -> Response:
    data = await read_body(request, ctx.settings.batch_bytes_max)
    items = await ctx.admission.submit_batch(data)
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
