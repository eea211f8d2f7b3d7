"""Helpers for the system tests: real ``lien`` processes, a real HTTP server, the raw database.

Nothing here is mocked. ``lien`` runs as a subprocess of the test (the console script next to
the test's own Python), ``Server`` (from ``server_support``, shared with the CLI tests) starts
``lien serve`` on a free port and can stop it gracefully or ``kill -9`` it, and the database is
read and damaged with the plain ``sqlite3`` module, as an attacker or a disk would. Waiting is
always a condition polled against a bounded deadline (``poll``), never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import tomllib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from server_support import CLI_ENV, LIEN

from lien.ledger import Tx
from lien.node.node import wall_clock_ms
from lien.wallet import Member, TxMaker, keystore

DEMO_PASSWORD = "demo"
CODE = "LIEN"


# -- the command line -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def message(self) -> str:
        """Both streams with every run of white space made one space (no wrapping artefacts)."""
        return " ".join((self.stdout + " " + self.stderr).split())


def lien(*args: str | Path, timeout_s: float = 60.0) -> CliResult:
    done = subprocess.run([LIEN, *map(str, args)], capture_output=True, text=True,
                          env=CLI_ENV, timeout=timeout_s, stdin=subprocess.DEVNULL)
    return CliResult(done.returncode, done.stdout, done.stderr)


def init_demo(path: Path) -> None:
    done = lien("init", "--dir", path, "--demo")
    assert done.returncode == 0, done.message


def verify(path: Path) -> CliResult:
    return lien("verify", "--dir", path)


def chain_id(path: Path) -> str:
    with (path / "node.toml").open("rb") as f:
        return str(tomllib.load(f)["chain_id"])


def founder(path: Path, name: str) -> Member:
    """A founding key (governor, association, comptoir, admin-1, admin-2) of a --demo node."""
    data = keystore.read(path / "keys" / f"{name}.json")
    return Member(keystore.unseal(data, DEMO_PASSWORD), data["kind"], name)


# -- the raw database ---------------------------------------------------------------------------------
@contextlib.contextmanager
def database(path: Path) -> Iterator[sqlite3.Connection]:
    """The node's SQLite file, opened with the standard library; committed on success."""
    conn = sqlite3.connect(path / "node.db", timeout=10)
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


def flip_byte(conn: sqlite3.Connection, table: str, column: str, where: str,
              params: tuple[Any, ...], index: int) -> None:
    """Flip the lowest bit of one byte of a BLOB, keeping it a BLOB."""
    (value,) = conn.execute(f"SELECT {column} FROM {table} WHERE {where}", params).fetchone()
    damaged = bytearray(value)
    damaged[index] ^= 0x01
    changed = conn.execute(f"UPDATE {table} SET {column} = ? WHERE {where}",
                           (bytes(damaged), *params)).rowcount
    assert changed == 1


@dataclass(frozen=True)
class Totals:
    credit_sum: int
    nantie_sum: int
    issued: int
    reconverted: int
    negative_nantie: int  #: memberships holding less than zero nantie (must be none)


def totals(path: Path, code: str = CODE) -> Totals:
    """The money invariants as the database itself states them."""
    with database(path) as conn:
        credit, nantie, negative = conn.execute(
            "SELECT sum(credit), sum(nantie), sum(nantie < 0) FROM memberships WHERE currency = ?",
            (code,),
        ).fetchone()
        issued, reconverted = conn.execute(
            "SELECT issued, reconverted FROM currencies WHERE code = ?", (code,)
        ).fetchone()
    return Totals(credit, nantie, issued, reconverted, negative)


def assert_money_invariants(path: Path, code: str = CODE) -> Totals:
    t = totals(path, code)
    assert t.credit_sum == 0, f"mutual credit sums to {t.credit_sum}"
    assert t.nantie_sum == t.issued - t.reconverted, t
    assert t.negative_nantie == 0, t
    return t


def snapshot(path: Path) -> dict[str, Any]:
    """Everything the chain and the state hold, to show that nothing changed."""
    with database(path) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("blocks", "transactions", "memberships", "accounts", "currencies")
        }


# -- talking to the API ---------------------------------------------------------------------------
JSON = {"content-type": "application/json"}


def post_tx(client: httpx.Client, api: str, tx: Tx, wait: str = "executed",
            timeout_s: float = 30.0) -> httpx.Response:
    """POST /transactions with the raw envelope, as any wallet would send it."""
    return client.post(f"{api}/transactions", params={"wait": wait},
                       content=json.dumps(tx.to_json()), headers=JSON, timeout=timeout_s)


def balances(client: httpx.Client, api: str, account: str, code: str = CODE) -> tuple[int, int]:
    """(nantie, credit) of ``account`` in ``code``, as GET /accounts/{id} shows them."""
    response = client.get(f"{api}/accounts/{account}", timeout=10)
    assert response.status_code == 200, response.text
    for m in response.json()["currencies"]:
        if m["currency"] == code:
            return m["nantie_minor"], m["credit_minor"]
    raise AssertionError(f"{account} is not a member of {code}: {response.text}")


class Bank:
    """The founders of a --demo node acting through its HTTP API: they open, approve, limit
    and fund fresh members, each step checked (HTTP 200, result ``ok``)."""

    def __init__(self, path: Path, api: str) -> None:
        self.api = api
        self.maker = TxMaker(chain_id(path), wall_clock_ms)
        self.admins = [founder(path, "admin-1"), founder(path, "admin-2")]
        self.comptoir = founder(path, "comptoir")

    def run(self, client: httpx.Client, txs: Sequence[Tx]) -> list[dict[str, Any]]:
        """Submit ``txs`` concurrently (no order among them) and expect each to succeed."""
        def one(tx: Tx) -> dict[str, Any]:
            response = post_tx(client, self.api, tx, "executed")
            assert response.status_code == 200, f"{tx.type}: {response.status_code} {response.text}"
            status = response.json()
            assert status["status"] in ("executed", "final"), status
            assert status["result"]["code"] == "ok", f"{tx.type}: {status}"
            return dict(status)

        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(one, txs))

    def open_members(self, client: httpx.Client, members: Sequence[Member],
                     nantie: int = 0, floor: int | None = None, ceiling: int | None = None
                     ) -> None:
        """Open and approve ``members``, set their limits if asked, issue ``nantie`` to each."""
        self.run(client, [self.maker.open(m) for m in members])
        self.run(client, [self.maker.approve(self.admins[0], m) for m in members])
        later: list[Tx] = []
        if floor is not None or ceiling is not None:
            later += [
                self.maker.make(self.admins, "set_limits", by=self.admins[0].account,
                                currency=CODE, account=m.account,
                                floor=-20_000 if floor is None else floor,
                                ceiling=200_000 if ceiling is None else ceiling)
                for m in members
            ]
        if nantie:
            later += [self.maker.issue([self.comptoir], m, nantie) for m in members]
        self.run(client, later)
