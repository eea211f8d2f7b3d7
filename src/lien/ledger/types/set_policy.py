"""``set_policy``: a quorum of admins changes a currency's policy."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..fields import POLICY, account, currency, record
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class SetPolicy(TxType):
    name = "set_policy"
    labels = {"fr": "règles de la monnaie", "en": "currency rules"}
    signers = "member"
    required = {"by": account, "currency": currency, "policy": record(POLICY)}

    def more_accounts(self, state: State, tx: Tx) -> Iterable[str]:
        """The association the policy names (it may be a new one)."""
        return (tx.body["policy"]["association"],)

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        code = b["currency"]
        common.check_role(state, tx, b["by"], code, "admin")
        common.check_quorum(state, tx, code)
        common.check_policy_accounts(state, b["policy"])
        association = b["policy"]["association"]
        joined = common.member(state, association, code)
        if joined is not None and joined.status == "closed":  # it could never hold its fees
            raise Refused(Reason.PAYEE_NOT_ACTIVE, account=association)
        if common.admin_count(state, code) < b["policy"]["admin_quorum"]:
            raise Refused(Reason.QUORUM_IMPOSSIBLE)
        if joined is None:
            common.join(state, association, code, "active")
        currency_ = state.currencies[code]
        currency_.policy = dict(b["policy"])
        state.dirty_currencies.add(code)
        return OK
