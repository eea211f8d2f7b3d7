"""The node's home page at ``/``: what a member or an operator sees first (French first).

It says what the node is, where it stands and where its API lives, from the node's read model
(``node.summary``). Amounts are shown the French way (``1 234,56 LIEN``) from integers.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..context import Ctx
from ..i18n import gettext
from ..i18n import gettext_noop as N_
from ..templating import page_language, render

router = APIRouter()

STATUS = {
    "running": N_("running"),
    "loading": N_("running, loading the accounts: payments received will execute in a moment"),
    "halted": N_("halted: an incident to investigate"),
    "disk_full": N_("disk full: payments refused until space is freed"),
}


@router.get("/", response_class=HTMLResponse)
async def home(ctx: Ctx, request: Request) -> HTMLResponse:
    node, summary = ctx.node, ctx.node.summary
    state = ("halted" if node.failure or (summary.ready and not node.running)
             else "disk_full" if node.disk_full else "loading" if not summary.ready
             else "running")
    return render(request, "home.html", summary=summary,
                  status=gettext(STATUS[state], page_language(request)))
