"""``order_run``: one run of a standing order, made by the ledger itself at the start of a
block from its state (``lien.ledger.execute``), never signed nor submitted.

Its body names the order, the run's number, and copies the payment (from, to, currency,
amount, reference, memo) so that both histories read it like a payment; it executes with a
transfer's rules (default split, floor, ceiling, statuses) under the order's standing
authority, and is recorded ``ok`` or refused with its reason like any transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import limits
from ..fields import account, amount, currency, run_count, text, tx_id
from ..reasons import Reason
from ..results import Result
from ..state import State
from . import common
from .base import TxType
from .transfer import settle

if TYPE_CHECKING:
    from ..transactions import Tx


class OrderRun(TxType):
    name = "order_run"
    # A refused run is not "executed": the label reads well with either outcome.
    labels = {"fr": "paiement par ordre permanent", "en": "standing order payment"}
    system = True
    required = {"order": tx_id, "run": run_count, "from": account, "to": account,
                "currency": currency, "amount": amount}
    optional = {
        "reference": text(limits.reference_bytes_max),
        "memo": text(limits.memo_bytes_max),
    }

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        code, amount_ = b["currency"], b["amount"]
        payer = common.target(state, b["from"], code)
        payee = common.target(state, b["to"], code)
        nantie, credit = settle(state, payer, payee, amount_, None)
        common.move(state, payer, -nantie, -credit)
        common.move(state, payee, nantie, credit)
        return Result.of(Reason.OK, nantie=nantie, credit=credit)
