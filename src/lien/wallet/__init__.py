"""The wallet: what a client of the ledger does, whatever shows it (the ``lien`` command now,
the web wallet next). It imports only the ledger and the chain (plus nacl and argon2 for the
keystore): no node, no store, no HTTP.

Public API (pinned by tests/test_architecture.py)::

    keystore                    — seal/unseal/read/write the encrypted key file
    Member, TxMaker             — a key and its account; bodies filled in and signed
    entry_for, StatementEntry   — one line of an account's statement, from its side
    balance_for, Balance        — one currency of an account, with what it can spend
    label, status_label, reason_text, outcome_text, amount_text — words for people (fr, en)

Errors::

    keystore.KeystoreError      wrong password, damaged or unreadable keystore
    AnswerInvalid (ValueError)  a history item or membership not shaped as the API's
"""

from . import keystore
from .signing import Member, TxMaker
from .statement import (
    LANGS,
    AnswerInvalid,
    Balance,
    Lang,
    StatementEntry,
    amount_text,
    balance_for,
    entry_for,
    label,
    outcome_text,
    reason_text,
    status_label,
)

__all__ = [
    "LANGS",
    "AnswerInvalid",
    "Balance",
    "Lang",
    "Member",
    "StatementEntry",
    "TxMaker",
    "amount_text",
    "balance_for",
    "entry_for",
    "keystore",
    "label",
    "outcome_text",
    "reason_text",
    "status_label",
]
