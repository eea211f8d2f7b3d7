"""Members' sessions and CSRF protection for the wallet's pages and its JSON endpoints.

Dependencies (for ``src/lien/web/pages/`` and ``wallet_api``)::

    MemberSession      Annotated[Session | None, ...]: the member's live session, or None
    require_member     the session, or a 303 redirect to /connexion?next=<path> (pages)
    require_api_member the session, or 401 ``not_signed_in`` (JSON endpoints)
    csrf_check         on every POST (PUT, PATCH, DELETE): an Origin (else a Referer) of this
                       node, and the token — header ``X-CSRF-Token`` or, for a plain HTML form,
                       the field ``csrf_token`` — equal to the session's (``Session.csrf``) or
                       to the pre-session cookie ``lien_csrf`` (double-submit): else 403
                       ``csrf_failed``, before the handler reads anything

Cookies: ``lien_session`` (the opaque session token: HttpOnly, SameSite=Lax, Path=/) and
``lien_csrf`` (the pre-session token, for sign-up and login: HttpOnly, SameSite=Strict; the
page gets its value from ``ensure_csrf_cookie`` or GET /wallet/api/csrf); both ``Secure`` when
the request came over HTTPS. The API under ``/api/v1`` never reads them: it stays stateless.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import RedirectResponse

from ..store import Session
from .context import context_of
from .errors import ApiError

SESSION_COOKIE = "lien_session"
CSRF_COOKIE = "lien_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
LOGIN_PAGE = "/connexion"
#: a form body larger than this is not searched for the CSRF field (the handler refuses it)
form_bytes_max = 65_536
#: the pre-session cookie lives a day (a sign-up form left open overnight gets a new one)
csrf_cookie_s = 24 * 3600
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class NotSignedIn(ApiError):
    status = 401
    code = "not_signed_in"


class CsrfRefused(ApiError):
    status = 403
    code = "csrf_failed"


class SignInRequired(Exception):
    """A page needs a member: answered with a redirect to the login page."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def current_session(request: Request) -> Session | None:
    """The live session of the request's cookie (a plain ``def``: its query runs in FastAPI's
    thread pool, off the event loop)."""
    members = context_of(request).members
    if members is None:
        return None
    return members.session(request.cookies.get(SESSION_COOKIE))


MemberSession = Annotated[Session | None, Depends(current_session)]


def require_member(request: Request, session: MemberSession) -> Session:
    if session is None:
        raise SignInRequired(request.url.path)
    return session


def require_api_member(session: MemberSession) -> Session:
    if session is None:
        raise NotSignedIn("log in first")
    return session


ApiMember = Annotated[Session, Depends(require_api_member)]


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def _same_origin(request: Request) -> bool:
    own = str(request.base_url).rstrip("/")
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == own
    referer = request.headers.get("referer")
    return referer is not None and (referer == own or referer.startswith(own + "/"))


async def _given_token(request: Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token is not None:
        return token
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        declared = request.headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > form_bytes_max:
            return None
        fields = parse_qs((await request.body()).decode("utf-8", "replace"))
        values = fields.get(CSRF_FIELD)
        return values[0] if values else None
    return None


def _equal(given: str, expected: str | None) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), (expected or "").encode())


async def csrf_check(request: Request, session: MemberSession) -> None:
    if request.method in _SAFE_METHODS:
        return
    if not _same_origin(request):
        raise CsrfRefused("the request does not come from this node's pages (Origin/Referer)")
    given = await _given_token(request)
    if given is None or not (_equal(given, session.csrf if session else None)
                             or _equal(given, request.cookies.get(CSRF_COOKIE))):
        raise CsrfRefused(f"missing or wrong {CSRF_HEADER}")


def ensure_csrf_cookie(request: Request, response: Response) -> str:
    """The pre-session CSRF token of this browser (set on ``response`` when it has none)."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and 20 <= len(token) <= 100 and token.isascii():
        return token
    token = secrets.token_urlsafe(32)
    response.set_cookie(CSRF_COOKIE, token, max_age=csrf_cookie_s, path="/", httponly=True,
                        samesite="strict", secure=is_https(request))
    return token


def set_session_cookie(request: Request, response: Response, token: str, max_age_s: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age_s, path="/", httponly=True,
                        samesite="lax", secure=is_https(request))


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=is_https(request))


async def _sign_in_required(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(f"{LOGIN_PAGE}?next={quote(exc.path)}", status_code=303)


def install(app: FastAPI) -> None:
    """The redirect of ``require_member`` (the other refusals are ``ApiError``s)."""
    app.add_exception_handler(SignInRequired, _sign_in_required)


__all__ = [
    "CSRF_COOKIE", "CSRF_FIELD", "CSRF_HEADER", "LOGIN_PAGE", "SESSION_COOKIE", "ApiMember",
    "CsrfRefused", "MemberSession", "NotSignedIn", "SignInRequired", "clear_session_cookie",
    "csrf_check", "current_session", "ensure_csrf_cookie", "install", "require_api_member",
    "require_member", "set_session_cookie",
]
