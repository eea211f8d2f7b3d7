"""Getting in: ``/ouvrir-un-compte`` (Créer un compte) and ``/connexion`` (Se connecter).

Both pages are forms driven by their ES module (``signup.js``, ``login.js``): the keys are
created, and the password turned into its two secrets, in the browser; these handlers only
render the form, with what the module needs in ``data-*`` attributes (chain id, currency, the
messages of each field error in the page's language) and the pre-session CSRF token
(double-submit: cookie ``lien_csrf`` and the page's ``<meta name="csrf-token">``).
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..context import Ctx
from ..i18n import gettext_noop as N_
from ..session import MemberSession
from ..templating import render

router = APIRouter()

#: the cookie of the pre-session CSRF token (double submit, before login)
CSRF_COOKIE = "lien_csrf"
#: shortest password the wallet accepts (its strength is argon2id's memory cost times this)
PASSWORD_CHARS_MIN = 10
#: a business's category in the directory: key -> words
CATEGORIES: dict[str, str] = {
    "food": N_("Food and groceries"),
    "restaurant": N_("Restaurants and cafés"),
    "crafts": N_("Crafts and makers"),
    "shop": N_("Shops"),
    "services": N_("Services"),
    "health": N_("Health and well-being"),
    "culture": N_("Culture and leisure"),
    "other": N_("Other"),
}


def csrf_token(request: Request) -> str:
    """The pre-session token: the browser's cookie when it has one, a new one otherwise."""
    token = request.cookies.get(CSRF_COOKIE, "")
    return token if 20 <= len(token) <= 100 and token.isascii() else secrets.token_urlsafe(32)


def with_csrf_cookie(request: Request, response: Response, token: str) -> Response:
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, samesite="strict", httponly=True,
                            secure=request.url.scheme == "https", path="/")
    return response


@router.get("/ouvrir-un-compte", response_class=HTMLResponse)
async def signup_page(ctx: Ctx, request: Request, session: MemberSession) -> Response:
    if session is not None:
        return RedirectResponse("/compte", status_code=303)
    token = csrf_token(request)
    currencies = ctx.node.summary.currencies
    page = render(request, "signup.html", csrf=token, chain_id=ctx.node.summary.chain_id,
                  currency=currencies[0].code if currencies else "",
                  categories=CATEGORIES, password_min=PASSWORD_CHARS_MIN)
    return with_csrf_cookie(request, page, token)


@router.get("/connexion", response_class=HTMLResponse)
async def login_page(request: Request, session: MemberSession) -> Response:
    if session is not None:
        return RedirectResponse("/compte", status_code=303)
    token = csrf_token(request)
    return with_csrf_cookie(request, render(request, "login.html", csrf=token), token)
