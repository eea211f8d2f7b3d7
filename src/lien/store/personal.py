"""The third home of data: what the association knows about its members as people — names,
e-mails, logins, the wallet's sessions, contacts and notifications — as opposed to what the
chain knows about accounts.

Kept apart from the chain on purpose: no chain table refers to these, every table here is keyed
by the member's ``account`` id, and ``erase_member`` deletes a member's rows from **every**
table of this ``MetaData`` (a table added later is erased without changing that method). The
chain stays verifiable after an erasure: it never held any of it.

The tables live in the node's database (same engine, own ``MetaData``, names prefixed
``personal_``) and are created and upgraded by the same migrations as the rest. Only SQL lives
here; the rules (what a valid sign-up is, how a login is checked) are ``lien.members``'.

    personal_profiles       one per member: name; a business's public directory entry
    personal_logins         one per member of the web wallet: e-mail (unique), argon2id hash
                            of the login secret, the KDF parameters, the sealed key backup
    personal_sessions       the web wallet's sessions (the id stored hashed)
    personal_contacts       a member's saved payees
    personal_notifications  what the wallet shows a member (payment received, request...)

Secrets never stored here: the password, the key-encryption key, the private key or its seed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    false,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

#: one row per member who gave the association their name (the wallet's sign-up)
profiles = Table(
    "personal_profiles",
    metadata,
    Column("account", String(12), primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
    # a business's (revision 0004); the directory shows only those who opted in
    Column("trading_name", Text, nullable=True),
    Column("siret", String(14), nullable=True),
    Column("category", String(32), nullable=True),
    Column("town", Text, nullable=True),
    Column("address", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("directory", Boolean, nullable=False, server_default=false()),
)

#: one row per member of the web wallet; ``email`` is normalised (lower case, trimmed)
logins = Table(
    "personal_logins",
    metadata,
    Column("account", String(12), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("login_hash", Text, nullable=False),
    Column("kdf", Text, nullable=False),
    Column("backup", Text, nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
)

#: the web wallet's sessions: ``id_hash`` is SHA-256 of the cookie's value (a stolen database
#: does not give live sessions)
sessions = Table(
    "personal_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("account", String(12), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("seen_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)

contacts = Table(
    "personal_contacts",
    metadata,
    Column("account", String(12), nullable=False),
    Column("contact", String(12), nullable=False),
    Column("label", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("account", "contact"),
)

notifications = Table(
    "personal_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(12), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("read", Boolean, nullable=False, server_default=false()),
    Index("ix_personal_notifications_account_id", "account", "id"),
)

#: a directory search reads at most this many opted-in businesses (an association has ~100)
directory_rows_max = 10_000


@dataclass(frozen=True, slots=True)
class Profile:
    """A member as a person: ``account`` links it to the chain, nothing links back.

    ``name``: the member's name (a business's legal or contact name); the other fields are a
    business's: ``trading_name`` (enseigne), ``siret`` (14 digits), ``category`` (a key of
    ``lien.members.CATEGORIES``), ``town``, ``address``, ``description``, and ``directory``:
    whether it opted in to the public directory."""

    account: str
    name: str
    email: str | None
    updated_ms: int
    trading_name: str | None = None
    siret: str | None = None
    category: str | None = None
    town: str | None = None
    address: str | None = None
    description: str | None = None
    directory: bool = False


@dataclass(frozen=True, slots=True)
class Login:
    """How a member logs in to the web wallet.

    ``email``: normalised; ``kind``: the account's kind on chain (``personal``/``business``);
    ``login_hash``: argon2id (PHC string) of the login secret's hex; ``kdf``: the browser's
    KDF parameters (``KdfParams.to_json()``); ``backup``: the sealed seed (``b1.``...);
    ``status``: ``opening`` while the sign-up's ``open_account`` is being executed, ``open``
    after."""

    account: str
    email: str
    kind: str
    login_hash: str
    kdf: dict[str, Any]
    backup: str
    public_key: str
    created_ms: int
    status: str = "open"


@dataclass(frozen=True, slots=True)
class Session:
    """A web wallet session; ``id_hash`` is SHA-256 (hex) of the cookie's value."""

    id_hash: str
    account: str
    csrf: str
    created_ms: int
    seen_ms: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class Contact:
    account: str
    contact: str
    label: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class Notification:
    """``body``: JSON data for the wallet to word (never a secret)."""

    id: int
    account: str
    kind: str
    body: dict[str, Any]
    created_ms: int
    read: bool


