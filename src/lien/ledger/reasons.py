"""Reason codes: why a transaction was refused. Stable strings, part of the protocol.

Two families:

* *admission* codes — the transaction is malformed, badly signed, for another chain, expired,
  a duplicate, or signed by no key that could make it execute (``lien.ledger.signers``). It
  never enters a block; a node answers them at submission (HTTP 4xx).
* *execution* codes — the transaction is well formed and signed but the ledger's state refuses
  it (not enough money, not authorised...). It is recorded in a block with that code, so its id
  is spent: it can never execute later by surprise.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    OK = "ok"
    # -- admission -------------------------------------------------------------------------
    MALFORMED = "malformed"
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"
    AMOUNT_INVALID = "amount_invalid"
    TOO_LARGE = "too_large"
    BAD_SIGNATURE = "bad_signature"
    MISSING_SIGNATURE = "missing_signature"
    WRONG_CHAIN = "wrong_chain"
    EXPIRED = "expired"
    EXPIRY_TOO_FAR = "expiry_too_far"
    DUPLICATE = "duplicate"
    UNKNOWN_SIGNER = "unknown_signer"
    SIGNER_NOT_ACTIVE = "signer_not_active"
    SYSTEM_TRANSACTION = "system_transaction"
    # -- execution -------------------------------------------------------------------------
    UNKNOWN_ACCOUNT = "unknown_account"
    UNKNOWN_CURRENCY = "unknown_currency"
    ACCOUNT_EXISTS = "account_exists"
    ACCOUNT_ID_MISMATCH = "account_id_mismatch"
    KEY_IN_USE = "key_in_use"
    NOT_MEMBER = "not_member"
    ALREADY_MEMBER = "already_member"
    ACCOUNT_NOT_ACTIVE = "account_not_active"
    PAYEE_NOT_ACTIVE = "payee_not_active"
    NOT_AUTHORISED = "not_authorised"
    QUORUM_NOT_MET = "quorum_not_met"
    QUORUM_IMPOSSIBLE = "quorum_impossible"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    BELOW_FLOOR = "below_floor"
    ABOVE_CEILING = "above_ceiling"
    SUPPLY_LIMIT = "supply_limit"
    DELEGATION_CAP = "delegation_cap"
    INVALID_TRANSITION = "invalid_transition"
    BALANCE_NOT_ZERO = "balance_not_zero"
    SAME_ACCOUNT = "same_account"
    LIMITS_EXCLUDE_BALANCE = "limits_exclude_balance"
    CURRENCY_EXISTS = "currency_exists"
    WRONG_KIND = "wrong_kind"
    LAST_KEY = "last_key"
    KEYS_LIMIT = "keys_limit"
    UNKNOWN_KEY = "unknown_key"
    NO_PENDING_RECOVERY = "no_pending_recovery"
    UNKNOWN_ORDER = "unknown_order"
    ORDERS_LIMIT = "orders_limit"
    DUE_IN_PAST = "due_in_past"
    VALIDATORS_CHANGED = "validators_changed"


#: One line per code, for the API, the CLI and docs/protocol.md (a test keeps them complete).
DESCRIPTIONS: dict[Reason, str] = {
    Reason.OK: "Executed.",
    Reason.MALFORMED: "Not a transaction: bad JSON, missing or unexpected field, wrong type.",
    Reason.UNKNOWN_TYPE: "The body's `type` is not a transaction type of this protocol.",
    Reason.BAD_FIELD: "A field has the right type but an invalid value (id, code, key, text).",
    Reason.AMOUNT_INVALID: "An amount is not an integer in 1..amount_minor_max (or 0.. where allowed).",
    Reason.TOO_LARGE: "The body, memo, reference or whole transaction exceeds its named limit.",
    Reason.BAD_SIGNATURE: "A signature does not verify against the canonical body and its key.",
    Reason.MISSING_SIGNATURE: "The transaction carries no signature.",
    Reason.WRONG_CHAIN: "The body's `chain` is not this chain's id (replay from another chain).",
    Reason.EXPIRED: "The body's `expires` is in the past.",
    Reason.EXPIRY_TOO_FAR: "The body's `expires` is more than expiry_window_ms_max ahead.",
    Reason.DUPLICATE: "This transaction id was already submitted; its first outcome stands.",
    Reason.UNKNOWN_SIGNER: "No signature is by a key that may submit this type: a key of an "
                           "account (owner or till), a governor's for create_currency, a "
                           "validator's for set_validators, the key it opens for open_account.",
    Reason.SIGNER_NOT_ACTIVE: "No signer's account is an active member of the body's currency "
                              "(pending, locked, closed, or no such currency).",
    Reason.UNKNOWN_ACCOUNT: "An account named in the body does not exist.",
    Reason.UNKNOWN_CURRENCY: "The currency named in the body does not exist.",
    Reason.ACCOUNT_EXISTS: "An account with this id already exists.",
    Reason.ACCOUNT_ID_MISMATCH: "The account id is not the one derived from the opening key.",
    Reason.KEY_IN_USE: "This public key already belongs to an account.",
    Reason.NOT_MEMBER: "The account has no membership in this currency.",
    Reason.ALREADY_MEMBER: "The account is already a member of this currency.",
    Reason.ACCOUNT_NOT_ACTIVE: "The acting account's membership is not active (pending, locked, closed).",
    Reason.PAYEE_NOT_ACTIVE: "The receiving account's membership is not active.",
    Reason.NOT_AUTHORISED: "No signature from a key allowed to act for this account or role.",
    Reason.QUORUM_NOT_MET: "A sensitive action lacks the currency's M-of-N admin signatures "
                           "(the governors' quorum, more than 2/3 of the validators).",
    Reason.QUORUM_IMPOSSIBLE: "The change would leave fewer admins than the admin quorum.",
    Reason.INSUFFICIENT_FUNDS: "Not enough nantie (or nantie plus credit) for the amount.",
    Reason.BELOW_FLOOR: "The mutual-credit balance would go below the account's floor.",
    Reason.ABOVE_CEILING: "The payee's mutual-credit balance would exceed its ceiling.",
    Reason.SUPPLY_LIMIT: "Issuing would exceed supply_minor_max.",
    Reason.DELEGATION_CAP: "A delegated key exceeded its per-payment or total cap.",
    Reason.INVALID_TRANSITION: "This status change is not allowed from the current status.",
    Reason.BALANCE_NOT_ZERO: "An account is closed only with zero balances in both units.",
    Reason.SAME_ACCOUNT: "Payer and payee are the same account.",
    Reason.LIMITS_EXCLUDE_BALANCE: "The new floor/ceiling would exclude the current credit balance.",
    Reason.CURRENCY_EXISTS: "A currency with this code already exists.",
    Reason.WRONG_KIND: "The account's kind cannot do this (e.g. only businesses reconvert).",
    Reason.LAST_KEY: "An account keeps at least one owner key.",
    Reason.KEYS_LIMIT: "Too many owner keys (owner_keys_max) or delegations (delegations_max).",
    Reason.UNKNOWN_KEY: "The key to remove or revoke is not on the account.",
    Reason.NO_PENDING_RECOVERY: "There is no pending key recovery on this account to veto.",
    Reason.SYSTEM_TRANSACTION: "This type (order_run) is made by the ledger itself at block "
                               "start, never submitted nor signed.",
    Reason.UNKNOWN_ORDER: "No active standing order has this id (never made, revoked or ended).",
    Reason.ORDERS_LIMIT: "The payer already has standing_orders_per_account_max active orders.",
    Reason.DUE_IN_PAST: "The standing order's first due time is not after the block's time.",
    Reason.VALIDATORS_CHANGED: "The validator set already changed in this block; the next "
                               "change goes in a later block.",
}

ADMISSION = frozenset(
    {
        Reason.MALFORMED,
        Reason.UNKNOWN_TYPE,
        Reason.BAD_FIELD,
        Reason.AMOUNT_INVALID,
        Reason.TOO_LARGE,
        Reason.BAD_SIGNATURE,
        Reason.MISSING_SIGNATURE,
        Reason.WRONG_CHAIN,
        Reason.EXPIRED,
        Reason.EXPIRY_TOO_FAR,
        Reason.DUPLICATE,
        Reason.UNKNOWN_SIGNER,
        Reason.SIGNER_NOT_ACTIVE,
        Reason.SYSTEM_TRANSACTION,
    }
)


class TxError(Exception):
    """An admission refusal: raised by parsing and checking, carries its reason and detail."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
