"""The members' service layer: the node-local data about people — sign-up, logins, sessions,
the directory, names, contacts, notifications and e-mail — over ``lien.store.personal``.

It imports the ledger, the chain, the store and the wallet (for the KDF parameters), plus
argon2; the web layer calls it and never touches SQL. Nothing here goes on chain.

Public API::

    Members, MembersSettings   — the service over one node's personal data (``service``)
    signup_form, FieldError, MESSAGES, CATEGORIES — checking what a member typed (``validation``)
    Mail, Sender, FileSender, SmtpSender, MemorySender, sender_from_config — e-mail (``mail``)
    Note                       — one notification to write (``service``)
    Notifier, NotifierSettings — notifications from the node's events (``notifier``)
    node_secret                — the node's secret (``DIR/web.secret``), made when missing

Errors::

    FieldError (ValueError)    a field that is not valid: its name and a message key
    LoginFailed                wrong login secret or unknown e-mail (the same, on purpose)
    Locked                     too many attempts: retry after ``retry_after_s``
    SessionGone                no session, or an ended one
    MailConfigError            node.toml's [mail] is not valid
"""

from __future__ import annotations

import os
from pathlib import Path

from .mail import (
    FileSender,
    Mail,
    MailConfigError,
    MemorySender,
    Sender,
    SmtpSender,
    sender_from_config,
)
from .service import (
    Locked,
    LoginFailed,
    Member,
    Members,
    MembersSettings,
    Note,
    Opened,
    SessionGone,
    check_opening,
)
from .notifier import Notifier, NotifierSettings
from .validation import CATEGORIES, MESSAGES, FieldError, SignupForm, signup_form

#: the node's secret file, in the node directory (mode 0600)
SECRET_FILE = "web.secret"
secret_bytes = 32


def node_secret(directory: Path) -> bytes:
    """The node's secret in ``directory/web.secret``, created (0600) when missing."""
    path = directory / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        text = path.read_text().strip()
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"{path} is not a node secret (hex)") from None
        if len(secret) < 16:
            raise ValueError(f"{path} is too short to be a node secret")
        return secret
    secret = os.urandom(secret_bytes)
    with os.fdopen(fd, "w") as f:
        f.write(secret.hex() + "\n")
    return secret


__all__ = [
    "CATEGORIES", "MESSAGES", "FieldError", "FileSender", "Locked", "LoginFailed", "Mail",
    "MailConfigError", "Member", "Members", "MembersSettings", "MemorySender", "Note",
    "Notifier", "NotifierSettings", "Opened",
    "SECRET_FILE", "Sender", "SessionGone", "SignupForm", "SmtpSender", "check_opening",
    "node_secret", "sender_from_config", "signup_form",
]
