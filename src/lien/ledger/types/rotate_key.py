"""``rotate_key``: an owner adds and removes owner keys of their account."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import limits
from ..fields import account, list_of, public_key
from ..reasons import Reason
from ..results import OK, Refused, Result
from ..state import State
from . import common
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


class RotateKey(TxType):
    name = "rotate_key"
    labels = {"fr": "clés", "en": "keys"}
    required = {
        "account": account,
        "add": list_of(public_key, 0, limits.owner_keys_max),
        "remove": list_of(public_key, 0, limits.owner_keys_max),
    }

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        account_ = common.owner_action(state, tx)
        if any(key not in account_.keys for key in b["remove"]):
            raise Refused(Reason.UNKNOWN_KEY)
        if any(common.key_in_use(state, key) for key in b["add"]):
            raise Refused(Reason.KEY_IN_USE)
        keys = (set(account_.keys) - set(b["remove"])) | set(b["add"])
        if not keys:
            raise Refused(Reason.LAST_KEY)
        if len(keys) > limits.owner_keys_max:
            raise Refused(Reason.KEYS_LIMIT)
        common.set_keys(state, account_, keys)
        return OK
