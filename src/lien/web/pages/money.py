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
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ...ledger import Reason
from ...wallet.statement import reason_text
from ..context import Ctx
from ..session import MemberSession
from ..i18n import Lang
from ..templating import page_language, render

router = APIRouter()

#: How long a till's QR code stays payable (the ``exp`` of its payment URL).
PAYMENT_VALIDITY_S = 300


@cache
def _reasons_json(lang: Lang) -> str:
    return json.dumps({r.value: reason_text(r.value, lang) for r in Reason}, ensure_ascii=False)


def reasons_json(request: Request) -> str:
    """Every reason code of the ledger and of the wallet's API, in the page's words (built
    once per language: the words never change while the node runs)."""
    return _reasons_json(page_language(request))


def money_context(ctx: Ctx, request: Request) -> dict[str, Any]:
    """What a page that signs needs (``templates/money/_common.html``): the chain id, the
    node's currency and the refusal reasons in the page's words."""
    summary = ctx.node.summary
    currency = summary.currencies[0].code if summary.currencies else ""
    return {"chain_id": summary.chain_id, "currency": currency,
            "reasons": reasons_json(request)}


#: Each page that moves money and its template: all are shells rendered alike (below).
PAGES = {
    "/encaisser": "money/encaisser.html",
    "/encaisser/affiche": "money/affiche.html",
    "/payer/v1": "money/payer.html",  # what a phone's camera opens from a till's QR code
    "/payer": "money/payer.html",  # the in-app scanner, a typed account, a request to pay
    "/virement": "money/virement.html",
    "/demander": "money/demander.html",
    "/caisses": "money/caisses.html",
    "/caisse/appairer": "money/appairer.html",
    "/ordres": "money/ordres.html",
}


def _shell(template: str) -> Callable[..., Awaitable[HTMLResponse]]:
    async def page(ctx: Ctx, request: Request, member: MemberSession) -> HTMLResponse:
        return render(request, template, member=member, validity_s=PAYMENT_VALIDITY_S,
                      **money_context(ctx, request))

    return page


for _path, _template in PAGES.items():
    router.add_api_route(_path, _shell(_template), methods=["GET"], response_class=HTMLResponse)
