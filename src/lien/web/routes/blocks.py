"""Blocks: their headers, validator signatures, finality and transaction ids."""

from __future__ import annotations

from typing import Annotated

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
