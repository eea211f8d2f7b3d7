"""The members' service layer alone: sign-up checks (e-mail, SIRET and its Luhn key, La
Poste's rule), the throttles' bounded memory, e-mail through a file and through a real SMTP
conversation with a small server written here, the node secret; and the personal tables of a
database made by the previous release (revision 0003), upgraded on SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pg_support import fresh_database, pg_store
from sqlalchemy import text

from lien.members import (
    FieldError,
    FileSender,
    Mail,
    MailConfigError,
    SmtpSender,
    node_secret,
    sender_from_config,
)
from lien.members.throttle import Locked, Throttle, ThrottleRule, check
from lien.members.validation import check_siret, luhn_ok, normalise_email
from lien.node.setup import open_store
from lien.node.verify import verify_store
from lien.store import Login, Profile, Store, migrate
from lien.store.migrate import _config

FIXTURE = Path(__file__).parent / "fixtures" / "node_0003"
ASSOCIATION = "HEAJ30HF0423"


# -- checks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("siret", ["73282932000074", "732 829 320 00074", "35600000000048",
                                   "35600000049837", "44306184100047"])
def test_valid_sirets(siret: str) -> None:
    assert check_siret(siret) == siret.replace(" ", "")


@pytest.mark.parametrize("siret, key", [
    ("73282932000075", "siret_checksum"), ("35600000049838", "siret_checksum"),
    ("7328293200007", "siret_format"), ("7328293200007A", "siret_format"),
    ("١٢٣٤٥٦٧٨٩٠١٢٣٤", "siret_format"), (73282932000074, "siret_format"),
])
def test_invalid_sirets(siret: object, key: str) -> None:
    with pytest.raises(FieldError) as refused:
        check_siret(siret)
    assert (refused.value.field, refused.value.key) == ("siret", key)
    assert refused.value.message.startswith(("Le numéro SIRET", "Ce numéro SIRET"))


def test_la_poste_s_sirets_are_the_exception_to_luhn() -> None:
    assert not luhn_ok("35600000049837") and sum(map(int, "35600000049837")) % 5 == 0
    with pytest.raises(FieldError):  # the same digit sum rule does not help anyone else
        check_siret("12300000049837")


def test_e_mails_are_normalised_or_refused() -> None:
    assert normalise_email("  Camille.Martin@Example.ORG ") == "camille.martin@example.org"
    for bad in ("camille", "camille@example", "a@b@c.fr", "é@exemple.fr", "a b@c.fr",
                "x" * 250 + "@a.fr", None):
        with pytest.raises(FieldError):
            normalise_email(bad)


# -- throttles -----------------------------------------------------------------------------------
def test_a_throttle_locks_then_forgets_and_its_memory_is_bounded() -> None:
    now = [0]
    throttle = Throttle(ThrottleRule(2, 1000, 5000), lambda: now[0], keys_max=3)
    throttle.fail("a")
    assert throttle.locked_for_ms("a") == 0
    throttle.fail("a")
    assert throttle.locked_for_ms("a") == 5000
    now[0] = 4500
    with pytest.raises(Locked) as locked:
        check([(throttle, "a", "logins")])
    assert locked.value.retry_after_s == 1
    now[0] = 5000
    assert throttle.locked_for_ms("a") == 0
    for key in "bcdef":
        throttle.fail(key)
    assert len(throttle) == 3  # the least recently used were forgotten


# -- e-mail --------------------------------------------------------------------------------------
def test_the_file_sender_writes_one_private_eml_per_message(tmp_path: Path) -> None:
    sender = sender_from_config({}, tmp_path / "mail", lambda: 1234)
    assert isinstance(sender, FileSender)
    sender.send(Mail("camille@example.org", "Bonjour", "Votre compte est ouvert."))
    (written,) = list((tmp_path / "mail").iterdir())
    assert written.name.startswith("0000000001234-") and written.suffix == ".eml"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    content = written.read_text()
    assert "To: camille@example.org" in content and "Votre compte est ouvert." in content


class SmtpServer:
    """Just enough SMTP (RFC 5321) for one client: greets, accepts one message, quits."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.commands: list[str] = []
        self.data = b""
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 test ESMTP\r\n")
            while line := lines.readline():
                command = line.decode().strip()
                self.commands.append(command)
                verb = command.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    conn.sendall(b"250-test\r\n250 AUTH PLAIN\r\n")
                elif verb == "DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    while (chunk := lines.readline()) != b".\r\n":
                        self.data += chunk
                    conn.sendall(b"250 queued\r\n")
                elif verb == "AUTH":
                    conn.sendall(b"235 ok\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")


