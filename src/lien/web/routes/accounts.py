"""An account and its history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from ...ledger.state import Order
from ...wallet.requests import requests_of
from .. import errors, views
from ..context import PAGE_DEFAULT, Ctx
from ..openapi import ERRORS, json_200
from ..params import INT_MAX, AccountPath, Digits, account_param, known_account, page_limit
from ..responses import json_response

router = APIRouter(tags=["accounts"])

#: newest history items read to find an account's payment requests and what settled them
REQUESTS_HISTORY_ROWS_MAX = 2000
#: standing orders listed for one account (as payer and as payee), the newest due first
ORDERS_LISTED_MAX = 200

_MEMBERSHIP: dict[str, Any] = {"type": "object", "required": [
    "currency", "status", "roles", "nantie_minor", "nantie_text", "credit_minor", "credit_text",
    "floor_minor", "floor_text", "ceiling_minor", "ceiling_text", "balance_minor",
    "balance_text"]}
ACCOUNT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "display", "kind", "keys", "delegations", "recovery", "currencies"],
    "properties": {"currencies": {"type": "array", "items": _MEMBERSHIP}},
}


@router.get("/accounts/{account_id}", summary="An account and its balances",
            description="Kind, keys, delegations, pending recovery and, per currency: status, "
                        "roles, nantie, credit, floor, ceiling and balance (integers `*_minor` "
                        "with a French `*_text` for display). See docs/protocol.md §12.",
            responses={**json_200("The account.", ACCOUNT_SCHEMA), **ERRORS})
def get_account(ctx: Ctx, account_id: AccountPath) -> Response:
    row = ctx.store.account_row(account_param(account_id))
    if row is None:
        raise errors.NotFound("unknown account")
    return json_response(views.account(*row))


@router.get("/accounts/{account_id}/history", summary="An account's transactions",
            description="Newest first, in `seq` order; `limit` items per page "
                        f"({PAGE_DEFAULT} when not given). Pass the returned "
                        "`next` as `before` for the next page; `next` is null on the last page.",
            responses={**json_200("`{account, items: [{seq, height, id, type, tx, result}], "
                                  "next}`"), **ERRORS})
def account_history(
    ctx: Ctx,
    account_id: AccountPath,
    before: Annotated[int | None, Query(ge=0, le=INT_MAX, description=(
        "Only items with a smaller `seq` (the `next` of the previous page).")), Digits] = None,
    limit: Annotated[int, Query(ge=1, description="Page size."), Digits] = PAGE_DEFAULT,
) -> Response:
    size = page_limit(limit, ctx.settings.history_page_max)
    account = known_account(ctx, account_id)
    rows = ctx.store.history(account, before, size + 1)
    page = rows[:size]
    return json_response({
        "account": account,
        "items": [views.history_item(r) for r in page],
        "next": page[-1].seq if len(rows) > size else None,
    })


@router.get("/accounts/{account_id}/requests", summary="An account's payment requests",
            description="The payment requests (`request_payment`) the account sent or was "
                        "asked to pay, newest first, each with its status derived from the "
                        "chain: `open`, `paid`, `declined` or `expired` (docs/protocol.md, "
                        "\"Payment requests\"). Read from the account's newest "
                        f"{REQUESTS_HISTORY_ROWS_MAX} history items.",
            responses={**json_200("`{account, requests: [{id, seq, from, to, role, currency, "
                                  "amount_minor, reference, memo, payee_key, expires_ms, "
                                  "status, settled_by, refused_payments}]}`"), **ERRORS})
def account_requests(ctx: Ctx, account_id: AccountPath) -> Response:
    account = known_account(ctx, account_id)
    rows = ctx.store.history(account, None, REQUESTS_HISTORY_ROWS_MAX)
    found = requests_of(account, (views.history_item(r) for r in rows), ctx.node.clock())
    return json_response({"account": account, "requests": [r.to_json() for r in found]})


def order_json(order: Order, account: str) -> dict[str, Any]:
    """A standing order as the API shows it to ``account`` (its payer or its payee)."""
    return {
        "id": order.id, "from": order.payer, "to": order.payee,
        "role": "payer" if order.payer == account else "payee",
        "currency": order.currency, "amount_minor": order.amount, "period": order.period,
        "first_due_ms": order.first_due_ms,
        "next_due_ms": order.next_due_ms if order.status == "active" else None,
        "runs": order.runs, "last_result": order.last_result or None, "status": order.status,
        "count_max": order.count_max or None, "until_ms": order.until_ms or None,
        "reference": order.reference, "memo": order.memo,
    }


@router.get("/accounts/{account_id}/orders", summary="An account's standing orders",
            description="The standing orders (`standing_order`) the account pays or is paid "
                        "by, as of the last committed block, the latest due first (at most "
                        f"{ORDERS_LISTED_MAX}): `status` is `active`, `revoked` or `finished`; "
                        "`next_due_ms` is null unless active; `last_result` is the last run's "
                        "result code (null before the first run); `count_max` and `until_ms` "
                        "are null when unbounded (docs/protocol.md §7, \"Standing orders\").",
            responses={**json_200("`{account, orders: [{id, from, to, role, currency, "
                                  "amount_minor, period, first_due_ms, next_due_ms, runs, "
                                  "last_result, status, count_max, until_ms, reference, "
                                  "memo}]}`"), **ERRORS})
def account_orders(ctx: Ctx, account_id: AccountPath) -> Response:
    account = known_account(ctx, account_id)
    orders = ctx.store.orders_of(account, ORDERS_LISTED_MAX)
    return json_response({"account": account,
                          "orders": [order_json(o, account) for o in orders]})
