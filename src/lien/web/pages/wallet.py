"""The member's wallet: ``/compte`` (balances, account id and QR, main actions),
``/historique`` (the relevé: search, filters, running balance) and ``/historique.csv``; and
``/compte/v1?id=…``, what a phone's camera opens from an account's QR code.

Everything is read from the node's read model as the API answers it (``views``) and worded by
``lien.wallet.statement`` — the same reading as the ``lien`` command: a refused operation is
shown refused, with its reason, and never as money that moved. The running balance is computed
from the current balances backwards, newest line first, so it is right for every line shown
even when older history is left out. Amounts are integers of minor units until they are
written (``money``, or ``csv_amount``'s ``12,50``).

Encrypted memos (``m1.``...) are left in a ``data-memo-box`` attribute; ``history.js`` decrypts
them in the browser with the member's memo key (the node cannot read them).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from ...ledger import is_account_id
from ...ledger.money import MINOR_PER_MAJOR
from ...wallet.statement import Balance, StatementEntry, balance_for, entry_for
from .. import views
from ...store import Session
from ..context import Ctx
from ..i18n import gettext, gettext_noop as N_
from ..session import MemberSession, require_member
from .money import money_context
from ..templating import page_language, render, when

router = APIRouter()

Member = Annotated[Session, Depends(require_member)]
Direction = Literal["", "in", "out", "refused"]

#: newest history items read for one page or export (an account's relevé for years of use)
HISTORY_ROWS_MAX = 5000
#: lines shown on one page of ``/historique`` (after the filters; the CSV has all of them)
HISTORY_LINES_SHOWN_MAX = 200
#: the periods of the history filter, in days ("" = all)
PERIODS: dict[str, str] = {"": N_("All time"), "7": N_("Last 7 days"),
                           "30": N_("Last 30 days"), "365": N_("Last 12 months")}
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Line:
    """One line of the relevé as the page shows it.

    ``balance_after_minor``: the account's balance in ``entry.currency`` (both units) after
    this operation; ``direction``: ``in``, ``out``, ``refused`` or ``""`` (no money moved);
    ``memo_box``: an encrypted memo for the browser, ``memo_text`` a memo in clear (older
    transactions), ``their_key``: the counterpart's public key (to decrypt the memo)."""

    entry: StatementEntry
    tx_id: str
    time_ms: int
    balance_after_minor: int
    direction: str
    counterpart_name: str
    memo_box: str
    memo_text: str
    their_key: str


def account_view(ctx: Ctx, account: str) -> dict[str, Any] | None:
    """``GET /api/v1/accounts/{id}``'s answer, or None while the account is not on chain."""
    row = ctx.store.account_row(account)
    return views.account(*row) if row is not None else None


def known_names(ctx: Ctx, viewer: str, accounts: set[str]) -> dict[str, str]:
    """The names ``viewer`` may see of ``accounts``: the members' service decides (directory
    entries, own contacts); none on a node that keeps no members' data."""
    members = ctx.members
    if members is None:
        return {}
    wanted, step = sorted(accounts), members.settings.names_max
    names: dict[str, str] = {}
    for i in range(0, len(wanted), step):
        names.update(members.names(viewer, wanted[i:i + step]))
    return names


def statement_lines(ctx: Ctx, account: str, lang: Literal["fr", "en"]) -> list[Line]:
    """The account's relevé, newest first, with the running balance of each line."""
    view = account_view(ctx, account)
    if view is None:
        return []
    running = {m["currency"]: int(m["nantie_minor"]) + int(m["credit_minor"])
               for m in view["currencies"]}
    stored = ctx.store.history(account, None, HISTORY_ROWS_MAX)
    items = [views.history_item(s) for s in stored]
    entries = [entry_for(account, item, lang) for item in items]
    names = known_names(ctx, account, {e.counterpart for e in entries if e.counterpart})
    keys: dict[str, str] = {}
    times: dict[int, int] = {}
    lines = []
    for item, entry in zip(items, entries, strict=True):
        after = running.get(entry.currency, 0)
        if entry.amount_minor is not None:
            running[entry.currency] = after - entry.amount_minor
        if entry.height not in times:
            block = ctx.store.block(entry.height)
            times[entry.height] = block.header.time_ms if block is not None else 0
        memo = entry.memo
        encrypted = memo.startswith("m1.")
        if encrypted and entry.counterpart and entry.counterpart not in keys:
            other = ctx.store.account_row(entry.counterpart)
            keys[entry.counterpart] = other[0].keys[0] if other and other[0].keys else ""
        lines.append(Line(
            entry=entry, tx_id=str(item["id"]), time_ms=times[entry.height],
            balance_after_minor=after, direction=_direction(entry),
            counterpart_name=names.get(entry.counterpart, ""),
            memo_box=memo if encrypted else "", memo_text="" if encrypted else memo,
            their_key=keys.get(entry.counterpart, "") if encrypted else ""))
    return lines


def _direction(entry: StatementEntry) -> str:
    if entry.refused:
        return "refused"
    if entry.amount_minor is None or entry.amount_minor == 0:
        return ""
    return "in" if entry.amount_minor > 0 else "out"


