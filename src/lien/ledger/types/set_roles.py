"""``set_roles``: a quorum of admins sets the roles (admin, issuer) of a member."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..fields import ROLES, account, currency, list_of, one_of
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class SetRoles(TxType):
    name = "set_roles"
    labels = {"fr": "rôles", "en": "roles"}
    signers = "member"
    required = {
        "by": account,
        "currency": currency,
        "account": account,
        "roles": list_of(one_of(ROLES), 0, len(ROLES)),
    }

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        code = b["currency"]
        m = common.admin_action(state, tx, b["account"], quorum=True)
        if m.status == "closed":
            raise Refused(Reason.ACCOUNT_NOT_ACTIVE, account=m.account)
        keeps_admin = "admin" in b["roles"] and m.status == "active"
        admins = common.admin_count(state, code, without=m.account,
                                    with_=m.account if keeps_admin else "")
        if admins < state.currencies[code].policy["admin_quorum"]:
            raise Refused(Reason.QUORUM_IMPOSSIBLE)
        common.set_roles(state, m, b["roles"])
        return OK
