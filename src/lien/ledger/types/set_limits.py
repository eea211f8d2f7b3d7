"""``set_limits``: an admin sets a member's mutual-credit floor and ceiling."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..fields import account, ceiling, currency, floor
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class SetLimits(TxType):
    name = "set_limits"
    labels = {"fr": "limites", "en": "limits"}
    signers = "member"
    required = {"by": account, "currency": currency, "account": account, "floor": floor,
                "ceiling": ceiling}

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        code = b["currency"]
        m = common.admin_action(state, tx, b["account"], quorum=False)
        # Only a limit that is raised counts: lowering the floor to -F or raising the ceiling to
        # C needs the quorum when F or C is above the threshold (an untouched limit never does).
        raised = max(-b["floor"] if b["floor"] < m.floor else 0,
                     b["ceiling"] if b["ceiling"] > m.ceiling else 0)
        if raised > state.currencies[code].policy["limit_quorum_above_minor"]:
            common.check_quorum(state, tx, code)
        if not b["floor"] <= m.credit <= b["ceiling"]:
            raise Refused(Reason.LIMITS_EXCLUDE_BALANCE, credit=m.credit)
        m.floor, m.ceiling = b["floor"], b["ceiling"]
        state.dirty_memberships.add((m.account, code))
        return OK
