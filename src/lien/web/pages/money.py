"""The pages that move money: *Encaisser* (the till's QR code and its live *Payé*), the printed
QR of a counter, *Payer* (what a phone's camera opens, and the in-app scanner), *Virement*,
*Demander un paiement* (a payment request, paid or refused from the requests of ``/compte``),
*Ordres permanents* (standing orders: made, listed, revoked), and the tills of a business
(delegated keys with caps) with the pairing page of a till's device.

Every page here is a shell: the browser does the work with the member's key, which never leaves
it (``static/js/money/``). The server gives each page what it cannot sign with — the chain id,
the node's currency, the member's menu (``MemberSession``), the words of its messages and the
ledger's refusal reasons in the page's language (``data-*`` attributes: the CSP allows no
inline script). Who the member is comes from ``GET /wallet/api/me`` (the session), what the
ledger holds from ``/api/v1``; a transaction is submitted to ``POST /api/v1/transactions``
signed in the browser, never through a session.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ...ledger import Reason
from ...wallet.statement import reason_text
from ..context import Ctx
from ..session import MemberSession
from ..templating import page_language, render

router = APIRouter()

#: How long a till's QR code stays payable (the ``exp`` of its payment URL).
PAYMENT_VALIDITY_S = 300


def reasons_json(request: Request) -> str:
    """Every reason code of the ledger and of the wallet's API, in the page's words."""
    lang = page_language(request)
    return json.dumps({r.value: reason_text(r.value, lang) for r in Reason}, ensure_ascii=False)


def money_context(ctx: Ctx, request: Request) -> dict[str, Any]:
    """What a page that signs needs (``templates/money/_common.html``): the chain id, the
    node's currency and the refusal reasons in the page's words."""
    summary = ctx.node.summary
    currency = summary.currencies[0].code if summary.currencies else ""
    return {"chain_id": summary.chain_id, "currency": currency,
            "reasons": reasons_json(request)}


def _page(ctx: Ctx, request: Request, template: str, member: MemberSession) -> HTMLResponse:
    return render(request, template, member=member, validity_s=PAYMENT_VALIDITY_S,
                  **money_context(ctx, request))


@router.get("/encaisser", response_class=HTMLResponse)
async def till(ctx: Ctx, request: Request, member: MemberSession) -> HTMLResponse:
    return _page(ctx, request, "money/encaisser.html", member)


@router.get("/encaisser/affiche", response_class=HTMLResponse)
async def counter_poster(ctx: Ctx, request: Request, member: MemberSession) -> HTMLResponse:
    return _page(ctx, request, "money/affiche.html", member)


@router.get("/payer/v1", response_class=HTMLResponse)
async def pay_link(ctx: Ctx, request: Request, member: MemberSession) -> HTMLResponse:
    return _page(ctx, request, "money/payer.html", member)


@router.get("/payer", response_class=HTMLResponse)
async def pay(ctx: Ctx, request: Request, member: MemberSession) -> HTMLResponse:
    return _page(ctx, request, "money/payer.html", member)


@router.get("/virement", response_class=HTMLResponse)
async def transfer(ctx: Ctx, request: Request, member: MemberSession) -> HTMLResponse:
    return _page(ctx, request, "money/virement.html", member)


@router.get("/demander", response_class=HTMLResponse)
async def request_payment(ctx: Ctx, request: Request, member: MemberSession) -> HTMLResponse:
    return _page(ctx, request, "money/demander.html", member)


@router.get("/caisses", response_class=HTMLResponse)
async def tills(ctx: Ctx, request: Request, member: MemberSession) -> HTMLResponse:
    return _page(ctx, request, "money/caisses.html", member)


@router.get("/caisse/appairer", response_class=HTMLResponse)
async def till_pairing(ctx: Ctx, request: Request, member: MemberSession) -> HTMLResponse:
    return _page(ctx, request, "money/appairer.html", member)


@router.get("/ordres", response_class=HTMLResponse)
async def standing_orders(ctx: Ctx, request: Request, member: MemberSession) -> HTMLResponse:
    return _page(ctx, request, "money/ordres.html", member)
