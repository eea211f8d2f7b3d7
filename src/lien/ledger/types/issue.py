"""``issue``: a comptoir (issuer) creates nantie against euros deposited."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import limits
from ..fields import account, amount, currency, text
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class Issue(TxType):
    name = "issue"
    labels = {"fr": "émission", "en": "issuance"}
    signers = "member"
    required = {"by": account, "currency": currency, "to": account, "amount": amount,
                "deposit_ref": text(limits.reference_bytes_max, 1)}

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        code = b["currency"]
        common.check_role(state, tx, b["by"], code, "issuer")
        currency_ = state.currencies[code]
        if b["amount"] > currency_.policy["issue_quorum_above_minor"]:
            common.check_quorum(state, tx, code)
        m = common.target(state, b["to"], code)
        if m.status != "active":
            raise Refused(Reason.PAYEE_NOT_ACTIVE, account=m.account)
        supply = currency_.issued_minor - currency_.reconverted_minor
        if supply + b["amount"] > limits.supply_minor_max:
            raise Refused(Reason.SUPPLY_LIMIT)
        currency_.issued_minor += b["amount"]
        state.dirty_currencies.add(code)
        common.move(state, m, b["amount"], 0)
        return OK
