"""The ledger core: pure and deterministic, no I/O, no clock; imports nothing else of ours.

Public API (pinned by tests/test_public_api.py)::

    parse_tx / decode_tx / sign_body   — transactions and their canonical encoding
    apply_block                        — execute a block on a State
    State, ChainConfig                 — the hot state and the genesis document
    Reason, TxError, InvariantBroken   — errors as data, and the one that stops a node
"""

from . import limits
from .encoding import canonical, parse_json
from .execute import (
    HANDLERS,
    BlockOutcome,
    InvariantBroken,
    Result,
    apply_block,
    check_all_invariants,
    default_split,
)
from .ids import account_id_for_key, format_account_id, is_account_id, parse_account_id
from .money import format_amount, parse_amount
from .reasons import DESCRIPTIONS, Reason, TxError
from .state import Account, ChainConfig, Currency, Delegation, Membership, State
from .transactions import (
    TYPES,
    Signature,
    Tx,
    check_body,
    check_freshness,
    check_signatures,
    decode_tx,
    parse_tx,
    sign_body,
    signatures_valid,
)

__all__ = [
    "DESCRIPTIONS",
    "HANDLERS",
    "TYPES",
    "Account",
    "BlockOutcome",
    "ChainConfig",
    "Currency",
    "Delegation",
    "InvariantBroken",
    "Membership",
    "Reason",
    "Result",
    "Signature",
    "State",
    "Tx",
    "TxError",
    "account_id_for_key",
    "apply_block",
    "canonical",
    "check_all_invariants",
    "check_body",
    "check_freshness",
    "check_signatures",
    "decode_tx",
    "default_split",
    "format_account_id",
    "format_amount",
    "is_account_id",
    "limits",
    "parse_account_id",
    "parse_amount",
    "parse_json",
    "parse_tx",
    "sign_body",
    "signatures_valid",
]
