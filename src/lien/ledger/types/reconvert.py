"""``reconvert``: a business turns nantie back into euros; the association keeps the fee."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .. import limits
from ..fields import account, amount, currency, text
from ..reasons import Reason
from ..results import Refused, Result
from ..state import State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class Reconvert(TxType):
    name = "reconvert"
    labels = {"fr": "reconversion", "en": "reconversion"}
    signers = "member"
    required = {"account": account, "currency": currency, "amount": amount,
                "payout_ref": text(limits.reference_bytes_max, 1)}

    def more_accounts(self, state: State, tx: Tx) -> Iterable[str]:
        """The association: it receives the fee."""
        currency_ = state.currencies.get(tx.body["currency"])
        return () if currency_ is None else (currency_.policy["association"],)

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        code = b["currency"]
        if code not in state.currencies:
            raise Refused(Reason.UNKNOWN_CURRENCY)
        m = common.target(state, b["account"], code)
        kind = state.accounts[m.account].kind
        if kind != "business":
            raise Refused(Reason.WRONG_KIND, kind=kind)
        if m.status != "active":
            raise Refused(Reason.ACCOUNT_NOT_ACTIVE, account=m.account)
        if not common.owner_signed(state, tx, m.account):
            raise Refused(Reason.NOT_AUTHORISED)
        if m.nantie < b["amount"]:
            raise Refused(Reason.INSUFFICIENT_FUNDS, available=m.nantie)
        currency_ = state.currencies[code]
        association = state.memberships[(currency_.policy["association"], code)]
        fee = b["amount"] * currency_.policy["reconversion_fee_bp"] // limits.basis_points_max
        if association.account == m.account:
            fee = 0
        common.move(state, m, -b["amount"], 0)
        common.move(state, association, fee, 0)
        currency_.reconverted_minor += b["amount"] - fee
        state.dirty_currencies.add(code)
        return Result.of(Reason.OK, fee=fee, paid_out=b["amount"] - fee)
