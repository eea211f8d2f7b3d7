"""Blocks: their headers, validator signatures, finality and transaction ids; and the certified
blocks whole, for the nodes that catch up from this one (``lien.federation.catchup``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from .. import errors, views
from ..context import PAGE_DEFAULT, Ctx
from ..openapi import ERRORS, QUERY_ERRORS, json_200
from ..params import INT_MAX, Digits, page_limit
from ..responses import json_response

router = APIRouter(tags=["blocks"])


@router.get("/blocks", summary="Blocks after a height",
            description=f"Oldest first, `limit` per page ({PAGE_DEFAULT} when not given); pass "
                        "the returned `next` as `after` (`next` is null on the last page).",
            responses={**json_200("`{items: [block], next}`"), **QUERY_ERRORS})
def list_blocks(
    ctx: Ctx,
    after: Annotated[int, Query(ge=0, le=INT_MAX, description="Blocks above this height."), Digits] = 0,
    limit: Annotated[int, Query(ge=1, description="Page size."), Digits] = PAGE_DEFAULT,
) -> Response:
    size = page_limit(limit, ctx.settings.blocks_page_max)
    rows = ctx.store.blocks(after, size + 1)
    page = rows[:size]
    return json_response({
        "items": [views.block(b, ctx.node.is_final(b.header.height)) for b in page],
        "next": page[-1].header.height if len(rows) > size else None,
    })


@router.get("/blocks/certified", summary="Certified blocks after a height, whole",
            description="Replication: what a node that joins or catches up re-executes. Only "
                        "final blocks (a certificate of more than 2/3 of the validators), "
                        f"oldest first, `limit` per page ({PAGE_DEFAULT} when not given), "
                        "fewer when they hold more than `certified_page_transactions_max` "
                        "transactions (always one whole block). Each block: `height`, `hash`, "
                        "`header`, `signatures` (its certificate), `log_position` (the "
                        "ordering-log entry that closed it) and `transactions`: "
                        "`[{tx, result}]`, each the exact canonical JSON text of the envelope "
                        "and of its recorded result, in block order. Pass `next` as `after` "
                        "(`next` is null when no final block follows the page, or the next "
                        "one still waits for its own certificate: ask again later); "
                        "`final_height` is the node's.",
            responses={**json_200("`{items: [certified block], next, final_height}`"),
                       **QUERY_ERRORS})
def list_certified_blocks(
    ctx: Ctx,
    after: Annotated[int, Query(ge=0, le=INT_MAX, description="Blocks above this height."), Digits] = 0,
    limit: Annotated[int, Query(ge=1, description="Page size (blocks)."), Digits] = PAGE_DEFAULT,
) -> Response:
    size = page_limit(limit, ctx.settings.certified_page_max)
    final = ctx.node.summary.final_height  # blocks above it are not served, even if stored
    items: list[dict[str, Any]] = []
    last, transactions = after, 0
    if after < final:
        budget = ctx.settings.certified_page_transactions_max
        for block, raws in ctx.store.iter_blocks(after=after, through=min(final, after + size)):
            transactions += len(raws)
            if items and transactions > budget:
                break  # between two reads of the store: no query stays open
            in_force = ctx.node.validators.at(block.header.height)
            if sum(key in in_force.keys for key in block.signatures) < in_force.quorum:
                # final through a later block, its own certificate not yet gathered: a
                # receiver checks each block's own; it asks again later
                final = last
                break
            items.append(views.certified_block(block, raws))
            last = block.header.height
    return json_response({"items": items, "next": last if items and last < final else None,
                          "final_height": final})


@router.get("/blocks/{height}", summary="One block",
            description="Header, hash, validator signatures, finality and transaction ids.",
            responses={**json_200("The block."), **ERRORS})
def get_block(ctx: Ctx, height: Annotated[int, Path(ge=1, le=INT_MAX)]) -> Response:
    block = ctx.store.block(height)
    if block is None:
        raise errors.NotFound("no block at this height")
    data = views.block(block, ctx.node.is_final(height))
    data["transactions"] = [s.tx.id for s in ctx.store.block_txs(block)]
    return json_response(data)
