"""The members' service: sign-up, login, sessions, password change, directory, names, contacts,
notifications and e-mail, over the personal tables (``lien.store.personal``).

The web layer calls this and never SQL; the rules live here:

* **No account enumeration.** ``kdf_for`` answers an unknown e-mail with parameters of the same
  shape, whose salt is an HMAC of the e-mail under the node's secret: stable, so asking twice
  tells nothing. ``login`` verifies an unknown e-mail's secret against a dummy hash: the same
  work, the same ``LoginFailed``. A sign-up with an e-mail already used is answered as any
  other (the caller says "pending") and the address's owner gets a mail.
* **Throttling.** Failed logins per client address and per e-mail, sign-ups per address
  (``throttle``): past a rule, ``Locked`` with the seconds to wait, before any hash is checked.
* **Sessions** are opaque random tokens; the table keeps their SHA-256 only. A session ends
  after ``session_idle_ms`` without use or ``session_absolute_ms`` after login, at logout, at
  "log out everywhere" and, but the one in use, at a password change.
* **Secrets.** The node stores an argon2id hash of the login secret (``PasswordHasher``) and the
  backup the browser sealed; it never sees the password, the key-encryption key or the seed.

The clock (ms since the epoch) is injected: tests move time, never sleep.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..ledger import Tx, account_id_for_key
from ..store import (
    Contact,
    EmailTaken,
    Login,
    Notification,
    PersonalData,
    Profile,
    Session,
)
from ..wallet.backup import KdfParams
from . import validation
from .mail import Mail, Sender
from .throttle import Locked, Throttle, ThrottleRule, check
from .validation import FieldError, SignupForm

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
#: the domain of the fake salts' HMAC (so the node secret serves nothing else by accident)
FAKE_SALT_TAG = b"LIEN/fake-kdf-salt/v1\0"
#: a cookie value longer than this is not a session token (``secrets.token_urlsafe(32)``: 43)
session_token_chars_max = 100


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class MembersSettings:
    """Named bounds of the members' service."""

    #: A session unused this long ends.
    session_idle_ms: int = 7 * DAY_MS
    #: A session ends this long after its login, however used.
    session_absolute_ms: int = 30 * DAY_MS
    #: A session's last use is written at most this often (not on every request).
    session_touch_ms: int = MINUTE_MS
    #: Sessions one member may hold; a new login ends the oldest beyond.
    sessions_per_member_max: int = 20
    #: Failed logins from one client address before a lockout.
    login_per_address: ThrottleRule = ThrottleRule(20, 15 * MINUTE_MS, 15 * MINUTE_MS)
    #: Failed logins (or password changes) for one e-mail before a lockout.
    login_per_email: ThrottleRule = ThrottleRule(5, 15 * MINUTE_MS, 15 * MINUTE_MS)
    #: Sign-ups from one client address (each counts) before a pause.
    signup_per_address: ThrottleRule = ThrottleRule(10, HOUR_MS, HOUR_MS)
    #: Keys each throttle remembers (least recently used forgotten first).
    throttle_keys_max: int = 50_000
    #: Contacts one member may save.
    contacts_max: int = 500
    #: Directory entries one search answers.
    directory_results_max: int = 50
    #: Accounts one names lookup may ask.
    names_max: int = 100
    #: Notifications one page lists.
    notifications_page_max: int = 100


class LoginFailed(Exception):
    """Wrong login secret or unknown e-mail: the same exception, on purpose."""


class SessionGone(Exception):
    """No session, an expired one, or one ended elsewhere."""


@dataclass(frozen=True, slots=True)
class Opened:
    """A new session: ``token`` goes in the cookie (and nowhere else), ``session`` is the row."""

    token: str
    session: Session
    login: Login


