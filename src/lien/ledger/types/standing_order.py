"""``standing_order``: a payer's standing authority for payments at due times (rent, wages,
a subscription, or a one-off transfer at a future date), signed once by the payer's owner key.

The order's id is this transaction's id. Each due time, the ledger itself makes an
``order_run`` at the start of the block (``lien.ledger.execute``); the schedule is
``lien.ledger.orders``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import limits
from ..fields import account, amount, currency, due_ms, one_of, run_count, text
from ..reasons import Reason, TxError
from ..results import Refused, Result
from ..state import PERIODS, Order, State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class StandingOrder(TxType):
    name = "standing_order"
    labels = {"fr": "ordre permanent", "en": "standing order"}
    signers = "member"
    required = {"from": account, "to": account, "currency": currency, "amount": amount,
                "first_due_ms": due_ms, "period": one_of(PERIODS)}
    optional = {
        "count_max": run_count,
        "until_ms": due_ms,
        "reference": text(limits.reference_bytes_max),
        "memo": text(limits.memo_bytes_max),
    }

    def check(self, body: dict[str, Any]) -> None:
        if body["period"] == "once" and ("count_max" in body or "until_ms" in body):
            raise TxError(Reason.BAD_FIELD, "a once order takes neither count_max nor until_ms")
        if body.get("until_ms", body["first_due_ms"]) < body["first_due_ms"]:
            raise TxError(Reason.BAD_FIELD, "until_ms: before first_due_ms")

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        code = b["currency"]
        if code not in state.currencies:
            raise Refused(Reason.UNKNOWN_CURRENCY)
        if b["from"] == b["to"]:
            raise Refused(Reason.SAME_ACCOUNT)
        payer = common.target(state, b["from"], code)
        common.target(state, b["to"], code)
        # The owner's key only: a till's caps bound single payments, not a standing authority.
        if not common.owner_signed(state, tx, payer.account):
            raise Refused(Reason.NOT_AUTHORISED)
        if payer.status != "active":
            raise Refused(Reason.ACCOUNT_NOT_ACTIVE, account=payer.account)
        if b["first_due_ms"] <= state.time_ms:
            raise Refused(Reason.DUE_IN_PAST, time_ms=state.time_ms)
        if len(state.orders_of.get(payer.account, ())) >= limits.standing_orders_per_account_max:
            raise Refused(Reason.ORDERS_LIMIT, max=limits.standing_orders_per_account_max)
        order = Order(
            id=tx.id, payer=b["from"], payee=b["to"], currency=code, amount=b["amount"],
            period=b["period"], first_due_ms=b["first_due_ms"], next_due_ms=b["first_due_ms"],
            count_max=b.get("count_max", 0), until_ms=b.get("until_ms", 0),
            reference=b.get("reference", ""), memo=b.get("memo", ""),
        )
        state.index_order(order)
        state.dirty_orders[order.id] = order
        return Result.of(Reason.OK, order=order.id)
