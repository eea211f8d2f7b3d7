"""The member's session, as the pages see it — PLACEHOLDER with the contract's names.

The members helper's ``session`` module (cookie ``lien_session``, server-side rows, CSRF)
replaces this file when it lands: the pages only use the names below, and of a session only
``account`` and ``csrf``. Until then no request has a session (every page that needs one
redirects to ``/connexion``); tests give one with ``app.dependency_overrides[current_member]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request


@dataclass(frozen=True, slots=True)
class Session:
    account: str
    csrf: str


async def current_member(request: Request) -> Session | None:
    """The session of ``request``'s ``lien_session`` cookie, or None."""
    del request
    return None


MemberSession = Annotated[Session | None, Depends(current_member)]


async def require_member(session: MemberSession) -> Session:
    """The current session; without one, 303 to ``/connexion``."""
    if session is None:
        raise HTTPException(status_code=303, headers={"Location": "/connexion"})
    return session


async def csrf_check(request: Request) -> None:
    """Placeholder: the members helper's double-submit check."""
    del request


__all__ = ["MemberSession", "Session", "csrf_check", "current_member", "require_member"]
