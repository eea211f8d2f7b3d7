"""``/notifications``: the member's notifications (payment received, payment request, standing
order not executed), newest first, and marking them read (``POST /notifications/lues``: a plain
HTML form with the session's CSRF token; one notification, or all of them).

The notifications are written by the members' notifier from the node's events
(``lien.members.notifier``); this page only reads and marks them, through the members' service.
"""

from __future__ import annotations

from typing import Annotated

from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...store import Session
from ..context import Ctx
from ..session import csrf_check, form_bytes_max, require_member
from ..templating import render

router = APIRouter()

Member = Annotated[Session, Depends(require_member)]
PAGE = "/notifications"
#: a notification id longer than this is not one (the table's integer key)
ID_DIGITS_MAX = 18


@router.get(PAGE, response_class=HTMLResponse)
async def notifications_page(request: Request, member: Member) -> Response:
    return render(request, "notifications.html", member=member)


@router.post(f"{PAGE}/lues", dependencies=[Depends(csrf_check)])
async def mark_read(ctx: Ctx, request: Request, member: Member) -> Response:
    """Mark one notification (the form's ``id``) or, without one, all of them read; back to
    the list. An ``id`` that is not a number marks nothing."""
    body = await request.body()
    fields = parse_qs(body[:form_bytes_max].decode("utf-8", "replace"))
    chosen = fields.get("id", [""])[0]
    if ctx.members is not None:
        if not chosen:
            ctx.members.mark_read(member.account)
        elif chosen.isdigit() and len(chosen) <= ID_DIGITS_MAX:
            ctx.members.mark_read(member.account, [int(chosen)])
    return RedirectResponse(PAGE, status_code=303)
