"""Getting in: ``/ouvrir-un-compte`` (Créer un compte) and ``/connexion`` (Se connecter).

Both pages are forms driven by their ES module (``signup.js``, ``login.js``): the keys are
created, and the password turned into its two secrets, in the browser; these handlers only
render the form, with what the module needs in ``data-*`` attributes (chain id, currency, the
messages of each field error in the page's language) and the pre-session CSRF token of
``session.ensure_csrf_cookie`` (double-submit: the HttpOnly cookie ``lien_csrf`` and the page's
``<meta name="csrf-token">``, which ``forms.js`` sends as ``X-CSRF-Token``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...members import CATEGORIES
from ..context import Ctx
from ..session import MemberSession, ensure_csrf_cookie
from ..templating import render

router = APIRouter()

#: shortest password the wallet accepts (its strength is argon2id's memory cost times this)
PASSWORD_CHARS_MIN = 10


def _with_pre_session_token(request: Request, template: str, **context: Any) -> Response:
    """``template`` rendered with the browser's pre-session CSRF token (its cookie set when it
    has none)."""
    holder = Response()
    token = ensure_csrf_cookie(request, holder)
    page = render(request, template, csrf=token, **context)
    for name, value in holder.raw_headers:
        if name == b"set-cookie":
            page.raw_headers.append((name, value))
    return page


@router.get("/ouvrir-un-compte", response_class=HTMLResponse)
async def signup_page(ctx: Ctx, request: Request, session: MemberSession) -> Response:
    if session is not None:
        return RedirectResponse("/compte", status_code=303)
    currencies = ctx.node.summary.currencies
    return _with_pre_session_token(
        request, "signup.html", chain_id=ctx.node.summary.chain_id,
        currency=currencies[0].code if currencies else "", categories=CATEGORIES,
        password_min=PASSWORD_CHARS_MIN)


@router.get("/connexion", response_class=HTMLResponse)
async def login_page(request: Request, session: MemberSession) -> Response:
    if session is not None:
        return RedirectResponse("/compte", status_code=303)
    return _with_pre_session_token(request, "login.html")
