"""The member's notifications as the pages word them: the count badge of the member's menu,
the latest unread on ``/compte`` and the list of ``/notifications``.

``render`` gives every template an ``Inbox`` of the member signed in (``inbox``); it reads
nothing until a template asks (``inbox.count()``, ``inbox.latest()``), through the members'
service — never SQL. A page without a member, or a node that keeps no members' data, has an
empty inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from ..ledger import format_amount
from ..members import Members
from ..members.notifier import ORDER_FAILED, PAYMENT_RECEIVED, PAYMENT_REQUEST
from ..store import Notification, Session
from ..wallet.statement import reason_text
from .i18n import Lang, gettext, gettext_noop as N_

#: unread notifications shown on the account page
LATEST_SHOWN = 3

WORDS = {
    PAYMENT_RECEIVED: N_("Payment received: %(amount)s from %(who)s."),
    PAYMENT_REQUEST: N_("Payment request: %(who)s asks you for %(amount)s."),
    ORDER_FAILED: N_("Standing order not executed (%(amount)s to %(who)s): %(reason)s."),
}
#: where a notification leads
LINKS = {PAYMENT_RECEIVED: "/historique", PAYMENT_REQUEST: "/compte", ORDER_FAILED: "/ordres"}


@dataclass(frozen=True, slots=True)
class NoteView:
    """One notification as shown: ``text`` in the page's language, ``href`` where it leads
    (empty: nowhere)."""

    id: int
    kind: str
    text: str
    time_ms: int
    read: bool
    href: str


def _grouped(account: str) -> str:
    return "-".join(account[i:i + 4] for i in range(0, len(account), 4))


def word(note: Notification, names: dict[str, str], lang: Lang) -> str:
    """A notification's sentence (``Paiement reçu : 12,50 LIEN de Boulangerie.``)."""
    body: dict[str, Any] = note.body
    amount = body.get("amount_minor")
    who = body.get("from") if note.kind != ORDER_FAILED else body.get("to")
    values = {
        "amount": format_amount(amount, str(body.get("currency", "")), lang)
        if isinstance(amount, int) and not isinstance(amount, bool) else "?",
        "who": names.get(who, _grouped(who)) if isinstance(who, str) else "?",
        "reason": reason_text(str(body.get("reason", "")), lang),
    }
    template = WORDS.get(note.kind)
    return gettext(template, lang) % values if template else note.kind


class Inbox:
    """The notifications of ``member`` (None: nobody signed in), read when asked."""

    def __init__(self, members: Members | None, member: Session | None, lang: Lang) -> None:
        self.members = members if member is not None else None
        self.account = member.account if member is not None else ""
        self.lang = lang
        self._count: int | None = None

    def count(self) -> int:
        """Unread notifications."""
        if self.members is None:
            return 0
        if self._count is None:
            self._count = self.members.unread_count(self.account)
        return self._count

    def latest(self, limit: int = LATEST_SHOWN) -> list[NoteView]:
        """The newest unread, at most ``limit``."""
        if not self.count():
            return []
        return self._views(self._read(True)[:limit])

    def all(self) -> list[NoteView]:
        """The newest notifications (the service's page), read or not."""
        return self._views(self._read(False))

    def _read(self, unread_only: bool) -> list[Notification]:
        assert self.members is not None
        return self.members.notifications(self.account, unread_only)

    def _views(self, notes: list[Notification]) -> list[NoteView]:
        if not notes or self.members is None:
            return []
        who = {str(n.body.get(k)) for n in notes for k in ("from", "to")
               if isinstance(n.body.get(k), str)}
        names = self.members.names(self.account, sorted(who)) if who else {}
        return [NoteView(n.id, n.kind, word(n, names, self.lang), n.created_ms, n.read,
                         LINKS.get(n.kind, "")) for n in notes]


def inbox_for(request: Request, context: dict[str, Any], lang: Lang) -> Inbox:
    """The inbox of the member a page shows (its ``member`` context value)."""
    member = context.get("member")
    state = getattr(request.app.state, "lien", None)
    members = getattr(state, "members", None)
    return Inbox(members if isinstance(members, Members) else None,
                 member if isinstance(member, Session) else None, lang)


__all__ = ["Inbox", "NoteView", "inbox_for", "word"]
