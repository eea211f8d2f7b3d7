"""Who may sign a transaction: the node's admission rule against the state.

A transaction signed by no key that could make it execute can only be refused; were it admitted,
it would still be recorded on chain with its refusal, so anyone could fill the chain with
transactions from keys that never opened an account. Each type declares whose signature it
needs (``TxType.signers``); before verifying any signature, admission checks that at least one
signature is by such a key (a dictionary lookup per signature, O(1) per transaction; safe from
any thread, as the block loop only replaces dictionary entries):

    "member"     a key (owner or till) of an account that is an active member of the body's
                 ``currency`` — payments, issuance, reconversion, every admin action;
    "account"    a key (owner or till) of an existing account, whatever its standing — what an
                 account not yet approved may need: join a currency, change or recover its keys,
                 set up its tills;
    "opening"    open_account: the key it opens (nobody holds it yet);
    "governors"  create_currency: a governor's key (the genesis document);
    "validators" set_validators: a key of the current validator set (``State.validators``).

Otherwise ``unknown_signer`` (or ``signer_not_active`` when the signer's account exists but is
not an active member of the currency). This is an *admission* rule, not an execution rule:
execution keeps its own checks (``not_authorised``, ``account_not_active``...), because an entry
of the ordering log executes the same on every node whichever node admitted it, and the state
may have changed in between. It reads the state as last executed: a transaction signed by an
account whose opening (or approval) is still queued is refused — a wallet submits it once the
opening is executed (``wait=executed``).

``signer_of`` also tells admission whom to count a transaction against (the API's rate limits):
the first account that holds a signing key, and whether it is an active member of a currency.
"""

from __future__ import annotations

from dataclasses import dataclass

from .reasons import Reason, TxError
from .state import State
from .transactions import Tx
from .types import TX_TYPES, Registry


@dataclass(frozen=True, slots=True)
class Signer:
    """The account behind a transaction's signatures, as the state knows it."""

    #: the account of the first signature whose key an account holds (owner or till); None
    #: when no account holds any (an opening, a governor's, or an unknown key)
    account: str | None
    #: that account is an active member of at least one currency
    member: bool


def account_of(state: State, key: str) -> str | None:
    """The account that holds ``key``, as an owner key or as a till's."""
    return state.key_owner.get(key) or state.delegate_owner.get(key)


def is_active(state: State, account: str, currency: str) -> bool:
    membership = state.memberships.get((account, currency))
    return membership is not None and membership.status == "active"


def signer_of(state: State, tx: Tx) -> Signer:
    """Who signed ``tx`` (a few lookups: a chain has a handful of currencies)."""
    for signature in tx.signatures:
        account = account_of(state, signature.key)
        if account is not None:
            # list(): a copy taken at once, as the node's block loop may add a currency
            currencies = list(state.currencies)
            return Signer(account, any(is_active(state, account, c) for c in currencies))
    return Signer(None, False)


def check_signer(state: State, tx: Tx, types: Registry = TX_TYPES) -> None:
    """Raise ``TxError`` unless a signature is by a key that may submit ``tx`` (module doc)."""
    unit = types.get(tx.type)
    if unit is not None and unit.system:
        raise TxError(Reason.SYSTEM_TRANSACTION, f"{tx.type} is made by the ledger itself, "
                                                 "never submitted")
    signers = unit.signers if unit is not None else "account"
    body = tx.body
    if signers == "opening":
        if body["key"] not in tx.signer_keys:
            raise TxError(Reason.UNKNOWN_SIGNER, "an opening is signed by the key it opens")
        return
    if signers == "governors":
        if not set(tx.signer_keys) & set(state.config.governors):
            raise TxError(Reason.UNKNOWN_SIGNER, "only a governor creates a currency")
        return
    if signers == "validators":
        if not set(tx.signer_keys) & set(state.validators.keys):
            raise TxError(Reason.UNKNOWN_SIGNER, "only the validators change the validator set")
        return
    accounts = [a for a in (account_of(state, key) for key in tx.signer_keys) if a is not None]
    if not accounts:
        raise TxError(Reason.UNKNOWN_SIGNER, "no signature is by a key of an account: "
                                             "open one (open_account) first")
    if signers == "member":
        code = str(body["currency"])  # every "member" type names one
        if not any(is_active(state, a, code) for a in accounts):
            raise TxError(Reason.SIGNER_NOT_ACTIVE, f"no signer is an active member of {code}"
                          if code in state.currencies else f"no currency {code} on this chain")
