"""The HTML pages of the node: the members' wallet (and later the back office).

Mount point: ``create_app`` includes ``pages.router`` at the root (``/``), after the JSON API
(``/api/v1``), and out of the OpenAPI document; it mounts the static files (``static/``: CSS,
the ES modules of the wallet, vendored libraries, icons) at ``/static``. Each page is a module
of this package with its own ``router``, included below; its HTML is a Jinja2 template of
``templates/`` rendered by ``templating.render`` (language, French amounts and dates, security
headers); its words are gettext messages (``i18n``).

Pages read the node's read model (``node.summary``) and the service layers' query methods, never
SQL; they submit transactions through the same ``ctx.admission`` as the API. The API under
``/api/v1`` never reads a cookie: a session can never authorise a transaction — the member's
key, in the browser, signs it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from ..templating import SECURITY_HEADERS
from . import access, home, money, notifications, profile, pwa, qr, wallet

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)
router.include_router(home.router)
router.include_router(money.router)
router.include_router(qr.router)
router.include_router(access.router)
router.include_router(wallet.router)
router.include_router(profile.router)
router.include_router(notifications.router)
router.include_router(pwa.router)


class Static(StaticFiles):
    """The static files, revalidated by ETag (``no-cache``: a new release is seen at once, an
    unchanged file costs a 304) and with the pages' security headers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"cache-control", b"no-cache"))
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message["headers"] = headers
            await send(message)

        await super().__call__(scope, receive, with_headers)


def static_files() -> Static:
    return Static(directory=STATIC_DIR)


__all__ = ["STATIC_DIR", "router", "static_files"]