@dataclass(frozen=True, slots=True)
class Note:
    """A notification to write: ``body`` is JSON data the wallet words (never a secret);
    ``mail``: also sent to the member's address (its ``to`` is ignored)."""

    account: str
    kind: str
    body: dict[str, Any]
    mail: Mail | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """What the wallet shows of the member logged in."""

    login: Login
    profile: Profile | None


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def fold(text: str) -> str:
    """Case- and accent-insensitive form for searching (``Crêt`` finds ``cret``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def check_opening(tx: Tx, form: SignupForm, currency: str) -> None:
    """The browser-signed ``open_account`` must open exactly the form's account: its id, key,
    kind and the node's currency; the key must be the account's."""
    body = tx.body
    expected = {"type": "open_account", "account": form.account, "key": form.public_key,
                "kind": form.kind, "currency": currency}
    if any(body.get(name) != value for name, value in expected.items()):
        raise FieldError("open_tx", "open_tx_invalid")
    if account_id_for_key(bytes.fromhex(form.public_key)) != form.account:
        raise FieldError("public_key", "public_key_invalid")


@dataclass
class Members:
    """The service over one node's personal data. ``secret``: the node's secret (``web.secret``
    in the node directory), for the fake KDF salts; ``sender``: where e-mail goes."""

    personal: PersonalData
    secret: bytes
    sender: Sender
    clock: Callable[[], int] = wall_clock_ms
    settings: MembersSettings = field(default_factory=MembersSettings)
    hasher: PasswordHasher = field(default_factory=PasswordHasher)

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ValueError("the node secret must be at least 16 bytes")
        s = self.settings
        self._dummy: str | None = None
        self.by_address = Throttle(s.login_per_address, self.clock, s.throttle_keys_max)
        self.by_email = Throttle(s.login_per_email, self.clock, s.throttle_keys_max)
        self.signups_by_address = Throttle(s.signup_per_address, self.clock,
                                           s.throttle_keys_max)
        #: the accounts with an open wallet login (``load_wallet``, then kept by sign-up and
        #: erasure): the notifier reads it from the node's thread, so it is a frozenset
        #: replaced whole, never changed in place
        self.wallet: frozenset[str] = frozenset()
        self._wallet_lock = threading.Lock()

    # -- the KDF parameters ------------------------------------------------------------------
    def fake_kdf(self, email: str) -> dict[str, Any]:
        salt = hmac.new(self.secret, FAKE_SALT_TAG + email.encode(), hashlib.sha256).digest()
        return KdfParams(salt[:16].hex()).to_json()

    def kdf_for(self, email: Any) -> dict[str, Any]:
        """The member's KDF parameters, or stable fake ones of the same shape."""
        address = validation.normalise_email(email)
        login = self.personal.login_by_email(address)
        if login is None or login.status != "open":
            return self.fake_kdf(address)
        return login.kdf

    # -- sign-up -----------------------------------------------------------------------------
    def count_signup(self, address: str) -> None:
        """Count one sign-up from ``address``; ``Locked`` past the rule (nothing counted)."""
        check([(self.signups_by_address, address, "sign-ups from this address")])
        self.signups_by_address.fail(address)

    def begin_signup(self, form: SignupForm) -> Login | None:
        """Reserve the e-mail and store the member's rows (login ``opening``), before the
        account is opened on chain; None when the e-mail (or account) has a login already:
        nothing written, and the address's owner is told by mail."""
        now = self.clock()
        login = Login(form.account, form.email, form.kind, self.hasher.hash(form.login_secret),
                      form.kdf, form.backup, form.public_key, now, "opening")
        p = form.profile
        profile = Profile(form.account, p.name, form.email, now, p.trading_name, p.siret,
                          p.category, p.town, p.address, p.description, p.directory)
        try:
            self.personal.add_member(login, profile)
        except EmailTaken:
            self._mail_someone_tried(form.email)
            return None
        return login

    def finish_signup(self, login: Login) -> None:
        """The account is open on chain (pending approval): the login may be used."""
        self.personal.set_login_status(login.account, "open")
        self._wallet_change(login.account, True)
        self._send(Mail(login.email, "Votre compte LIEN est en attente de validation",
                        "Bonjour,\n\nVotre demande d'ouverture de compte LIEN est enregistrée. "
                        "L'association la valide au plus vite ; vous pouvez déjà vous "
                        "connecter.\n\nLe LIEN\n"))

    def abandon_signup(self, login: Login) -> None:
        """The chain refused the opening: nothing of the member stays."""
        self.erase(login.account)

    def erase(self, account: str) -> int:
        """Everything personal about one member (GDPR erasure); the rows deleted."""
        erased = self.personal.erase_member(account)
        self._wallet_change(account, False)
        return erased

    # -- the wallet's accounts ---------------------------------------------------------------
    def load_wallet(self) -> frozenset[str]:
        """Read the accounts with an open login (once, when the notifier starts)."""
        with self._wallet_lock:
            self.wallet = frozenset(self.personal.login_accounts("open"))
            return self.wallet

    def _wallet_change(self, account: str, member: bool) -> None:
        with self._wallet_lock:
            self.wallet = self.wallet | {account} if member else self.wallet - {account}

    def _mail_someone_tried(self, email: str) -> None:
        self._send(Mail(email, "Tentative d'ouverture de compte avec votre adresse",
                        "Bonjour,\n\nQuelqu'un a essayé d'ouvrir un compte LIEN avec votre "
                        "adresse e-mail, qui a déjà un compte. Si c'était vous, connectez-vous "
                        "avec votre mot de passe. Sinon, vous n'avez rien à faire.\n\n"
                        "Le LIEN\n"))

    def _send(self, mail: Mail) -> None:
        try:
            self.sender.send(mail)
        except Exception:  # noqa: BLE001 — a mail server down must not refuse a member
            logging.getLogger("lien.members").warning(
                "could not send a mail (%s)", mail.subject, exc_info=False)

    # -- login -------------------------------------------------------------------------------
    def login(self, email: Any, login_secret: Any, address: str) -> Opened:
        """A new session for the right login secret; ``LoginFailed`` for a wrong one or an
        unknown e-mail (same work, same answer); ``Locked`` past the throttles."""
        try:
            mail_key = validation.normalise_email(email)
        except FieldError:
            mail_key = ""
        check([(self.by_address, address, "failed logins from this address"),
               (self.by_email, mail_key, "failed logins for this e-mail")])
        secret = login_secret if isinstance(login_secret, str) else ""
        login = self.personal.login_by_email(mail_key) if mail_key else None
        usable = login is not None and login.status == "open"
        ok = self._verify(login.login_hash if login and usable else self._dummy_hash, secret)
        if not (ok and usable and login is not None):
            self.by_address.fail(address)
            if mail_key:
                self.by_email.fail(mail_key)
            raise LoginFailed()
        self.by_email.clear(mail_key)
        return self.open_session(login)

    @property
    def _dummy_hash(self) -> str:
        """What an unknown e-mail's secret is checked against (the same work as a real one)."""
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_hex(32))
        return self._dummy

    def _verify(self, hashed: str, secret: str) -> bool:
        try:
            return bool(self.hasher.verify(hashed, secret))
        except (VerificationError, InvalidHashError):
            return False

    # -- sessions ----------------------------------------------------------------------------
    def open_session(self, login: Login) -> Opened:
        now = self.clock()
        s = self.settings
        self.personal.purge_sessions(now - s.session_idle_ms, now)
        token = secrets.token_urlsafe(32)
        session = Session(session_hash(token), login.account, secrets.token_urlsafe(32), now,
                          now, now + s.session_absolute_ms)
        self.personal.add_session(session)
        older = sorted(self.personal.sessions_of(login.account), key=lambda x: x.created_ms)
        for stale in older[:max(0, len(older) - s.sessions_per_member_max)]:
            self.personal.end_session(stale.id_hash)
        return Opened(token, session, login)

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie's ``token``; an expired one is ended here."""
        if not token or len(token) > session_token_chars_max:
            return None
        id_hash = session_hash(token)
        session = self.personal.session(id_hash)
        if session is None:
            return None
        now = self.clock()
        if now - session.seen_ms >= self.settings.session_idle_ms or now >= session.expires_ms:
            self.personal.end_session(id_hash)
            return None
        if now - session.seen_ms >= self.settings.session_touch_ms:
            self.personal.touch_session(id_hash, now)
        return session

    def logout(self, session: Session) -> None:
        self.personal.end_session(session.id_hash)

    def logout_everywhere(self, account: str) -> int:
        return self.personal.end_sessions(account)

    # -- the member --------------------------------------------------------------------------
    def member(self, account: str) -> Member | None:
        login = self.personal.login(account)
        if login is None:
            return None
        return Member(login, self.personal.profile(account))

    def change_password(self, session: Session, old_secret: Any, new_secret: Any,
                        kdf: Any, backup: Any) -> int:
        """New login hash, KDF parameters and backup (the browser re-sealed the same seed
        with the new password's key); every other session ends. ``FieldError`` on
        ``old_login_secret`` for a wrong old secret (counted as a failed login); returns the
        sessions ended."""
        login = self.personal.login(session.account)
        if login is None:
            raise SessionGone()
        check([(self.by_email, login.email, "failed logins for this e-mail")])
        new = validation.check_secret(new_secret)
        params = validation.check_kdf(kdf)
        sealed = validation.check_backup(backup)
        old = old_secret if isinstance(old_secret, str) else ""
        if not self._verify(login.login_hash, old):
            self.by_email.fail(login.email)
            raise FieldError("old_login_secret", "password_wrong")
        ended = self.personal.change_secret(login.account, self.hasher.hash(new), params,
                                            sealed, keep_session=session.id_hash)
        self._send(Mail(login.email, "Votre mot de passe LIEN a changé",
                        "Bonjour,\n\nLe mot de passe de votre compte LIEN vient d'être changé ; "
                        "vos autres appareils sont déconnectés. Si ce n'était pas vous, "
                        "contactez l'association.\n\nLe LIEN\n"))
        return ended

    # -- directory and names -----------------------------------------------------------------
    def directory(self, q: str = "", category: str = "", town: str = "") -> list[Profile]:
        """Opted-in businesses whose trading name or name holds ``q``, of ``category``, in a
        town that holds ``town`` (case and accents ignored)."""
        words, place = fold(q.strip()), fold(town.strip())
        found = []
        for p in self.personal.directory():
            if category and p.category != category:
                continue
            if words and words not in fold(f"{p.trading_name or ''} {p.name}"):
                continue
            if place and place not in fold(p.town or ""):
                continue
            found.append(p)
            if len(found) >= self.settings.directory_results_max:
                break
        return found

    def names(self, viewer: str, accounts: Sequence[str]) -> dict[str, str]:
        """The names ``viewer`` may see: its own, its contacts' labels, and the directory's
        businesses (their trading name)."""
        wanted = set(accounts[: self.settings.names_max])
        names: dict[str, str] = {}
        for p in self.personal.profiles(sorted(wanted)):
            if p.account == viewer:
                names[p.account] = p.trading_name or p.name
            elif p.directory:
                names[p.account] = p.trading_name or p.name
        for c in self.personal.contacts(viewer, self.settings.contacts_max):
            if c.contact in wanted:
                names.setdefault(c.contact, c.label)
        return names

    # -- contacts ----------------------------------------------------------------------------
    def contacts(self, account: str) -> list[Contact]:
        return self.personal.contacts(account, self.settings.contacts_max)

    def save_contact(self, account: str, contact: Any, label: Any) -> Contact:
        payee = validation.check_account(contact, "contact")
        name = validation.text(label, "label", "label_length", 1,
                               validation.contact_label_chars_max)
        existing = self.personal.contacts(account, self.settings.contacts_max + 1)
        if (len(existing) >= self.settings.contacts_max
                and payee not in {c.contact for c in existing}):
            raise FieldError("contact", "contacts_full")
        saved = Contact(account, payee, name, self.clock())
        self.personal.set_contact(saved)
        return saved

    def remove_contact(self, account: str, contact: Any) -> bool:
        return self.personal.remove_contact(account, validation.check_account(
            contact, "contact")) > 0

    # -- notifications -----------------------------------------------------------------------
    def notify(self, account: str, kind: str, body: dict[str, Any],
               mail: Mail | None = None) -> int:
        """A notification in the wallet, and optionally by e-mail to the member's address."""
        note = self.personal.add_notification(account, kind, body, self.clock())
        if mail is not None:
            login = self.personal.login(account)
            if login is not None:
                self._send(Mail(login.email, mail.subject, mail.body))
        return note

    def notify_many(self, notes: Sequence[Note]) -> int:
        """Many notifications in one database transaction (all or none), then their e-mails
        (a mail that fails is logged, the notifications stay); returns how many."""
        written = self.personal.add_notifications(
            [(n.account, n.kind, n.body) for n in notes], self.clock())
        for note in notes:
            if note.mail is None:
                continue
            try:
                login = self.personal.login(note.account)
            except Exception:  # noqa: BLE001 — written already: a retry would write it twice
                logging.getLogger("lien.members").warning("could not read a member's address")
                continue
            if login is not None:
                self._send(Mail(login.email, note.mail.subject, note.mail.body))
        return written

    def unread_count(self, account: str) -> int:
        return self.personal.unread_count(account)

    def notifications(self, account: str, unread_only: bool = False) -> list[Notification]:
        return self.personal.notifications(account, self.settings.notifications_page_max,
                                           unread_only)

    def mark_read(self, account: str, ids: Sequence[int] | None = None) -> int:
        return self.personal.mark_read(account, ids)

    # -- the association's view --------------------------------------------------------------
    def signups(self) -> list[Member]:
        """Every member with a usable login, oldest first (``lien admin pending`` keeps those
        whose account the chain still holds pending)."""
        logins = self.personal.logins("open")
        profiles = {p.account: p for p in self.personal.profiles([x.account for x in logins])}
        return [Member(x, profiles.get(x.account)) for x in logins]


__all__ = ["Locked", "LoginFailed", "Member", "Members", "MembersSettings", "Note", "Opened",
           "SessionGone", "check_opening", "fold", "session_hash", "wall_clock_ms"]
