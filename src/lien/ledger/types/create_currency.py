"""``create_currency``: the chain's governors create a currency, its admins and issuers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .. import limits
from ..fields import POLICY, account, currency, list_of, record
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import Currency, State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class CreateCurrency(TxType):
    name = "create_currency"
    labels = {"fr": "création de monnaie", "en": "new currency"}
    signers = "governors"
    required = {
        "code": currency,
        "policy": record(POLICY),
        "admins": list_of(account, 1, limits.signatures_max),
        "issuers": list_of(account, 0, limits.signatures_max),
    }

    def more_accounts(self, state: State, tx: Tx) -> Iterable[str]:
        """Every account the new currency names: its association, admins and issuers."""
        b = tx.body
        return (b["policy"]["association"], *b["admins"], *b["issuers"])

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        config = state.config
        governors = len(set(tx.signer_keys) & set(config.governors))
        if governors == 0:
            raise Refused(Reason.NOT_AUTHORISED, role="governor")
        if governors < config.governor_quorum:
            raise Refused(Reason.QUORUM_NOT_MET, have=governors, need=config.governor_quorum)
        if b["code"] in state.currencies:
            raise Refused(Reason.CURRENCY_EXISTS)
        for account_id in [*b["admins"], *b["issuers"]]:
            if account_id not in state.accounts:
                raise Refused(Reason.UNKNOWN_ACCOUNT, account=account_id)
        common.check_policy_accounts(state, b["policy"])
        if len(b["admins"]) < b["policy"]["admin_quorum"]:
            raise Refused(Reason.QUORUM_IMPOSSIBLE)
        code = b["code"]
        state.index_currency(Currency(code=code, policy=dict(b["policy"])))
        state.dirty_currencies.add(code)
        roles: dict[str, set[str]] = {}
        for account_id in b["admins"]:
            roles.setdefault(account_id, set()).add("admin")
        for account_id in b["issuers"]:
            roles.setdefault(account_id, set()).add("issuer")
        roles.setdefault(b["policy"]["association"], set())
        for account_id, account_roles in sorted(roles.items()):
            common.set_roles(state, common.join(state, account_id, code, "active"), account_roles)
        return OK
