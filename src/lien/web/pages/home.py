"""The node's home page at ``/``: what a member or an operator sees first (French first).

It says what the node is, where it stands and where its API lives, from the node's read model
(``node.summary``). Amounts are shown the French way (``1 234,56 LIEN``) from integers. A node
of a federation also shows its *Fédération* (``federation_view``, as ``GET
/api/v1/federation``): the peers and their heights, this node's finality lag, the validators'
signatures on the latest blocks, and an alarm with the evidence of any equivocation; the page's
script (``static/js/home.js``) refreshes that section.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from ..context import Ctx
from ..federation_view import federation_view
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
#: A peer's status (``lien.federation.peers``), and why it is unreachable.
PEER_STATUS = {
    "pending": N_("not asked yet"),
    "reachable": N_("reachable"),
    "unreachable": N_("unreachable"),
    "other_chain": N_("on another chain"),
}
PEER_ERROR = {
    "timeout": N_("no answer in time"),
    "connection": N_("connection failed"),
    "bad_status": N_("answered with an error"),
    "bad_answer": N_("not a LIEN node's answer"),
    "too_large": N_("answer too large"),
}


@router.get("/", response_class=HTMLResponse)
async def home(ctx: Ctx, request: Request) -> HTMLResponse:
    node, summary = ctx.node, ctx.node.summary
    lang = page_language(request)
    state = ("halted" if node.failure or (summary.ready and not node.running)
             else "disk_full" if node.disk_full else "loading" if not summary.ready
             else "running")
    federation = (await run_in_threadpool(federation_view, ctx)
                  if ctx.federation.federated else None)
    return render(request, "home.html", summary=summary,
                  status=gettext(STATUS[state], lang), federation=federation,
                  validators=len(node.validators.latest.keys),
                  peer_status={k: gettext(v, lang) for k, v in PEER_STATUS.items()},
                  peer_error={k: gettext(v, lang) for k, v in PEER_ERROR.items()})
