"""``/profil`` (the member's profile, password change, log out, log out everywhere) and
``/annuaire`` (the directory of the businesses that opted in).

The password change runs in the browser (``profile.js``): it re-derives both secrets and
re-seals the key backup, so the node never sees the key nor the key-encryption key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from ...members import CATEGORIES
from ...store import Profile, Session
from ..context import Ctx
from ..session import MemberSession, require_member
from ..templating import render
from .access import PASSWORD_CHARS_MIN
from .wallet import account_view

router = APIRouter()

Member = Annotated[Session, Depends(require_member)]
Q = Annotated[str, Query(max_length=100)]


@router.get("/profil", response_class=HTMLResponse)
async def profile_page(ctx: Ctx, request: Request, member: Member) -> Response:
    view = account_view(ctx, member.account)
    return render(request, "profile.html", member=member, view=view,
                  password_min=PASSWORD_CHARS_MIN)


def directory_entries(ctx: Ctx, q: str, category: str, town: str) -> list[Profile]:
    """The businesses that opted in, matching the search (name, category, town): the members'
    directory (none on a node that keeps no members' data)."""
    if ctx.members is None:
        return []
    return ctx.members.directory(q, category, town)


@router.get("/annuaire", response_class=HTMLResponse)
async def directory_page(ctx: Ctx, request: Request, session: MemberSession, q: Q = "",
                         category: Q = "", town: Q = "") -> Response:
    category = category if category in CATEGORIES else ""
    entries = directory_entries(ctx, q.strip(), category, town.strip())
    return render(request, "directory.html", member=session, entries=entries, q=q,
                  category=category, town=town, categories=CATEGORIES)
