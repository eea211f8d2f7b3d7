"""E-mail to members through a pluggable ``Sender``: a ``FileSender`` by default (one ``.eml``
file per message under ``DIR/mail/``, for an operator or a test to read), or SMTP configured in
node.toml's ``[mail]`` table::

    [mail]
    sender = "smtp"            # or "file" (the default)
    from = "Le LIEN <ne-pas-repondre@lelien.fr>"
    host = "smtp.example.org"
    port = 587
    starttls = true
    username = "lien"
    password = "..."           # kept in node.toml, never logged

Messages never hold a password, a login secret, a key or a backup: only words for people.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol

DEFAULT_FROM = "Le LIEN <ne-pas-repondre@lelien.invalid>"
smtp_timeout_s = 10.0


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str


class Sender(Protocol):
    def send(self, mail: Mail) -> None: ...


def message(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="lien.invalid")
    msg.set_content(mail.body)
    return msg


class FileSender:
    """Writes each message to ``directory/<ms>-<random>.eml`` (mode 0600)."""

    def __init__(self, directory: Path, sender: str = DEFAULT_FROM,
                 clock: Callable[[], int] | None = None) -> None:
        self.directory = directory
        self.sender = sender
        self.clock = clock

    def send(self, mail: Mail) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = self.clock() if self.clock else 0
        path = self.directory / f"{stamp:013d}-{secrets.token_hex(6)}.eml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(bytes(message(mail, self.sender)))


class MemorySender:
    """Keeps the messages in a list (an app built without a node directory; tests)."""

    def __init__(self) -> None:
        self.sent: list[Mail] = []
        self._lock = threading.Lock()

    def send(self, mail: Mail) -> None:
        with self._lock:
            self.sent.append(mail)


@dataclass(frozen=True)
class SmtpSender:
    """Sends through an SMTP server (``starttls`` on port 587, or ``ssl`` on 465)."""

    host: str
    port: int = 587
    sender: str = DEFAULT_FROM
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    use_ssl: bool = False

    def __repr__(self) -> str:  # never the password
        return f"SmtpSender({self.host}:{self.port}, starttls={self.starttls})"

    def send(self, mail: Mail) -> None:
        msg = message(mail, self.sender)
        if self.use_ssl:
            with smtplib.SMTP_SSL(self.host, self.port, timeout=smtp_timeout_s,
                                  context=ssl.create_default_context()) as smtp:
                self._deliver(smtp, msg)
            return
        with smtplib.SMTP(self.host, self.port, timeout=smtp_timeout_s) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            self._deliver(smtp, msg)

    def _deliver(self, smtp: smtplib.SMTP, msg: EmailMessage) -> None:
        if self.username:
            smtp.login(self.username, self.password or "")
        smtp.send_message(msg)


class MailConfigError(ValueError):
    """node.toml's ``[mail]`` table is not valid."""


def sender_from_config(table: dict[str, Any], mail_dir: Path,
                       clock: Callable[[], int] | None = None) -> Sender:
    """The sender node.toml's ``[mail]`` asks for (``file`` into ``mail_dir`` by default)."""
    if not isinstance(table, dict):
        raise MailConfigError("mail must be a table ([mail])")
    known = {"sender", "from", "host", "port", "starttls", "ssl", "username", "password"}
    unknown = set(table) - known
    if unknown:
        raise MailConfigError(f"[mail] has unknown keys: {', '.join(sorted(unknown))}")
    kind = table.get("sender", "file")
    source = table.get("from", DEFAULT_FROM)
    if not isinstance(source, str) or not source:
        raise MailConfigError("[mail] from must be an address")
    if kind == "file":
        return FileSender(mail_dir, source, clock)
    if kind != "smtp":
        raise MailConfigError('[mail] sender must be "file" or "smtp"')
    host, port = table.get("host"), table.get("port", 587)
    if not isinstance(host, str) or not host:
        raise MailConfigError("[mail] host is required for smtp")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise MailConfigError("[mail] port must be a port number")
    flags = {name: table.get(name, default) for name, default in
             (("starttls", True), ("ssl", False))}
    if not all(isinstance(v, bool) for v in flags.values()):
        raise MailConfigError("[mail] starttls and ssl are true or false")
    username, password = table.get("username"), table.get("password")
    for name, value in (("username", username), ("password", password)):
        if value is not None and not isinstance(value, str):
            raise MailConfigError(f"[mail] {name} must be a string")
    return SmtpSender(host, port, source, username, password,
                      starttls=flags["starttls"] and not flags["ssl"], use_ssl=flags["ssl"])