def test_the_smtp_sender_speaks_smtp_to_the_configured_server() -> None:
    server = SmtpServer()
    sender = sender_from_config({"sender": "smtp", "host": "127.0.0.1", "port": server.port,
                                 "starttls": False, "from": "Le LIEN <lien@example.org>",
                                 "username": "lien", "password": "hunter2"}, Path("/nowhere"))
    assert isinstance(sender, SmtpSender) and "hunter2" not in repr(sender)
    sender.send(Mail("camille@example.org", "Paiement reçu", "Vous avez reçu 12,50 LIEN."))
    server.thread.join(10)
    said = [c.upper() for c in server.commands]
    assert "MAIL FROM:<LIEN@EXAMPLE.ORG>" in said and "RCPT TO:<CAMILLE@EXAMPLE.ORG>" in said
    assert any(c.startswith("AUTH PLAIN") for c in server.commands)
    assert b"Subject: Paiement =?utf-8?q?re=C3=A7u?=" in server.data
    assert "Vous avez reçu 12,50 LIEN.".encode() in server.data
    server.sock.close()


@pytest.mark.parametrize("table, problem", [
    ({"sender": "pigeon"}, "sender must be"), ({"sender": "smtp"}, "host is required"),
    ({"sender": "smtp", "host": "h", "port": "25"}, "port"), ({"colour": 1}, "unknown keys"),
    ({"sender": "smtp", "host": "h", "starttls": "yes"}, "true or false"),
])
def test_a_bad_mail_table_is_refused(table: dict[str, object], problem: str) -> None:
    with pytest.raises(MailConfigError, match=problem):
        sender_from_config(table, Path("/nowhere"))


def test_the_node_secret_is_made_once_private(tmp_path: Path) -> None:
    first = node_secret(tmp_path)
    assert len(first) == 32 and node_secret(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "web.secret").stat().st_mode) == 0o600


# -- a database of the previous release ---------------------------------------------------------
def _old_node(tmp_path: Path) -> Path:
    node_dir = tmp_path / "node"
    shutil.copytree(FIXTURE, node_dir, ignore=shutil.ignore_patterns("node.sql", "README.md"))
    with sqlite3.connect(node_dir / "node.db") as conn:
        conn.executescript((FIXTURE / "node.sql").read_text())
    return node_dir


def _drift(store: Store) -> list[object]:
    with store.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), migrate.target_metadata()))


def _use_the_new_tables(store: Store, account: str) -> None:
    login = Login(account, "contact@lelien.example", "association", "$argon2id$x", {"a": 1},
                  "b1.x", "00" * 32, 5, "open")
    store.personal.add_member(login, Profile(account, "Association Le Lien", None, 5,
                                             trading_name="Le LIEN", directory=True))
    store.personal.add_notification(account, "welcome", {}, 6)
    assert store.personal.login_by_email("contact@lelien.example") == login
    assert [p.account for p in store.personal.directory()] == [account]
    assert store.personal.erase_member(account) == 3


def test_a_database_of_revision_0003_is_upgraded_and_keeps_its_profiles(tmp_path: Path) -> None:
    node_dir = _old_node(tmp_path)
    with sqlite3.connect(node_dir / "node.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0003",)]
    store = open_store(node_dir)
    try:
        with store.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == migrate.HEAD
        assert _drift(store) == []
        assert store.personal.profile(ASSOCIATION) == Profile(
            ASSOCIATION, "Association Le Lien", "contact@lelien.example", 1764600000000)
        report = verify_store(store)
        assert report.ok, report.problem
        _use_the_new_tables(store, ASSOCIATION)
        assert verify_store(store).ok
    finally:
        store.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_a_database_of_revision_0003_is_upgraded_on_postgres(pg_url: str) -> None:
    """The revisions up to 0003 (the previous release's schema) and a profile row, then the
    upgrade a node runs when it opens the database."""
    store = pg_store(pg_url)
    with store.engine.begin() as conn:
        command.upgrade(_config(conn), "0003")
        conn.execute(text("INSERT INTO personal_profiles (account, name, email, updated_ms) "
                          "VALUES (:a, 'Association Le Lien', NULL, 1)"), {"a": ASSOCIATION})
    assert _drift(store) != []
    assert store.upgrade() == ("0003", migrate.HEAD)
    assert _drift(store) == []
    assert store.personal.profile(ASSOCIATION) == Profile(ASSOCIATION, "Association Le Lien",
                                                          None, 1)
    _use_the_new_tables(store, ASSOCIATION)
