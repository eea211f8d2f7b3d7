"""``revoke_standing_order``: end a standing order. Signed by an owner key of its payer — at
any time, whatever the payer's standing — or of its payee (who may always decline money it
was promised: that harms nobody).

It goes into the signer's history only: the accounts a transaction concerns never depend on
the state but through the currencies' policies (the start-up check relies on it); the other
party sees the order's status turn ``revoked`` in its list of orders."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..fields import account, tx_id
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class RevokeStandingOrder(TxType):
    name = "revoke_standing_order"
    labels = {"fr": "révocation d'ordre permanent", "en": "standing order revoked"}
    signers = "account"
    required = {"account": account, "order": tx_id}

    def execute(self, state: State, tx: Tx) -> Result:
        by = tx.body["account"]
        order = state.orders.get(tx.body["order"])
        if order is None:
            raise Refused(Reason.UNKNOWN_ORDER)
        if by not in (order.payer, order.payee) or not common.owner_signed(state, tx, by):
            raise Refused(Reason.NOT_AUTHORISED)
        state.unindex_order(order, "revoked")
        return OK
