"""``revoke_delegation``: a business withdraws a till's key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..fields import account, public_key
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class RevokeDelegation(TxType):
    name = "revoke_delegation"
    labels = {"fr": "révocation", "en": "revocation"}
    required = {"account": account, "key": public_key}

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        account_ = common.owner_action(state, tx)
        if b["key"] not in account_.delegations:
            raise Refused(Reason.UNKNOWN_KEY)
        del account_.delegations[b["key"]]
        del state.delegate_owner[b["key"]]
        state.dirty_accounts.add(account_.id)
        return OK
