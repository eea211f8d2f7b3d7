"""``set_validators``: more than 2/3 of the current validators replace the validator set.

The body carries the new set whole (a key rotation removes the old key and adds the new one
in one change). It is signed with the validators' own keys, not with accounts' keys, and it
takes effect from the *next* block: the block that holds it is certified by the set in force
before it, so a verifier can follow the changes from the genesis set, each one certified by
the set it replaces (``lien.chain.receipt``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import limits
from ..fields import list_of, public_key
from ..reasons import Reason, TxError
from ..results import OK, Refused, Result
from ..state import State, ValidatorChange, validator_quorum
from .base import TxType

if TYPE_CHECKING:
    from ..transactions import Tx


#: The largest set that can still be changed: its quorum fits in one transaction's
#: ``signatures_max`` signatures (23 keys: 16 signatures).
changeable_validators_max = next(
    n for n in range(limits.validators_max, 0, -1) if validator_quorum(n) <= limits.signatures_max)


class SetValidators(TxType):
    name = "set_validators"
    labels = {"fr": "changement de validateurs", "en": "validator set"}
    signers = "validators"
    required = {"validators": list_of(public_key, 1, limits.validators_max)}

    def check(self, body: dict[str, Any]) -> None:
        """A set too large to be changed again would be there for good."""
        if len(body["validators"]) > changeable_validators_max:
            raise TxError(Reason.BAD_FIELD,
                          f"validators: at most {changeable_validators_max} keys (a larger "
                          f"set needs more than signatures_max ({limits.signatures_max}) "
                          "signatures to change it, so could never change again)")

    def execute(self, state: State, tx: Tx) -> Result:
        current = state.validators
        if current.from_height > state.height:  # changed by this very block
            raise Refused(Reason.VALIDATORS_CHANGED)
        signers = len(set(tx.signer_keys) & set(current.keys))
        if signers == 0:
            raise Refused(Reason.NOT_AUTHORISED, role="validator")
        need = validator_quorum(len(current.keys))
        if signers < need:
            raise Refused(Reason.QUORUM_NOT_MET, have=signers, need=need)
        state.validators = ValidatorChange(state.height + 1,
                                           tuple(sorted(tx.body["validators"])))
        state.dirty_validators = True
        return OK
