"""``set_status``: an admin activates, locks or closes a membership."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..fields import STATUSES, account, currency, one_of
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx

#: status -> statuses an admin may move it to
TRANSITIONS = {
    "pending": ("active", "closed"),
    "active": ("locked", "closed"),
    "locked": ("active", "closed"),
    "closed": (),
}


class SetStatus(TxType):
    name = "set_status"
    labels = {"fr": "statut", "en": "status"}
    signers = "member"
    required = {"by": account, "currency": currency, "account": account,
                "status": one_of(STATUSES)}

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        m = common.admin_action(state, tx, b["account"], quorum=False)
        if b["status"] not in TRANSITIONS[m.status]:
            raise Refused(Reason.INVALID_TRANSITION, status=m.status)
        policy = state.currencies[m.currency].policy
        if b["status"] == "closed" and m.account == policy["association"]:
            # The association receives every reconversion fee: a closed membership never could.
            raise Refused(Reason.INVALID_TRANSITION, status=m.status)
        if m.roles:  # locking an admin or an issuer is governance: one admin alone cannot
            common.check_quorum(state, tx, m.currency)
        if b["status"] == "closed" and (m.nantie != 0 or m.credit != 0):
            raise Refused(Reason.BALANCE_NOT_ZERO)
        if "admin" in m.roles and b["status"] != "active" and common.admin_count(
            state, m.currency, without=m.account
        ) < policy["admin_quorum"]:
            raise Refused(Reason.QUORUM_IMPOSSIBLE)
        m.status = b["status"]
        state.dirty_memberships.add((m.account, m.currency))
        return OK