@dataclass(frozen=True)
class Filters:
    """The history's search and filters, from the query string (anything else: no filter)."""

    q: str = ""
    direction: str = ""
    type: str = ""
    period: str = ""

    def keep(self, line: Line, now_ms: int) -> bool:
        entry = line.entry
        if self.direction and line.direction != self.direction:
            return False
        if self.type and entry.type != self.type:
            return False
        if self.period in PERIODS and self.period and \
                line.time_ms < now_ms - int(self.period) * DAY_MS:
            return False
        if self.q:
            words = " ".join([entry.label, entry.counterpart, line.counterpart_name,
                              entry.outcome, line.memo_text, line.tx_id]).casefold()
            return all(word in words for word in self.q.casefold().split())
        return True


def filters(q: str, direction: str, type_: str, period: str) -> Filters:
    return Filters(q=q.strip()[:100],
                   direction=direction if direction in ("in", "out", "refused") else "",
                   type=type_[:40], period=period if period in PERIODS else "")


Q = Annotated[str, Query(max_length=200)]


def balances(view: dict[str, Any] | None, lang: Literal["fr", "en"]) -> list[Balance]:
    return [balance_for(m, lang) for m in view["currencies"]] if view else []


@router.get("/compte", response_class=HTMLResponse)
async def account_page(ctx: Ctx, request: Request, member: Member) -> Response:
    lang = page_language(request)
    view = account_view(ctx, member.account)
    origin = str(request.base_url).rstrip("/")
    pay_url = f"{origin}/compte/v1?id={member.account}"
    return render(request, "account.html", member=member, view=view,
                  balances=balances(view, lang), pay_url=pay_url,
                  qr_src=f"/qr.svg?text={quote(pay_url, safe='')}",
                  display=view["display"] if view else _grouped(member.account),
                  **money_context(ctx, request))  # the requests' list signs (_requests.html)


@router.get("/compte/v1", response_class=HTMLResponse)
async def account_link_page(ctx: Ctx, request: Request, session: MemberSession,
                            id: Annotated[str, Query(max_length=40)] = "",  # noqa: A002
                            ) -> Response:
    """What a phone's camera opens from an account's QR code (``{origin}/compte/v1?id=…``,
    docs/protocol.md §16): for a signed-in member, *Virement* and *Demander un paiement* to
    that account, prefilled; for a visitor, what the code is and the way to sign in. A link
    with no valid account id is a 400 page saying so; an id not on chain, a 404."""
    account = id if is_account_id(id) else None
    view = account_view(ctx, account) if account else None
    status = 400 if account is None else (404 if view is None else 200)
    name = known_names(ctx, session.account if session else "", {account}).get(account, "") \
        if view is not None and account is not None else ""
    return render(request, "account_link.html", status, member=session, account=account,
                  display=_grouped(account) if account else "", name=name,
                  known=view is not None, own=bool(session and session.account == account),
                  next_path=quote(f"/compte/v1?id={account}" if account else "/compte",
                                  safe=""))


def _grouped(account: str) -> str:
    return "-".join(account[i:i + 4] for i in range(0, len(account), 4))


@router.get("/historique", response_class=HTMLResponse)
async def history_page(ctx: Ctx, request: Request, member: Member, q: Q = "",
                       direction: Q = "", type: Q = "", period: Q = "") -> Response:  # noqa: A002
    lang = page_language(request)
    chosen = filters(q, direction, type, period)
    lines = statement_lines(ctx, member.account, lang)
    types = sorted({(line.entry.type, line.entry.label) for line in lines})
    now_ms = ctx.node.clock()
    kept = [line for line in lines if chosen.keep(line, now_ms)]
    return render(request, "history.html", member=member, lines=kept[:HISTORY_LINES_SHOWN_MAX],
                  more=len(kept) > HISTORY_LINES_SHOWN_MAX, total=len(kept), chosen=chosen,
                  types=types, periods=PERIODS, query=request.url.query)


def csv_amount(amount_minor: int) -> str:
    """``-1250`` → ``-12,50``: French decimals for a spreadsheet (no thousands separator),
    from the integer."""
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), MINOR_PER_MAJOR)
    return f"{sign}{major},{minor:02d}"


CSV_COLUMNS = (N_("Date"), N_("Operation"), N_("Amount"), N_("Currency"), N_("Balance"),
               N_("Counterpart account"), N_("Counterpart name"), N_("Result"),
               N_("Memo"), N_("Transaction"))


def statement_csv(lines: list[Line], lang: Literal["fr", "en"]) -> str:
    """The relevé as CSV: ``;``-separated, amounts ``12,50``, refused lines with no amount."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([gettext(c, lang) for c in CSV_COLUMNS])
    for line in lines:
        entry = line.entry
        writer.writerow([
            when(line.time_ms, lang), entry.label,
            "" if entry.amount_minor is None else csv_amount(entry.amount_minor),
            entry.currency, csv_amount(line.balance_after_minor), entry.counterpart,
            line.counterpart_name, entry.outcome, line.memo_text, line.tx_id])
    return out.getvalue()


@router.get("/historique.csv")
async def history_csv(ctx: Ctx, request: Request, member: Member, q: Q = "",
                      direction: Q = "", type: Q = "", period: Q = "") -> Response:  # noqa: A002
    lang = page_language(request)
    chosen = filters(q, direction, type, period)
    now_ms = ctx.node.clock()
    kept = [line for line in statement_lines(ctx, member.account, lang)
            if chosen.keep(line, now_ms)]
    body = "\ufeff" + statement_csv(kept, lang)
    name = f"releve-{member.account}.csv" if lang == "fr" else f"statement-{member.account}.csv"
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