class EmailTaken(Exception):
    """A login with this e-mail (or this account) exists already; nothing was written."""


def _profile_row(p: Profile) -> dict[str, Any]:
    return {"account": p.account, "name": p.name, "email": p.email, "updated_ms": p.updated_ms,
            "trading_name": p.trading_name, "siret": p.siret, "category": p.category,
            "town": p.town, "address": p.address, "description": p.description,
            "directory": p.directory}


def _profile(row: Any) -> Profile:
    return Profile(row.account, row.name, row.email, row.updated_ms, row.trading_name, row.siret,
                   row.category, row.town, row.address, row.description, bool(row.directory))


def _login_row(login: Login) -> dict[str, Any]:
    return {"account": login.account, "email": login.email, "kind": login.kind,
            "login_hash": login.login_hash, "kdf": json.dumps(login.kdf, sort_keys=True),
            "backup": login.backup, "public_key": login.public_key,
            "created_ms": login.created_ms, "status": login.status}


def _login(row: Any) -> Login:
    return Login(row.account, row.email, row.kind, row.login_hash, json.loads(row.kdf),
                 row.backup, row.public_key, row.created_ms, row.status)


def _session(row: Any) -> Session:
    return Session(row.id_hash, row.account, row.csrf, row.created_ms, row.seen_ms,
                   row.expires_ms)


