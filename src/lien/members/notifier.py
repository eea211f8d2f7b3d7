"""Notifications from the node's executed transactions: a payment received, a payment request
received, a standing order that failed (that one also by e-mail to the payer).

    node thread ──listener(account, event)──▶ bounded queue ──▶ worker thread
        (a set lookup; most accounts stop here)                  (reads the bodies, writes the
                                                                  batch in one transaction,
                                                                  then sends the e-mails)

The node calls ``listener`` after each commit, for every account a transaction touched, at
thousands of payments a second: it must be cheap and must never raise. So it only asks
whether the account has a wallet login (``Members.wallet``, a frozenset kept by sign-up and
erasure) and whether the type is one that notifies, and appends to a bounded queue — an account
without a login (the benchmark's, the CLI's) costs one set lookup. When the queue holds
``queue_events_max`` events, a new one is dropped and counted (``dropped``): the node never
waits for the notifier.

The worker drains the queue in batches of at most ``batch_events_max``: it reads each
transaction's body (``lookup``, the store), decides (``note_for``, pure), and writes the batch's
notifications in one database transaction, retried whole on failure — so a retry never writes
one twice. A transaction id is notified once per account: a client that submits the same
signed payment again gets ``duplicate``, which notifies nothing, and the worker remembers the
last ``seen_ids_max`` ids it notified as a second guard. ``flush`` waits until every event
queued so far is handled (tests use it instead of sleeping).

Events are duck-typed (``Event``: ``lien.node.TxEvent``'s ``id``, ``type`` and ``result``): this
layer does not import the node. Types the notifier reacts to, by their type string:
``transfer`` and ``order_run`` executed ok (to the payee: a payment received),
``request_payment`` ok (to its ``from``, the member asked to pay) and ``order_run`` refused (to
its ``from``, the payer, also by e-mail).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..ledger import format_amount
from ..wallet.statement import reason_text
from .mail import Mail
from .service import Members, Note

log = logging.getLogger("lien.members.notifier")

#: the kinds of notification (``personal_notifications.kind``)
PAYMENT_RECEIVED = "payment_received"
PAYMENT_REQUEST = "payment_request"
ORDER_FAILED = "order_failed"
#: the transaction types that may notify (any other is dropped in the node's thread)
WATCHED = frozenset({"transfer", "request_payment", "order_run"})


class Event(Protocol):
    """What the node hands its listeners (``lien.node.node.TxEvent``)."""

    @property
    def id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def result(self) -> dict[str, Any]: ...


#: a transaction's body by its id (None when the store does not have it)
Lookup = Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class NotifierSettings:
    """Named bounds of the notifier."""

    #: Events waiting for the worker; one more is dropped (and counted).
    queue_events_max: int = 10_000
    #: Events the worker handles in one database transaction.
    batch_events_max: int = 500
    #: Transaction ids remembered as notified (a second guard against writing one twice).
    seen_ids_max: int = 10_000
    #: Attempts at writing one batch before it is given up (logged).
    write_attempts_max: int = 3
    #: Pause before a new attempt, doubled each time.
    retry_delay_s: float = 0.2


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _money(body: Mapping[str, Any]) -> dict[str, Any]:
    amount, currency = _int(body.get("amount")), body.get("currency")
    found: dict[str, Any] = {}
    if amount is not None:
        found["amount_minor"] = amount
    if isinstance(currency, str):
        found["currency"] = currency
    return found


def note_for(account: str, tx_id: str, tx_type: str, result: Mapping[str, Any],
             body: Mapping[str, Any]) -> Note | None:
    """The notification ``account`` gets for one executed transaction, if any."""
    ok = result.get("code") == "ok"
    if tx_type == "transfer" or (tx_type == "order_run" and ok):
        if not ok or body.get("to") != account:
            return None
        return Note(account, PAYMENT_RECEIVED, {"tx": tx_id, "from": body.get("from"),
                                                **_money(body)})
    if tx_type == "request_payment":
        # ``from`` is asked to pay ``to``, who signed the request
        if not ok or body.get("from", body.get("payer")) != account:
            return None
        return Note(account, PAYMENT_REQUEST, {"tx": tx_id, "from": body.get("to"),
                                               **_money(body)})
    if tx_type == "order_run":
        if body.get("from", body.get("payer")) != account:
            return None
        data = {"tx": tx_id, "to": body.get("to"), "reason": str(result.get("code", "")),
                **_money(body)}
        return Note(account, ORDER_FAILED, data, order_failed_mail(data))
    return None


def order_failed_mail(data: Mapping[str, Any]) -> Mail:
    """The e-mail of a failed standing order, in French (words for people, no secret)."""
    amount = data.get("amount_minor")
    what = "Votre ordre permanent"
    if isinstance(amount, int):
        what += f" de {format_amount(amount, str(data.get('currency', '')))}"
    if isinstance(data.get("to"), str):
        what += f" vers le compte {data['to']}"
    return Mail("", "Votre ordre permanent n'a pas pu être exécuté",
                f"Bonjour,\n\n{what} n'a pas pu être exécuté : "
                f"{reason_text(str(data.get('reason', '')))}.\n\nAucun argent n'a bougé. "
                "Vérifiez votre solde dans votre portefeuille LIEN ; l'ordre reste actif "
                "pour ses prochaines échéances.\n\nLe LIEN\n")


class Notifier:
    """Turns the node's events into the members' notifications, off the node's thread."""

    def __init__(self, members: Members, lookup: Lookup,
                 settings: NotifierSettings | None = None) -> None:
        self.members = members
        self.lookup = lookup
        self.settings = settings or NotifierSettings()
        self.dropped = 0
        self._queue: deque[tuple[str, Event]] = deque()
        self._cond = threading.Condition()
        self._queued = 0
        self._handled = 0
        self._stopping = threading.Event()
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._thread: threading.Thread | None = None

    @property
    def queued(self) -> int:
        """Events queued since the start (handled or not; the dropped are not counted)."""
        return self._queued

    # -- the node's thread -------------------------------------------------------------------
    def listener(self, account: str, event: Event) -> None:
        """The node's listener: cheap, and never raises."""
        try:
            if account not in self.members.wallet or event.type not in WATCHED:
                return
            with self._cond:
                if len(self._queue) >= self.settings.queue_events_max:
                    self.dropped += 1
                    return
                self._queue.append((account, event))
                self._queued += 1
                self._cond.notify_all()
        except Exception:  # noqa: BLE001 — an exception here would halt the node
            pass

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Load the wallet's accounts and start the worker."""
        self.members.load_wallet()
        self._thread = threading.Thread(target=self._run, name="lien-notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Handle what is queued (within ``timeout_s``), then end the worker."""
        if self._thread is None:
            return
        self.flush(timeout_s)
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout_s)
        self._thread = None

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every event queued so far is handled; False when ``timeout_s`` ran out."""
        with self._cond:
            target = self._queued
            return self._cond.wait_for(lambda: self._handled >= target, timeout_s)

    # -- the worker --------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._stopping.is_set())
                if not self._queue:
                    return
                n = min(len(self._queue), self.settings.batch_events_max)
                batch = [self._queue.popleft() for _ in range(n)]
                dropped, self.dropped = self.dropped, 0
            if dropped:
                log.warning("%d events dropped: the notifications queue was full", dropped)
            try:
                self._handle(batch)
            except Exception:  # noqa: BLE001 — the worker must outlive one bad batch
                log.exception("a batch of %d notification events was lost", len(batch))
            with self._cond:
                self._handled += len(batch)
                self._cond.notify_all()

    def _handle(self, batch: list[tuple[str, Event]]) -> None:
        bodies: dict[str, Mapping[str, Any] | None] = {}
        notes: list[Note] = []
        keys: list[tuple[str, str]] = []
        for account, event in batch:
            key = (account, event.id)
            if key in self._seen or key in keys:
                continue
            if event.id not in bodies:
                bodies[event.id] = self.lookup(event.id)
            body = bodies[event.id]
            note = note_for(account, event.id, event.type, event.result, body) \
                if body is not None else None
            if note is not None:
                notes.append(note)
                keys.append(key)
        if notes:
            self._write(notes)
        for key in keys:
            self._seen[key] = None
        while len(self._seen) > self.settings.seen_ids_max:
            self._seen.popitem(last=False)

    def _write(self, notes: list[Note]) -> None:
        delay_s = self.settings.retry_delay_s
        for attempt in range(1, self.settings.write_attempts_max + 1):
            try:
                self.members.notify_many(notes)
                return
            except Exception:
                if attempt == self.settings.write_attempts_max:
                    raise
                log.warning("writing %d notifications failed (attempt %d), retrying",
                            len(notes), attempt, exc_info=True)
                if self._stopping.wait(delay_s):
                    raise
                delay_s *= 2


__all__ = ["ORDER_FAILED", "PAYMENT_RECEIVED", "PAYMENT_REQUEST", "WATCHED", "Event",
           "Lookup", "Notifier", "NotifierSettings", "note_for", "order_failed_mail"]
