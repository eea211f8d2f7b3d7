"""Which accounts a transaction concerns: the key of every account's history."""

from __future__ import annotations

from .state import State
from .transactions import Tx

_ACCOUNT_FIELDS = ("account", "from", "to", "by")


def touched_accounts(state: State, tx: Tx) -> list[str]:
    """Accounts named by ``tx``, plus the association for a reconversion (it gets the fee) and
    every account a new currency names. Sorted, without repeats."""
    body = tx.body
    accounts = {body[f] for f in _ACCOUNT_FIELDS if f in body}
    if tx.type == "reconvert" and body["currency"] in state.currencies:
        accounts.add(state.currencies[body["currency"]].policy["association"])
    elif tx.type in ("create_currency", "set_policy"):
        accounts.add(body["policy"]["association"])
        accounts.update(body.get("admins", ()), body.get("issuers", ()))
    return sorted(accounts)
