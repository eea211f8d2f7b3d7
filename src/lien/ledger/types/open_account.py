"""``open_account``: a new account, owned by the key that signs it (docs/protocol.md §7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..fields import KINDS, account, currency, one_of, public_key
from ..ids import account_id_for_key
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import Account, State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class OpenAccount(TxType):
    name = "open_account"
    labels = {"fr": "ouverture", "en": "account opening"}
    signers = "opening"
    required = {"account": account, "key": public_key, "kind": one_of(KINDS)}
    optional = {"currency": currency}

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        expected = account_id_for_key(bytes.fromhex(b["key"]))
        if expected != b["account"]:
            raise Refused(Reason.ACCOUNT_ID_MISMATCH, expected=expected)
        if b["key"] not in tx.signer_keys:
            raise Refused(Reason.NOT_AUTHORISED, account=b["account"])
        if b["account"] in state.accounts:
            raise Refused(Reason.ACCOUNT_EXISTS)
        if common.key_in_use(state, b["key"]):
            raise Refused(Reason.KEY_IN_USE)
        code = b.get("currency")
        if code is not None and code not in state.currencies:
            raise Refused(Reason.UNKNOWN_CURRENCY)
        state.index_account(Account(id=b["account"], kind=b["kind"], keys=[b["key"]]))
        state.dirty_accounts.add(b["account"])
        if code is not None:
            common.join(state, b["account"], code, "pending")
        return OK
