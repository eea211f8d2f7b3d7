"""``request_payment`` and ``decline_request``: a payment request between members, and its refusal.

Neither moves money nor keeps ledger state: a request is a signed, dated record in both
accounts' histories, so that it travels with the chain to every node of a federation. Its id
is the request's id; a ``transfer`` that names it in ``request`` pays it. The request's status
(open, paid, declined, expired) is read by wallets from the two histories (docs/protocol.md,
"Payment requests"), not decided by the ledger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import limits
from ..fields import account, amount, currency, text, tx_id
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx

def check_parties(state: State, tx: Tx, acting: str, other: str) -> None:
    """The request's two parties are members of its currency, ``acting`` (who signs) is active
    and signed with an owner key, and ``other`` is active."""
    b = tx.body
    if b["currency"] not in state.currencies:
        raise Refused(Reason.UNKNOWN_CURRENCY)
    if b["from"] == b["to"]:
        raise Refused(Reason.SAME_ACCOUNT)
    me = common.target(state, acting, b["currency"])
    them = common.target(state, other, b["currency"])
    if not common.owner_signed(state, tx, acting):
        raise Refused(Reason.NOT_AUTHORISED, account=acting)
    if me.status != "active":
        raise Refused(Reason.ACCOUNT_NOT_ACTIVE, account=acting)
    if them.status != "active":
        raise Refused(Reason.ACCOUNT_NOT_ACTIVE, account=other)


class RequestPayment(TxType):
    name = "request_payment"
    labels = {"fr": "demande de paiement", "en": "payment request"}
    signers = "member"
    required = {"from": account, "to": account, "currency": currency, "amount": amount}
    optional = {
        "reference": text(limits.reference_bytes_max),
        "memo": text(limits.memo_bytes_max),
    }

    def execute(self, state: State, tx: Tx) -> Result:
        check_parties(state, tx, tx.body["to"], tx.body["from"])
        return OK


class DeclineRequest(TxType):
    name = "decline_request"
    labels = {"fr": "demande refusée", "en": "request declined"}
    signers = "member"
    required = {"from": account, "to": account, "currency": currency, "request": tx_id}

    def execute(self, state: State, tx: Tx) -> Result:
        check_parties(state, tx, tx.body["from"], tx.body["to"])
        return OK
