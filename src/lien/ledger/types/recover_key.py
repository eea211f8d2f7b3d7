"""``recover_key``: a quorum of admins gives a lost account a new key, after a delay."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..fields import account, currency, public_key
from ..reasons import Reason
from ..results import Refused, Result
from ..state import Recovery, State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class RecoverKey(TxType):
    name = "recover_key"
    labels = {"fr": "récupération", "en": "key recovery"}
    signers = "member"
    required = {"by": account, "currency": currency, "account": account, "key": public_key}

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        code = b["currency"]
        m = common.admin_action(state, tx, b["account"], quorum=True)
        if common.key_in_use(state, b["key"]):
            raise Refused(Reason.KEY_IN_USE)
        account_ = state.accounts[m.account]
        effective = state.time_ms + state.currencies[code].policy["recovery_delay_ms"]
        account_.recovery = Recovery(key=b["key"], currency=code, effective_ms=effective)
        state.pending_recoveries.add(account_.id)
        state.dirty_accounts.add(account_.id)
        return Result.of(Reason.OK, effective_ms=effective)
