"""``veto_recovery``: the owner cancels a pending key recovery of their account."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..fields import account
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class VetoRecovery(TxType):
    name = "veto_recovery"
    labels = {"fr": "veto", "en": "veto"}
    required = {"account": account}

    def execute(self, state: State, tx: Tx) -> Result:
        account_ = common.owner_action(state, tx)
        if account_.recovery is None:
            raise Refused(Reason.NO_PENDING_RECOVERY)
        account_.recovery = None
        state.pending_recoveries.discard(account_.id)
        state.dirty_accounts.add(account_.id)
        return OK
