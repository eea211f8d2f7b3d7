"""Tampering with a stopped node's database, as an attacker or a failing disk would: each case
changes stored rows with the plain ``sqlite3`` module and returns the patterns a report must
match to name what changed (block height, seq, transaction, account).

``TAMPERING`` holds the cases ``lien verify`` must name (tests/test_system.py; the start-up
check's own tests run them through ``quick_check`` too); ``STARTUP_TAMPERING`` the four of
issue 6 that ``lien serve`` started on before it had a start-up check: two transaction rows
swapped, the last block deleted, history entries moved, two block rows swapped
(tests/test_startup_check.py).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from system_support import CODE, database, flip_byte, init_demo


@dataclass(frozen=True)
class Chain:
    """Where to strike in the demo chain, read once from the untouched database."""

    path: Path
    #: an executed payment (type transfer, result ok) in the middle of the chain
    pay_seq: int
    pay_id: str
    pay_height: int
    pay_body: bytes
    pay_result: str
    #: a payment the ledger refused for lack of money
    refused_seq: int
    refused_id: str
    refused_height: int
    #: a block with transactions that is neither the first nor the last
    middle_height: int
    last_height: int
    last_seq: int
    #: a member holding nantie; the largest debtor and creditor in mutual credit (in LIEN: the
    #: demo's members of its second currency hold a membership of each, edited apart)
    rich_account: str
    debtor_account: str
    creditor_account: str


def demo_chain_at(path: Path) -> Chain:
    """A new ``lien init --demo`` directory at ``path``, and where to strike in it."""
    init_demo(path)
    with database(path) as conn:
        transfers = conn.execute(
            "SELECT seq, lower(hex(id)), height, body, result FROM transactions "
            "WHERE CAST(body AS TEXT) LIKE '%\"type\":\"transfer\"%' ORDER BY seq"
        ).fetchall()
        paid = [t for t in transfers if t[4].startswith('{"code":"ok"')]
        refused = [t for t in transfers if t[4] == '{"code":"insufficient_funds"}']
        heights = [h for (h,) in conn.execute(
            "SELECT height FROM blocks WHERE tx_count > 0 ORDER BY height")]
        last_height, last_seq = conn.execute(
            "SELECT height, first_seq + tx_count - 1 FROM blocks ORDER BY height DESC LIMIT 1"
        ).fetchone()
        (rich,) = conn.execute("SELECT account FROM memberships WHERE currency = ? AND "
                               "nantie > 0 ORDER BY nantie DESC LIMIT 1", (CODE,)).fetchone()
        (debtor,) = conn.execute("SELECT account FROM memberships WHERE currency = ? AND "
                                 "credit < 0 ORDER BY credit LIMIT 1", (CODE,)).fetchone()
        (creditor,) = conn.execute("SELECT account FROM memberships WHERE currency = ? AND "
                                   "credit > 0 ORDER BY credit DESC LIMIT 1", (CODE,)).fetchone()
    assert len(paid) > 20 and refused and len(heights) >= 4, "the demo history is too small"
    pay, no = paid[len(paid) // 2], refused[len(refused) // 2]
    return Chain(path, pay[0], pay[1], pay[2], pay[3], pay[4], no[0], no[1], no[2],
                 heights[len(heights) // 2], last_height, last_seq, rich, debtor, creditor)


def _block(height: int) -> str:
    return rf"\bblock {height}\b"


def _seq(seq: int) -> str:
    return rf"\bseq {seq}\b"


def _amount_digit(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """One digit of a payment's amount, in the stored canonical body."""
    change_amount(conn, c.pay_seq, c.pay_body)
    return [_block(c.pay_height), _seq(c.pay_seq)]


def change_amount(conn: sqlite3.Connection, seq: int, stored_body: bytes) -> None:
    """One digit of the amount in a stored canonical body (it stays valid canonical JSON)."""
    match = re.search(rb'"amount":(\d+)', stored_body)
    assert match is not None
    at = match.end(1) - 1  # the units digit
    body = bytearray(stored_body)
    body[at] = ord("0") + (body[at] - ord("0") + 1) % 10
    conn.execute("UPDATE transactions SET body = ? WHERE seq = ?", (bytes(body), seq))


