"""The node's home page: what a member or an operator sees at ``/`` (French first).

The web wallet comes next; until then this page says what the node is, where it stands and
where its API lives. Amounts are shown the French way (``1 234,56 LIEN``) from integers.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..ledger import format_amount
from ..node.node import Node

TEXT = {
    "fr": {
        "title": "Nœud LIEN",
        "intro": "Ce nœud tient une copie complète du registre partagé de la monnaie locale.",
        "chain": "Chaîne", "height": "Hauteur", "accounts": "Comptes", "status": "État",
        "running": "en service", "halted": "arrêté : incident à examiner",
        "currency": "Monnaie", "nantie": "Monnaie nantie en circulation",
        "issued": "émise", "reconverted": "reconvertie", "api": "API du nœud (documentation)",
        "other": "English",
    },
    "en": {
        "title": "LIEN node",
        "intro": "This node holds a full copy of the local currency's shared ledger.",
        "chain": "Chain", "height": "Height", "accounts": "Accounts", "status": "Status",
        "running": "running", "halted": "halted: an incident to investigate",
        "currency": "Currency", "nantie": "Euro-backed money in circulation",
        "issued": "issued", "reconverted": "reconverted", "api": "Node API (documentation)",
        "other": "Français",
    },
}


def home_router(node: Node) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        lang = "en" if request.query_params.get("lang") == "en" else "fr"
        t = TEXT[lang]
        state = node.state
        rows = "".join(
            f"<tr><th>{escape(code)}</th><td>{escape(c.policy['name'])}</td>"
            f"<td>{escape(format_amount(c.issued_minor - c.reconverted_minor, code, lang))}"
            f" ({t['issued']} {escape(format_amount(c.issued_minor, code, lang))}, "
            f"{t['reconverted']} {escape(format_amount(c.reconverted_minor, code, lang))})</td></tr>"
            for code, c in sorted(state.currencies.items())
        )
        status = t["running"] if node.running else t["halted"]
        other = "?lang=en" if lang == "fr" else "?lang=fr"
        page = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t['title']}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}}
th{{text-align:left;padding-right:1rem}}td,th{{padding:.2rem .5rem}}</style></head>
<body><p><a href="{other}">{t['other']}</a></p>
<h1>{t['title']}</h1><p>{t['intro']}</p>
<table><tr><th>{t['chain']}</th><td>{escape(node.chain_id)}</td></tr>
<tr><th>{t['height']}</th><td>{state.height}</td></tr>
<tr><th>{t['accounts']}</th><td>{len(state.accounts)}</td></tr>
<tr><th>{t['status']}</th><td>{status}</td></tr></table>
<h2>{t['nantie']}</h2><table><tr><th>{t['currency']}</th><th></th><th></th></tr>{rows}</table>
<p><a href="/api/v1/docs">{t['api']}</a></p></body></html>"""
        return HTMLResponse(page)

    return router
