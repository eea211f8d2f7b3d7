"""The installable app: ``/manifest.webmanifest`` and the service worker ``/sw.js``.

The worker is served from the root so that its scope is the whole wallet (``/compte``,
``/historique``...); its code is ``static/js/sw.js``. It keeps the shell (CSS, ES modules,
icons) and the last ``/compte`` and ``/historique`` pages, so that offline the last known
balance and history are readable — marked as such — and nothing can be paid.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..i18n import gettext
from ..templating import SECURITY_HEADERS, page_language

router = APIRouter()

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
SW_FILE = STATIC_DIR / "js" / "sw.js"


@router.get("/manifest.webmanifest")
async def manifest(request: Request) -> Response:
    lang = page_language(request)
    document = {
        "name": gettext("LIEN — the local currency of Saint-Étienne", lang),
        "short_name": "LIEN",
        "lang": lang,
        "start_url": "/compte",
        "scope": "/",
        "display": "standalone",
        "background_color": "#fbfaf6",
        "theme_color": "#1d5c4d",
        "icons": [
            {"src": "/static/icons/lien-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/icons/lien-512.png", "sizes": "512x512", "type": "image/png"},
            {"src": "/static/icons/lien-512.png", "sizes": "512x512", "type": "image/png",
             "purpose": "maskable"},
            {"src": "/static/icons/lien.svg", "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    return Response(json.dumps(document, ensure_ascii=False),
                    media_type="application/manifest+json",
                    headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


@router.get("/sw.js")
async def service_worker() -> Response:
    return Response(SW_FILE.read_bytes(), media_type="text/javascript", headers={
        **SECURITY_HEADERS, "Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})
