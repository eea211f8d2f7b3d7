"""Helpers for the wallet CLI tests: the real ``lien`` app, a real node serving HTTP.

``run`` invokes the ``lien`` Typer app in-process (typer's CliRunner) with a wide, colourless
console and no password in the environment. ``ServedNode`` is a node directory made by
``init_node`` and served by ``lien serve`` as a child process on a free port (the shared
``server_support.Server``: ready when GET /api/v1/chain answers, polled against a deadline).
``Founders`` are that node's admin and comptoir, unsealed from DIR/keys, approving and funding
accounts through the API as any admin tool would.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from server_support import LIEN, Server
from typer.testing import CliRunner

from lien.cli.main import app
from lien.ledger import Tx
from lien.node.node import wall_clock_ms
from lien.node.setup import init_node
from lien.wallet import Member, TxMaker, keystore

FOUNDER_PASSWORD = "fondateurs du lien"
MEMBER_PASSWORD = "mot de passe du membre"
#: Keystores the tests write themselves are sealed with argon2id's smallest sensible cost (the
#: file records its own parameters, so the CLI unseals them as any other). ``lien keys new``
#: itself always uses the full default (64 MiB, 3 passes); a test covers that path.
TEST_KDF = {"name": "argon2id", "time_cost": 1, "memory_kib": 8192, "parallelism": 1}


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        """Both streams, every run of white space made one space (no wrapping artefacts)."""
        return " ".join((self.stdout + " " + self.stderr).split())


def run(*args: str | Path, node: str | None = None, password: str | None = None) -> Run:
    """``lien ARGS`` in-process; ``node`` sets LIEN_NODE, ``password`` LIEN_PASSWORD."""
    env = {"COLUMNS": "300", "NO_COLOR": "1", "LIEN_PASSWORD": password, "LIEN_NODE": node}
    result = CliRunner(mix_stderr=False).invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def run_in_terminal(args: list[str], answers: list[tuple[bytes, bytes]],
                    timeout_s: float = 30.0, hidden: bool = True) -> tuple[int, bytes]:
    """``lien ARGS`` as a child process on a pseudo-terminal, as a person at a keyboard: for
    each ``(prompt, line)``, wait until ``prompt`` was shown, then type ``line``. Returns the
    exit code and everything the terminal showed (what was typed is shown only if echoed)."""
    terminal, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("LIEN_PASSWORD", "LIEN_NODE")}
    proc = subprocess.Popen([LIEN, *args], stdin=child, stdout=child, stderr=child,
                            env={**env, "COLUMNS": "200", "NO_COLOR": "1"},
                            start_new_session=True)
    os.close(child)
    shown = b""
    deadline = time.monotonic() + timeout_s

    def read_until(done: Callable[[], bool]) -> None:
        nonlocal shown
        while not done() and time.monotonic() < deadline:
            if select.select([terminal], [], [], 0.05)[0]:
                try:
                    chunk = os.read(terminal, 4096)
                except OSError:  # the child closed the terminal
                    return
                if not chunk:
                    return
                shown += chunk
    try:
        for prompt, line in answers:
            seen = len(shown)
            read_until(lambda: prompt in shown[seen:])
            assert prompt in shown[seen:], shown
            if hidden:
                # A person types after the prompt is up; a test is faster than the child's
                # switch to no-echo, so wait for it (the master sees the terminal's flags).
                while termios.tcgetattr(terminal)[3] & termios.ECHO:
                    assert time.monotonic() < deadline, "the terminal kept echoing"
                    select.select([terminal], [], [], 0.01)
            os.write(terminal, line + b"\n")
        code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        read_until(lambda: False)  # the rest, until the terminal closes (EIO)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(terminal)
    return code, shown


def write_keystore(path: Path, member: Member, password: str = MEMBER_PASSWORD) -> Path:
    keystore.write(path, keystore.seal(member.key, password, member.kind, TEST_KDF))
    return path


class ServedNode(Server):
    """A fresh node directory (``init_node``) served by ``lien serve`` (a context manager)."""

    def __init__(self, path: Path) -> None:
        self.created = init_node(path, password=FOUNDER_PASSWORD)
        self.chain_id = str(self.created["chain_id"])
        super().__init__(path)


class Founders:
    """The node's first admin and its comptoir, acting through the HTTP API."""

    def __init__(self, node: ServedNode) -> None:
        self.url = node.url
        self.maker = TxMaker(node.chain_id, wall_clock_ms)
        self.admin = self._founder(node.path, "admin-1")
        self.comptoir = self._founder(node.path, "comptoir")

    @staticmethod
    def _founder(path: Path, name: str) -> Member:
        data = keystore.read(path / "keys" / f"{name}.json")
        return Member(keystore.unseal(data, FOUNDER_PASSWORD), data["kind"], name)

    def submit(self, tx: Tx) -> dict[str, object]:
        response = httpx.post(f"{self.url}/api/v1/transactions", params={"wait": "executed"},
                              content=tx.encode(), timeout=30)
        assert response.status_code == 200, response.text
        status = response.json()
        assert status["result"]["code"] == "ok", status
        return dict(status)

    def approve(self, account: str) -> None:
        self.submit(self.maker.make([self.admin], "set_status", by=self.admin.account,
                                    currency="LIEN", account=account, status="active"))

    def issue(self, account: str, amount_minor: int) -> None:
        self.submit(self.maker.make([self.comptoir], "issue", by=self.comptoir.account,
                                    currency="LIEN", to=account, amount=amount_minor,
                                    deposit_ref="dépôt en euros"))

    def open_member(self, tmp: Path, name: str, kind: str = "personal",
                    nantie_minor: int = 0) -> tuple[Member, Path]:
        """A new member opened (by itself), approved and funded; with its keystore file."""
        member = Member.new(kind, name)
        self.submit(self.maker.open(member))
        self.approve(member.account)
        if nantie_minor:
            self.issue(member.account, nantie_minor)
        return member, write_keystore(tmp / f"{name}.json", member)


def receipt_file(path: Path, receipt: dict[str, object]) -> Path:
    path.write_text(json.dumps(receipt, ensure_ascii=False))
    return path
