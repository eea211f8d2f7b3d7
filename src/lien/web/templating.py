"""Rendering the pages: Jinja2 templates (``templates/``), their words through ``i18n``, and the
headers every page carries.

Every page is rendered by ``render``: autoescaped HTML, the page's language, the French way of
writing amounts and dates, the member's notifications (``inbox``, read only if the page shows
them), and ``SECURITY_HEADERS`` — among them a Content-Security-Policy with
no inline script and no inline style at all (scripts are ES modules from ``/static``; argon2id
runs as WebAssembly, hence ``'wasm-unsafe-eval'``, which allows compiling WebAssembly and
nothing else).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..ledger import format_amount
from .inbox import inbox_for
from .i18n import LOCALES, Lang, language, translations

#: Where the association lives: dates on the pages are Saint-Étienne's.
TIMEZONE = ZoneInfo("Europe/Paris")
LANG_COOKIE = "lien_lang"

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "manifest-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

_env = Environment(
    loader=PackageLoader("lien.web", "templates"),
    autoescape=select_autoescape(default=True),
    extensions=["jinja2.ext.i18n"],
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def money(value_minor: int, code: str, lang: Lang) -> str:
    return format_amount(value_minor, code, lang)


def when(ms: int, lang: Lang) -> str:
    """A block time (ms since the epoch) as Saint-Étienne's local date and time."""
    moment = datetime.fromtimestamp(ms / 1000, TIMEZONE)
    return format_datetime(moment, "d MMM y HH:mm", locale=LOCALES[lang])


def page_language(request: Request) -> Lang:
    return language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                    request.headers.get("accept-language"))


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` in the request's language, with the security headers."""
    lang = page_language(request)
    words = translations(lang)
    html = _env.get_template(template).render(
        lang=lang, other_lang="en" if lang == "fr" else "fr", path=request.url.path,
        _=words.gettext, gettext=words.gettext, ngettext=words.ngettext,
        money=lambda value, code: money(value, code, lang),
        when=lambda ms: when(ms, lang),
        inbox=inbox_for(request, context, lang),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    if request.query_params.get("lang") == lang:  # the member chose: remember it
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax",
                            httponly=True, secure=request.url.scheme == "https")
    return response
