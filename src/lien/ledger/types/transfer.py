"""``transfer``: a payment between two members, in one atomic move of both units."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import limits
from ..fields import account, amount, amount_or_zero, currency, text, tx_id
from ..reasons import Reason, TxError
from ..results import Refused, Result
from ..state import Delegation, Membership, State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


def default_split(payer: Membership, amount: int) -> tuple[int, int] | None:
    """(nantie, credit) for ``amount``: positive credit first, then nantie, then credit down to
    the floor. None when the payer cannot afford it at all."""
    from_positive_credit = min(amount, max(payer.credit, 0))
    nantie = min(amount - from_positive_credit, payer.nantie)
    credit = amount - nantie
    if payer.credit - credit < payer.floor:
        return None
    return nantie, credit


def authorise_payment(state: State, tx: Tx, payer: Membership, amount: int) -> Delegation | None:
    """None when an owner signed; the delegation used when a till signed within its caps."""
    if common.owner_signed(state, tx, payer.account):
        return None
    account_ = state.accounts[payer.account]
    for s in tx.signatures:
        d = account_.delegations.get(s.key)
        if d is not None and d.currency == payer.currency:
            if amount > d.cap_per_payment_minor or d.spent_minor + amount > d.cap_total_minor:
                raise Refused(Reason.DELEGATION_CAP)
            return d
    raise Refused(Reason.NOT_AUTHORISED)


class Transfer(TxType):
    name = "transfer"
    labels = {"fr": "paiement", "en": "payment"}
    signers = "member"
    required = {"from": account, "to": account, "currency": currency, "amount": amount}
    optional = {
        "nantie": amount_or_zero,
        "reference": text(limits.reference_bytes_max),
        "invoice_minor": amount_or_zero,
        "memo": text(limits.memo_bytes_max),
        # the payment request (request_payment's id) this transfer pays; not checked by the
        # ledger: wallets match it (docs/protocol.md, "Payment requests")
        "request": tx_id,
    }

    def check(self, body: dict[str, Any]) -> None:
        if body.get("nantie", 0) > body["amount"]:
            raise TxError(Reason.AMOUNT_INVALID, "nantie: larger than amount")

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        code, amount_ = b["currency"], b["amount"]
        if code not in state.currencies:
            raise Refused(Reason.UNKNOWN_CURRENCY)
        if b["from"] == b["to"]:
            raise Refused(Reason.SAME_ACCOUNT)
        payer = common.target(state, b["from"], code)
        payee = common.target(state, b["to"], code)
        delegation = authorise_payment(state, tx, payer, amount_)
        nantie, credit = settle(state, payer, payee, amount_, b.get("nantie"))
        if delegation is not None:
            delegation.spent_minor += amount_
            state.dirty_accounts.add(payer.account)
        common.move(state, payer, -nantie, -credit)
        common.move(state, payee, nantie, credit)
        return Result.of(Reason.OK, nantie=nantie, credit=credit)


def settle(state: State, payer: Membership, payee: Membership, amount: int,
           nantie: int | None) -> tuple[int, int]:
    """The checks of a payment once it is authorised — both parties active, the split
    (``nantie`` as asked, else the default split), the payee's ceiling — and its (nantie,
    credit). Raises ``Refused``; changes nothing (a transfer and a standing order's run)."""
    if payer.status != "active":
        raise Refused(Reason.ACCOUNT_NOT_ACTIVE, account=payer.account)
    if payee.status != "active":
        raise Refused(Reason.PAYEE_NOT_ACTIVE, account=payee.account)
    if nantie is not None:
        credit = amount - nantie
        if payer.nantie < nantie:
            raise Refused(Reason.INSUFFICIENT_FUNDS, available=payer.nantie)
        if payer.credit - credit < payer.floor:
            raise Refused(Reason.BELOW_FLOOR)
    else:
        split = default_split(payer, amount)
        if split is None:
            raise Refused(Reason.INSUFFICIENT_FUNDS)
        nantie, credit = split
    if payee.credit + credit > payee.ceiling:
        raise Refused(Reason.ABOVE_CEILING)
    return nantie, credit