def _nantie_balance(c: Chain, conn: sqlite3.Connection) -> list[str]:
    conn.execute("UPDATE memberships SET nantie = nantie + 1 WHERE account = ? AND currency = ?",
                 (c.rich_account, CODE))
    return [re.escape(c.rich_account)]


def _credit_moved_zero_sum(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """Credit moved between two members so that every sum still holds: only a record-by-
    record comparison with re-execution can see it."""
    conn.execute("UPDATE memberships SET credit = credit + 100 WHERE account = ? AND "
                 "currency = ?", (c.debtor_account, CODE))
    conn.execute("UPDATE memberships SET credit = credit - 100 WHERE account = ? AND "
                 "currency = ?", (c.creditor_account, CODE))
    return [f"({re.escape(c.debtor_account)}|{re.escape(c.creditor_account)})"]


def _header_blob(column: str) -> Callable[[Chain, sqlite3.Connection], list[str]]:
    def tamper(c: Chain, conn: sqlite3.Connection) -> list[str]:
        flip_byte(conn, "blocks", column, "height = ?", (c.middle_height,), 7)
        return [_block(c.middle_height)]

    tamper.__doc__ = f"One bit of a block's {column}."
    return tamper


def _header_time(c: Chain, conn: sqlite3.Connection) -> list[str]:
    conn.execute("UPDATE blocks SET time_ms = time_ms + 1 WHERE height = ?", (c.middle_height,))
    return [_block(c.middle_height)]


def _result_digit(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """The recorded split of an executed payment, one digit changed."""
    match = re.search(r'"nantie":(\d+)', c.pay_result) or re.search(r'"credit":(\d+)',
                                                                     c.pay_result)
    assert match is not None
    at = match.end(1) - 1
    digit = str((int(c.pay_result[at]) + 1) % 10)
    result = c.pay_result[:at] + digit + c.pay_result[at + 1:]
    conn.execute("UPDATE transactions SET result = ? WHERE seq = ?", (result, c.pay_seq))
    return [c.pay_id]


def _refusal_made_ok(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """A payment refused for lack of money recorded as if it had gone through."""
    conn.execute("UPDATE transactions SET result = ? WHERE seq = ?", ('{"code":"ok"}',
                                                                      c.refused_seq))
    return [c.refused_id]


def _block_signature(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """One bit of the validator's signature in a block's certificate (key: 32 bytes, sig: 64)."""
    flip_byte(conn, "blocks", "signatures", "height = ?", (c.middle_height,), 32 + 20)
    return [_block(c.middle_height)]


def _tx_signature(c: Chain, conn: sqlite3.Connection) -> list[str]:
    flip_byte(conn, "transactions", "signatures", "seq = ?", (c.pay_seq,), 32 + 20)
    return [_block(c.pay_height), c.pay_id]


def _delete_tx(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """A payment removed from the middle of a block."""
    assert conn.execute("DELETE FROM transactions WHERE seq = ?", (c.pay_seq,)).rowcount == 1
    return [_block(c.pay_height), _seq(c.pay_seq)]


def _delete_last_tx(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """The very last transaction of the chain removed: nothing follows it to betray it."""
    assert conn.execute("DELETE FROM transactions WHERE seq = ?", (c.last_seq,)).rowcount == 1
    return [_block(c.last_height)]


def _delete_block(c: Chain, conn: sqlite3.Connection) -> list[str]:
    conn.execute("DELETE FROM blocks WHERE height = ?", (c.middle_height,))
    return [rf"\bblock {c.middle_height + 1}\b"]


def _tx_height(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """A payment filed under another block: its status and receipt would point there."""
    conn.execute("UPDATE transactions SET height = 1 WHERE seq = ?", (c.pay_seq,))
    return [_block(c.pay_height), _seq(c.pay_seq)]


def _first_seq(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """A block's first seq shifted: its receipts would prove the neighbour's transactions."""
    conn.execute("UPDATE blocks SET first_seq = first_seq + 1 WHERE height = ?",
                 (c.last_height,))
    return [_block(c.last_height)]


def _extra_transaction(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """A forged row after the last block, as if executed in it: the API would call it final."""
    conn.execute(
        "INSERT INTO transactions (seq, id, height, body, signatures, result, expires) "
        "SELECT ?, randomblob(32), ?, body, signatures, result, expires FROM transactions "
        "WHERE seq = ?",
        (c.last_seq + 1, c.last_height, c.pay_seq),
    )
    return [_seq(c.last_seq + 1)]


def _posting_deleted(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """A payment removed from its payer's history (relevé) — the chain itself untouched."""
    payer = json.loads(c.pay_body)["from"]
    assert conn.execute("DELETE FROM postings WHERE account = ? AND seq = ?",
                        (payer, c.pay_seq)).rowcount == 1
    return [_seq(c.pay_seq)]


def _posting_added(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """Someone else's payment shown in a member's history."""
    assert conn.execute(
        "INSERT INTO postings (account, seq) SELECT id, ? FROM accounts WHERE id NOT IN "
        "(SELECT account FROM postings WHERE seq = ?) ORDER BY id LIMIT 1",
        (c.pay_seq, c.pay_seq),
    ).rowcount == 1
    return [_seq(c.pay_seq)]


def _tx_expires(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """A payment's stored expiry moved: a restart would forget its id early (a replay)."""
    conn.execute("UPDATE transactions SET expires = expires - 1 WHERE seq = ?", (c.pay_seq,))
    return [_block(c.pay_height), _seq(c.pay_seq), "expir"]


def _result_not_utf8(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """One byte of a result made 0xFF: the stored text is no longer UTF-8 (a bad sector)."""
    damaged = c.pay_result.encode().replace(b"ok", b"o\xff", 1)
    conn.execute("UPDATE transactions SET result = CAST(? AS TEXT) WHERE seq = ?",
                 (damaged, c.pay_seq))
    return ["result"]


TAMPERING: dict[str, Callable[[Chain, sqlite3.Connection], list[str]]] = {
    # (a) a transaction body
    "body-amount-digit": _amount_digit,
    # (b) a stored balance
    "balance-nantie": _nantie_balance,
    "balance-credit-zero-sum": _credit_moved_zero_sum,
    # (c) a block header
    "header-tx_root": _header_blob("tx_root"),
    "header-state_root": _header_blob("state_root"),
    "header-prev": _header_blob("prev"),
    "header-hash": _header_blob("hash"),
    "header-time_ms": _header_time,
    # (d) a transaction's result
    "result-digit": _result_digit,
    "result-refusal-made-ok": _refusal_made_ok,
    # (e) signatures
    "block-signature": _block_signature,
    "tx-signature": _tx_signature,
    # (f) deleted rows
    "delete-transaction": _delete_tx,
    "delete-last-transaction": _delete_last_tx,
    "delete-block": _delete_block,
    # stored values that re-executing the transactions does not read
    "tx-height": _tx_height,
    "tx-expires": _tx_expires,
    "block-first_seq": _first_seq,
    "extra-transaction-row": _extra_transaction,
    "history-posting-deleted": _posting_deleted,
    "history-posting-added": _posting_added,
    "result-not-utf8": _result_not_utf8,
}




# -- the four tamperings `lien serve` used to start on (issue 6) ------------------------------------
def _last_block(conn: sqlite3.Connection, c: Chain) -> tuple[int, int]:
    """(first seq, transaction count) of the chain's last block."""
    first_seq, count = conn.execute("SELECT first_seq, tx_count FROM blocks WHERE height = ?",
                                    (c.last_height,)).fetchone()
    return int(first_seq), int(count)


def _swap(conn: sqlite3.Connection, table: str, column: str, a: int, b: int) -> None:
    """Exchange the ``column`` values (a key: seq, height) of two rows, as a raw edit would."""
    for old, new in ((a, -1), (b, a), (-1, b)):
        changed = conn.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?",
                               (new, old)).rowcount
        assert changed == 1, (table, old)


def _transaction_rows_swapped(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """The last two transactions of the last block trade places (their seqs)."""
    _, count = _last_block(conn, c)
    assert count >= 2
    _swap(conn, "transactions", "seq", c.last_seq - 1, c.last_seq)
    return [_block(c.last_height), "tx_root", "swapped"]


def _last_block_deleted(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """The last block's row deleted; its transactions and history entries stay behind."""
    first_seq, _ = _last_block(conn, c)
    conn.execute("DELETE FROM blocks WHERE height = ?", (c.last_height,))
    return [_seq(first_seq), "outside every block", _block(c.last_height - 1)]


def _last_block_deleted_whole(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """The last block deleted with its transactions and history entries: the database is one
    block behind the validator's signing record, with nothing in its log to rebuild it."""
    first_seq, _ = _last_block(conn, c)
    conn.execute("DELETE FROM blocks WHERE height = ?", (c.last_height,))
    conn.execute("DELETE FROM transactions WHERE seq >= ?", (first_seq,))
    conn.execute("DELETE FROM postings WHERE seq >= ?", (first_seq,))
    return [rf"signed block {c.last_height}\b", "deleted"]


def _history_entries_moved(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """Both history entries of a payment moved to another transaction of its block (one that
    concerns neither account): statements show it at the wrong place. The latest block that
    holds such a pair (how the demo's payments fall into blocks depends on when each block
    was cut; the start-up check reads the latest 64 blocks, the demo has fewer)."""
    for height in range(c.last_height, 0, -1):
        first_seq, count = conn.execute(
            "SELECT first_seq, tx_count FROM blocks WHERE height = ?", (height,)).fetchone()
        entries: dict[int, set[str]] = {}
        for seq, account in conn.execute(
                "SELECT seq, account FROM postings WHERE seq >= ? AND seq < ?",
                (first_seq, first_seq + count)):
            entries.setdefault(seq, set()).add(account)
        pair = next(((s, t) for s in sorted(entries) for t in sorted(entries)
                     if len(entries[s]) == 2 and not entries[s] & entries[t]), None)
        if pair is not None:
            moved, to = pair
            assert conn.execute("UPDATE postings SET seq = ? WHERE seq = ?",
                                (to, moved)).rowcount == 2
            return [_block(height), _seq(moved), "lacks"]
    raise AssertionError("no block of the demo chain holds two payments of four accounts")


def _block_rows_swapped(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """Two block rows in the middle of the chain trade heights."""
    _swap(conn, "blocks", "height", c.middle_height, c.middle_height + 1)
    return [_block(c.middle_height), "prev does not link"]


def old_amount_changed(c: Chain, conn: sqlite3.Connection) -> list[str]:
    """An amount changed in the block before the last (outside a one-block window)."""
    height, seq, body = conn.execute(
        "SELECT height, seq, body FROM transactions WHERE height < ? AND "
        "CAST(body AS TEXT) LIKE '%\"amount\":%' ORDER BY seq DESC LIMIT 1",
        (c.last_height,)).fetchone()
    change_amount(conn, seq, bytes(body))
    return [_block(height), _seq(seq)]


STARTUP_TAMPERING: dict[str, Callable[[Chain, sqlite3.Connection], list[str]]] = {
    "transaction-rows-swapped": _transaction_rows_swapped,
    "last-block-deleted": _last_block_deleted,
    "last-block-deleted-whole": _last_block_deleted_whole,
    "history-entries-moved": _history_entries_moved,
    "block-rows-swapped": _block_rows_swapped,
}
