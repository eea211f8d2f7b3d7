"""``delegate``: a business lets a key (a till) sign its payments, within caps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import limits
from ..fields import account, amount, currency, public_key
from ..reasons import Reason, TxError
from ..results import OK, Refused, Result
from ..state import Delegation, State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class Delegate(TxType):
    name = "delegate"
    labels = {"fr": "délégation", "en": "delegation"}
    required = {"account": account, "currency": currency, "key": public_key,
                "cap_per_payment_minor": amount, "cap_total_minor": amount}

    def check(self, body: dict[str, Any]) -> None:
        if body["cap_per_payment_minor"] > body["cap_total_minor"]:
            raise TxError(Reason.AMOUNT_INVALID,
                          "cap_per_payment_minor: larger than cap_total_minor")

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        account_ = common.owner_action(state, tx)
        if account_.kind not in ("business", "association"):
            raise Refused(Reason.WRONG_KIND, kind=account_.kind)
        if b["currency"] not in state.currencies:
            raise Refused(Reason.UNKNOWN_CURRENCY)
        if common.member(state, account_.id, b["currency"]) is None:
            raise Refused(Reason.NOT_MEMBER, account=account_.id)
        existing = account_.delegations.get(b["key"])
        if existing is None and common.key_in_use(state, b["key"]):
            raise Refused(Reason.KEY_IN_USE)
        if existing is None and len(account_.delegations) >= limits.delegations_max:
            raise Refused(Reason.KEYS_LIMIT)
        # Changing a till's caps keeps what it spent; moving it to another currency starts anew.
        spent = existing.spent_minor if existing and existing.currency == b["currency"] else 0
        account_.delegations[b["key"]] = Delegation(
            b["currency"], b["cap_per_payment_minor"], b["cap_total_minor"], spent
        )
        state.delegate_owner[b["key"]] = account_.id
        state.dirty_accounts.add(account_.id)
        return OK
