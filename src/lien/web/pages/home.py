"""The node's home page at ``/``: what a member or an operator sees first (French first).

It says what the node is, where it stands and where its API lives, from the node's read model
(``node.summary``). Amounts are shown the French way (``1 234,56 LIEN``) from integers.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ...ledger import format_amount
from ..context import Ctx
from .text import language, t

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def home(ctx: Ctx, lang: str | None = None) -> HTMLResponse:
    lg = language(lang)
    summary = ctx.node.summary

    def money(value: int, code: str) -> str:
        return escape(format_amount(value, code, lg))

    rows = "".join(
        f"<tr><th>{escape(c.code)}</th><td>{escape(c.policy['name'])}</td>"
        f"<td>{money(c.issued_minor - c.reconverted_minor, c.code)}"
        f" ({t('issued', lg)} {money(c.issued_minor, c.code)}, "
        f"{t('reconverted', lg)} {money(c.reconverted_minor, c.code)})</td></tr>"
        for c in summary.currencies
    )
    node = ctx.node
    status = t("halted" if node.failure or (summary.ready and not node.running)
               else "disk_full" if node.disk_full else "loading" if not summary.ready
               else "running", lg)
    other = "?lang=en" if lg == "fr" else "?lang=fr"
    page = f"""<!doctype html>
<html lang="{lg}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t('title', lg)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}}
th{{text-align:left;padding-right:1rem}}td,th{{padding:.2rem .5rem}}.id{{overflow-wrap:anywhere}}</style></head>
<body><p><a href="{other}">{t('other_language', lg)}</a></p>
<h1>{t('title', lg)}</h1><p>{t('intro', lg)}</p>
<table><tr><th>{t('chain', lg)}</th><td class="id">{escape(summary.chain_id)}</td></tr>
<tr><th>{t('height', lg)}</th><td>{summary.height}</td></tr>
<tr><th>{t('accounts', lg)}</th><td>{summary.accounts}</td></tr>
<tr><th>{t('status', lg)}</th><td>{status}</td></tr></table>
<h2>{t('nantie', lg)}</h2><table><tr><th>{t('currency', lg)}</th><th></th><th></th></tr>{rows}
</table>
<p><a href="/api/v1/docs">{t('api', lg)}</a></p></body></html>"""
    return HTMLResponse(page)
