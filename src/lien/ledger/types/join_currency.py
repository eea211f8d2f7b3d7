"""``join_currency``: an account asks to become a member of a currency (pending)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..fields import account, currency
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class JoinCurrency(TxType):
    name = "join_currency"
    labels = {"fr": "adhésion", "en": "membership"}
    required = {"account": account, "currency": currency}

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        common.owner_action(state, tx)
        if b["currency"] not in state.currencies:
            raise Refused(Reason.UNKNOWN_CURRENCY)
        if common.member(state, b["account"], b["currency"]) is not None:
            raise Refused(Reason.ALREADY_MEMBER)
        common.join(state, b["account"], b["currency"], "pending")
        return OK
