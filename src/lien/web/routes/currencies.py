"""Currencies and their policies, from the node's read model (``node.summary``).

What a wallet needs before it builds a transaction: the admin quorum and the thresholds above
which an issue or a raised limit needs it, the default credit floor and ceiling of a new
membership, the reconversion fee and the association that receives it, and the supply.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from ...node.node import CurrencySummary
from .. import errors, views
from ..context import Ctx
from ..openapi import ERRORS, QUERY_ERRORS, json_200
from ..params import CurrencyPath
from ..responses import json_response

router = APIRouter(tags=["currencies"])

CURRENCY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "name", "policy", "issued_minor", "issued_text", "reconverted_minor",
                 "reconverted_text", "supply_minor", "supply_text"],
}


def currency_view(c: CurrencySummary) -> dict[str, Any]:
    data: dict[str, Any] = {"code": c.code, "name": c.policy["name"], "policy": c.policy}
    data.update(views.amount("issued", c.issued_minor, c.code))
    data.update(views.amount("reconverted", c.reconverted_minor, c.code))
    # The nantie in circulation: what the fonds de garantie backs, euro for euro.
    data.update(views.amount("supply", c.issued_minor - c.reconverted_minor, c.code))
    return data


@router.get("/currencies", summary="Every currency of the chain",
            description="Code, name, policy and supply of each currency, sorted by code "
                        "(as GET /currencies/{code}).",
            responses={**json_200("`{items: [currency]}`", {
                "type": "object", "required": ["items"],
                "properties": {"items": {"type": "array", "items": CURRENCY_SCHEMA}}}),
                **QUERY_ERRORS})
async def list_currencies(ctx: Ctx) -> Response:
    return json_response({"items": [currency_view(c) for c in ctx.node.summary.currencies]})


@router.get("/currencies/{code}", summary="A currency and its policy",
            description=(
                "`policy` is the currency's policy as `create_currency`/`set_policy` set it "
                "(docs/protocol.md §7): `name`, `association` (receives reconversion fees), "
                "`reconversion_fee_bp`, `admin_quorum`, `issue_quorum_above_minor`, "
                "`limit_quorum_above_minor`, `credit_floor_default_minor`, "
                "`credit_ceiling_default_minor`, `recovery_delay_ms`. `issued_minor`, "
                "`reconverted_minor` and `supply_minor` (nantie in circulation = issued − "
                "reconverted) have a French `*_text` twin for display."),
            responses={**json_200("The currency.", CURRENCY_SCHEMA), **ERRORS})
async def get_currency(ctx: Ctx, code: CurrencyPath) -> Response:
    for c in ctx.node.summary.currencies:
        if c.code == code:
            return json_response(currency_view(c))
    raise errors.NotFound("unknown currency")
