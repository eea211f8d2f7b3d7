"""``/profil`` (the member's profile, password change, log out, log out everywhere) and
``/annuaire`` (the directory of the businesses that opted in).

The password change runs in the browser (``profile.js``): it re-derives both secrets and
re-seals the key backup, so the node never sees the key nor the key-encryption key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from ..context import Ctx
from ...store import Session
from ..session import MemberSession, require_member
from ..templating import render
from .access import CATEGORIES, PASSWORD_CHARS_MIN
from .wallet import account_view

router = APIRouter()

Member = Annotated[Session, Depends(require_member)]
Q = Annotated[str, Query(max_length=100)]


@router.get("/profil", response_class=HTMLResponse)
async def profile_page(ctx: Ctx, request: Request, member: Member) -> Response:
    view = account_view(ctx, member.account)
    return render(request, "profile.html", member=member, view=view,
                  password_min=PASSWORD_CHARS_MIN)


@dataclass(frozen=True)
class DirectoryEntry:
    """A business of the directory, as it chose to publish itself."""

    account: str
    trading_name: str
    category: str
    town: str
    description: str


def directory_entries(ctx: Ctx, q: str, category: str, town: str) -> list[DirectoryEntry]:
    """The businesses that opted in, matching the search (name, category, town).

    The members' service holds them; until its directory lands this finds none."""
    del ctx, q, category, town
    return []


@router.get("/annuaire", response_class=HTMLResponse)
async def directory_page(ctx: Ctx, request: Request, session: MemberSession, q: Q = "",
                         category: Q = "", town: Q = "") -> Response:
    category = category if category in CATEGORIES else ""
    entries = directory_entries(ctx, q.strip(), category, town.strip())
    return render(request, "directory.html", member=session, entries=entries, q=q,
                  category=category, town=town, categories=CATEGORIES)