class PersonalData:
    """The personal tables over an engine (the node's own, see ``Store.personal``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- profiles --------------------------------------------------------------------------------
    def set_profile(self, profile: Profile) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(profiles).where(profiles.c.account == profile.account))
            conn.execute(profiles.insert(), _profile_row(profile))

    def profile(self, account: str) -> Profile | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(profiles).where(profiles.c.account == account)).first()
        return _profile(row) if row else None

    def profiles(self, accounts: Sequence[str]) -> list[Profile]:
        if not accounts:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(select(profiles).where(profiles.c.account.in_(list(accounts))))
            return [_profile(row) for row in rows]

    def directory(self) -> list[Profile]:
        """The businesses that opted in to the directory (at most ``directory_rows_max``)."""
        query = (select(profiles).where(profiles.c.directory.is_(True))
                 .order_by(profiles.c.trading_name, profiles.c.account)
                 .limit(directory_rows_max))
        with self.engine.connect() as conn:
            return [_profile(row) for row in conn.execute(query)]

    # -- logins ----------------------------------------------------------------------------------
    def add_member(self, login: Login, profile: Profile) -> None:
        """The login and profile of a new member, in one transaction; ``EmailTaken`` (and
        nothing written) when the e-mail or the account has a login already."""
        try:
            with self.engine.begin() as conn:
                conn.execute(logins.insert(), _login_row(login))
                conn.execute(delete(profiles).where(profiles.c.account == profile.account))
                conn.execute(profiles.insert(), _profile_row(profile))
        except IntegrityError:
            raise EmailTaken(login.email) from None

    def login_by_email(self, email: str) -> Login | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(logins).where(logins.c.email == email)).first()
        return _login(row) if row else None

    def login(self, account: str) -> Login | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(logins).where(logins.c.account == account)).first()
        return _login(row) if row else None

    def login_accounts(self, status: str = "open") -> list[str]:
        """Every account with a login of ``status`` (all of them: the notifier keeps the set)."""
        with self.engine.connect() as conn:
            return [row.account for row in conn.execute(
                select(logins.c.account).where(logins.c.status == status))]

    def set_login_status(self, account: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(logins).where(logins.c.account == account)
                         .values(status=status))

    def logins(self, status: str | None = None, limit: int = 1000) -> list[Login]:
        query = select(logins).order_by(logins.c.created_ms, logins.c.account).limit(limit)
        if status is not None:
            query = query.where(logins.c.status == status)
        with self.engine.connect() as conn:
            return [_login(row) for row in conn.execute(query)]

    def change_secret(self, account: str, login_hash: str, kdf: dict[str, Any], backup: str,
                      keep_session: str | None) -> int:
        """A new login hash, KDF parameters and backup, and every session of the member but
        ``keep_session`` (an ``id_hash``) ended, in one transaction; returns the sessions
        ended."""
        with self.engine.begin() as conn:
            conn.execute(update(logins).where(logins.c.account == account).values(
                login_hash=login_hash, kdf=json.dumps(kdf, sort_keys=True), backup=backup))
            query = delete(sessions).where(sessions.c.account == account)
            if keep_session is not None:
                query = query.where(sessions.c.id_hash != keep_session)
            return int(conn.execute(query).rowcount)

    # -- sessions --------------------------------------------------------------------------------
    def add_session(self, session: Session) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.insert(), {
                "id_hash": session.id_hash, "account": session.account, "csrf": session.csrf,
                "created_ms": session.created_ms, "seen_ms": session.seen_ms,
                "expires_ms": session.expires_ms})

    def session(self, id_hash: str) -> Session | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.id_hash == id_hash)).first()
        return _session(row) if row else None

    def touch_session(self, id_hash: str, seen_ms: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(sessions).where(sessions.c.id_hash == id_hash)
                         .values(seen_ms=seen_ms))

    def end_session(self, id_hash: str) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(delete(sessions).where(sessions.c.id_hash == id_hash))
                       .rowcount)

    def end_sessions(self, account: str) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(delete(sessions).where(sessions.c.account == account))
                       .rowcount)

    def sessions_of(self, account: str) -> list[Session]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(sessions).where(sessions.c.account == account))
            return [_session(row) for row in rows]

    def purge_sessions(self, idle_before_ms: int, now_ms: int) -> int:
        """Delete the sessions idle since before ``idle_before_ms`` or expired at ``now_ms``."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(sessions).where(
                (sessions.c.seen_ms < idle_before_ms) | (sessions.c.expires_ms <= now_ms)))
                .rowcount)

    # -- contacts --------------------------------------------------------------------------------
    def set_contact(self, contact: Contact) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(contacts).where((contacts.c.account == contact.account)
                                                & (contacts.c.contact == contact.contact)))
            conn.execute(contacts.insert(), {
                "account": contact.account, "contact": contact.contact, "label": contact.label,
                "created_ms": contact.created_ms})

    def remove_contact(self, account: str, contact: str) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(delete(contacts).where(
                (contacts.c.account == account) & (contacts.c.contact == contact))).rowcount)

    def contacts(self, account: str, limit: int = 1000) -> list[Contact]:
        query = (select(contacts).where(contacts.c.account == account)
                 .order_by(contacts.c.label, contacts.c.contact).limit(limit))
        with self.engine.connect() as conn:
            return [Contact(r.account, r.contact, r.label, r.created_ms)
                    for r in conn.execute(query)]

    # -- notifications ---------------------------------------------------------------------------
    def add_notification(self, account: str, kind: str, body: dict[str, Any],
                         created_ms: int) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(notifications.insert().values(
                account=account, kind=kind, body=json.dumps(body, ensure_ascii=False,
                                                            sort_keys=True),
                created_ms=created_ms, read=False))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def add_notifications(self, rows: Sequence[tuple[str, str, dict[str, Any]]],
                          created_ms: int) -> int:
        """Many notifications ``(account, kind, body)`` in one transaction (all or none);
        returns how many were written."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            conn.execute(notifications.insert(), [
                {"account": account, "kind": kind,
                 "body": json.dumps(body, ensure_ascii=False, sort_keys=True),
                 "created_ms": created_ms, "read": False} for account, kind, body in rows])
        return len(rows)

    def unread_count(self, account: str) -> int:
        query = (select(func.count()).select_from(notifications)
                 .where(notifications.c.account == account)
                 .where(notifications.c.read.is_(False)))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def notifications(self, account: str, limit: int = 50,
                      unread_only: bool = False) -> list[Notification]:
        query = (select(notifications).where(notifications.c.account == account)
                 .order_by(notifications.c.id.desc()).limit(limit))
        if unread_only:
            query = query.where(notifications.c.read.is_(False))
        with self.engine.connect() as conn:
            return [Notification(r.id, r.account, r.kind, json.loads(r.body), r.created_ms,
                                 bool(r.read)) for r in conn.execute(query)]

    def mark_read(self, account: str, ids: Sequence[int] | None = None) -> int:
        """Mark the member's notifications ``ids`` (all, when None) read."""
        query = update(notifications).where(notifications.c.account == account)
        if ids is not None:
            query = query.where(notifications.c.id.in_(list(ids)))
        with self.engine.begin() as conn:
            return int(conn.execute(query.values(read=True)).rowcount)

    # -- erasure ---------------------------------------------------------------------------------
    def erase_member(self, account: str) -> int:
        """Delete everything personal about one member, in one transaction; returns the number
        of rows deleted. Every table of this home has an ``account`` column (a test checks)."""
        erased = 0
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:
                erased += conn.execute(delete(table).where(table.c.account == account)).rowcount
        return erased
