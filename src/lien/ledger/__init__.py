"""The ledger core: pure and deterministic, no I/O, no clock; imports nothing else of ours.

Public API (pinned by tests/test_architecture.py)::

    parse_tx / decode_tx / sign_body   — transactions and their canonical encoding
    TX_TYPES, TxType, Registry         — the transaction types: one unit per type
                                         (fields, static checks, execution, history, labels)
    apply_block                        — execute a block on a State
    Result, OK                         — the immutable result of an executed transaction
    State, ChainConfig, GenesisInvalid — the hot state and the genesis document (its chain id
                                         derived from its content), and its refusal
    Reason, TxError, InvariantBroken   — errors as data, and the one that stops a node

Modules: ``fields`` (field checks), ``transactions`` (envelope, parsing, signatures),
``signers`` (who may submit a transaction: the node's admission rule against the state),
``types/`` (one module per transaction type, ``common`` for what they share, ``base`` for the
unit and the registry), ``results``, ``execute`` (the block pipeline and the invariants),
``state``, ``encoding``, ``crypto``, ``ids``, ``money``, ``limits``, ``reasons``.
"""

from . import limits
from .encoding import canonical, parse_json
from .execute import (
    BlockOutcome,
    InvariantBroken,
    apply_block,
    check_all_invariants,
)
from .ids import account_id_for_key, format_account_id, is_account_id, parse_account_id
from .money import format_amount, parse_amount
from .reasons import DESCRIPTIONS, Reason, TxError
from .results import OK, Result
from .state import Account, ChainConfig, Currency, Delegation, GenesisInvalid, Membership, State
from .transactions import (
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
from .types import TX_TYPES, Registry, TxType, default_split

__all__ = [
    "DESCRIPTIONS",
    "OK",
    "TX_TYPES",
    "Account",
    "BlockOutcome",
    "ChainConfig",
    "Currency",
    "Delegation",
    "GenesisInvalid",
    "InvariantBroken",
    "Membership",
    "Reason",
    "Registry",
    "Result",
    "Signature",
    "State",
    "Tx",
    "TxError",
    "TxType",
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
