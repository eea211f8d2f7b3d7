"""The executor: ``apply_block(state, txs, time_ms)`` — deterministic, no I/O, no clock.

A pipeline of two stages per transaction, each a list of small checks:

1. *admission* (``admit``): chain id, expiry against the block time, duplicate id, and — when
   asked — signatures. A transaction that fails admission is *dropped*: it never enters a block.
2. *execution* (one handler per type in ``HANDLERS``): every check reads the state and returns
   a result ``{"code": reason, ...}``; only when all pass does the handler mutate, so a refused
   transaction changes nothing. Refusals are recorded in the block with their reason code.

After the block, ``check_invariants`` asserts the money rules of DESIGN.md §5 on every touched
record and on each currency's totals; a broken invariant raises ``InvariantBroken`` — a bug or
tampering, never an expected outcome — and the node stops.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import limits
from .history import touched_accounts
from .ids import account_id_for_key
from .reasons import Reason, TxError
from .state import Account, Currency, Delegation, Membership, Recovery, State, next_state_root
from .transactions import Tx, check_freshness, signatures_valid

Result = dict[str, Any]


class InvariantBroken(AssertionError):
    """A money invariant does not hold: the node must stop (bug or tampering)."""


def _result(reason: Reason, **extra: Any) -> Result:
    return {"code": reason.value, **extra}


OK: Result = {"code": "ok"}


# -- authorisation helpers ---------------------------------------------------------------------
def _owner_signed(state: State, tx: Tx, account_id: str) -> bool:
    owner = state.key_owner.get
    return any(owner(s.key) == account_id for s in tx.signatures)


def _member(state: State, account_id: str, code: str) -> Membership | None:
    return state.memberships.get((account_id, code))


def _admins_signing(state: State, tx: Tx, code: str) -> set[str]:
    """Distinct active admins of ``code`` whose owner key signed ``tx``."""
    admins = state.role_holders.get((code, "admin"), set())
    result = set()
    for s in tx.signatures:
        account = state.key_owner.get(s.key)
        if account in admins:
            m = state.memberships[(account, code)]
            if m.status == "active":
                result.add(account)
    return result


def _check_role(state: State, tx: Tx, by: str, code: str, role: str) -> Result | None:
    """``by`` must exist, hold ``role`` actively in ``code`` and have signed."""
    if code not in state.currencies:
        return _result(Reason.UNKNOWN_CURRENCY)
    if by not in state.accounts:
        return _result(Reason.UNKNOWN_ACCOUNT, account=by)
    m = _member(state, by, code)
    if m is None or role not in m.roles:
        return _result(Reason.NOT_AUTHORISED, account=by, role=role)
    if m.status != "active":
        return _result(Reason.ACCOUNT_NOT_ACTIVE, account=by)
    if not _owner_signed(state, tx, by):
        return _result(Reason.NOT_AUTHORISED, account=by)
    return None


def _check_quorum(state: State, tx: Tx, code: str) -> Result | None:
    quorum = state.currencies[code].policy["admin_quorum"]
    have = len(_admins_signing(state, tx, code))
    if have < quorum:
        return _result(Reason.QUORUM_NOT_MET, have=have, need=quorum)
    return None


def _owner_action(state: State, tx: Tx) -> Account | Result:
    """The common start of an owner's action on their account: it exists, an owner key signed."""
    account = state.accounts.get(tx.body["account"])
    if account is None:
        return _result(Reason.UNKNOWN_ACCOUNT, account=tx.body["account"])
    if not _owner_signed(state, tx, account.id):
        return _result(Reason.NOT_AUTHORISED)
    return account


def _admin_action(state: State, tx: Tx, account_id: str, *, quorum: bool) -> Membership | Result:
    """The common start of an admin's action on a membership: ``by`` is an active admin who
    signed (R), the admin quorum signed when ``quorum`` (Q), the target is a member (T)."""
    code = tx.body["currency"]
    if (refused := _check_role(state, tx, tx.body["by"], code, "admin")) is not None:
        return refused
    if quorum and (refused := _check_quorum(state, tx, code)) is not None:
        return refused
    return _target(state, account_id, code)


def _target(state: State, account_id: str, code: str) -> Membership | Result:
    if account_id not in state.accounts:
        return _result(Reason.UNKNOWN_ACCOUNT, account=account_id)
    m = _member(state, account_id, code)
    if m is None:
        return _result(Reason.NOT_MEMBER, account=account_id)
    return m


# -- mutations: the only places that change balances, roles and keys ------------------------------
def _move(state: State, m: Membership, nantie: int, credit: int) -> None:
    m.nantie += nantie
    m.credit += credit
    totals = state.totals[m.currency]
    totals.nantie += nantie
    totals.credit += credit
    state.dirty_memberships.add((m.account, m.currency))


def _join(state: State, account_id: str, code: str, status: str) -> Membership:
    policy = state.currencies[code].policy
    m = Membership(
        account=account_id,
        currency=code,
        status=status,
        roles=(),
        nantie=0,
        credit=0,
        floor=policy["credit_floor_default_minor"],
        ceiling=policy["credit_ceiling_default_minor"],
    )
    state.memberships[(account_id, code)] = m
    state.dirty_memberships.add((account_id, code))
    return m


def _set_roles(state: State, m: Membership, roles: Iterable[str]) -> None:
    for role in m.roles:
        state.role_holders[(m.currency, role)].discard(m.account)
    m.roles = tuple(sorted(set(roles)))
    for role in m.roles:
        state.role_holders.setdefault((m.currency, role), set()).add(m.account)
    state.dirty_memberships.add((m.account, m.currency))


def _set_keys(state: State, account: Account, keys: Iterable[str]) -> None:
    for key in account.keys:
        state.key_owner.pop(key, None)
    account.keys = sorted(set(keys))
    for key in account.keys:
        state.key_owner[key] = account.id
    state.dirty_accounts.add(account.id)


def _key_in_use(state: State, key: str) -> bool:
    return key in state.key_owner or key in state.delegate_owner


def _admin_count(state: State, code: str, without: str = "", with_: str = "") -> int:
    # Only an active admin can sign. A closed one never will again, and a locked one comes back
    # only by a quorum of active admins: counting either could leave a currency without quorum.
    admins = {
        a for a in state.role_holders.get((code, "admin"), set())
        if state.memberships[(a, code)].status == "active"
    }
    admins.discard(without)
    if with_:
        admins.add(with_)
    return len(admins)


# -- handlers, one per transaction type -----------------------------------------------------------
def open_account(state: State, tx: Tx) -> Result:
    b = tx.body
    if account_id_for_key(bytes.fromhex(b["key"])) != b["account"]:
        return _result(Reason.ACCOUNT_ID_MISMATCH, expected=account_id_for_key(bytes.fromhex(b["key"])))
    if b["key"] not in tx.signer_keys:
        return _result(Reason.NOT_AUTHORISED, account=b["account"])
    if b["account"] in state.accounts:
        return _result(Reason.ACCOUNT_EXISTS)
    if _key_in_use(state, b["key"]):
        return _result(Reason.KEY_IN_USE)
    code = b.get("currency")
    if code is not None and code not in state.currencies:
        return _result(Reason.UNKNOWN_CURRENCY)
    state.index_account(Account(id=b["account"], kind=b["kind"], keys=[b["key"]]))
    state.dirty_accounts.add(b["account"])
    if code is not None:
        _join(state, b["account"], code, "pending")
    return OK


def join_currency(state: State, tx: Tx) -> Result:
    b = tx.body
    account = _owner_action(state, tx)
    if isinstance(account, dict):
        return account
    if b["currency"] not in state.currencies:
        return _result(Reason.UNKNOWN_CURRENCY)
    if _member(state, b["account"], b["currency"]) is not None:
        return _result(Reason.ALREADY_MEMBER)
    _join(state, b["account"], b["currency"], "pending")
    return OK


#: status -> statuses an admin may move it to
TRANSITIONS = {
    "pending": ("active", "closed"),
    "active": ("locked", "closed"),
    "locked": ("active", "closed"),
    "closed": (),
}


def set_status(state: State, tx: Tx) -> Result:
    b = tx.body
    m = _admin_action(state, tx, b["account"], quorum=False)
    if isinstance(m, dict):
        return m
    if b["status"] not in TRANSITIONS[m.status]:
        return _result(Reason.INVALID_TRANSITION, status=m.status)
    if b["status"] == "closed" and m.account == state.currencies[m.currency].policy["association"]:
        # The association receives every reconversion fee: a closed membership never could.
        return _result(Reason.INVALID_TRANSITION, status=m.status)
    if m.roles:  # locking an admin or an issuer is governance: one admin alone cannot
        if (refused := _check_quorum(state, tx, m.currency)) is not None:
            return refused
    if b["status"] == "closed" and (m.nantie != 0 or m.credit != 0):
        return _result(Reason.BALANCE_NOT_ZERO)
    if "admin" in m.roles and b["status"] != "active" and _admin_count(
        state, m.currency, without=m.account
    ) < state.currencies[m.currency].policy["admin_quorum"]:
        return _result(Reason.QUORUM_IMPOSSIBLE)
    m.status = b["status"]
    state.dirty_memberships.add((m.account, m.currency))
    return OK


def set_roles(state: State, tx: Tx) -> Result:
    b = tx.body
    code = b["currency"]
    m = _admin_action(state, tx, b["account"], quorum=True)
    if isinstance(m, dict):
        return m
    if m.status == "closed":
        return _result(Reason.ACCOUNT_NOT_ACTIVE, account=m.account)
    keeps_admin = "admin" in b["roles"] and m.status == "active"
    admins = _admin_count(state, code, without=m.account, with_=m.account if keeps_admin else "")
    if admins < state.currencies[code].policy["admin_quorum"]:
        return _result(Reason.QUORUM_IMPOSSIBLE)
    _set_roles(state, m, b["roles"])
    return OK


def set_limits(state: State, tx: Tx) -> Result:
    b = tx.body
    code = b["currency"]
    m = _admin_action(state, tx, b["account"], quorum=False)
    if isinstance(m, dict):
        return m
    # Only a limit that is raised counts: lowering the floor to -F or raising the ceiling to C
    # needs the quorum when F or C is above the threshold (an untouched limit never does).
    raised = max(-b["floor"] if b["floor"] < m.floor else 0,
                 b["ceiling"] if b["ceiling"] > m.ceiling else 0)
    if raised > state.currencies[code].policy["limit_quorum_above_minor"]:
        if (refused := _check_quorum(state, tx, code)) is not None:
            return refused
    if not b["floor"] <= m.credit <= b["ceiling"]:
        return _result(Reason.LIMITS_EXCLUDE_BALANCE, credit=m.credit)
    m.floor, m.ceiling = b["floor"], b["ceiling"]
    state.dirty_memberships.add((m.account, code))
    return OK


def issue(state: State, tx: Tx) -> Result:
    b = tx.body
    code = b["currency"]
    if (refused := _check_role(state, tx, b["by"], code, "issuer")) is not None:
        return refused
    currency = state.currencies[code]
    if b["amount"] > currency.policy["issue_quorum_above_minor"]:
        if (refused := _check_quorum(state, tx, code)) is not None:
            return refused
    m = _target(state, b["to"], code)
    if isinstance(m, dict):
        return m
    if m.status != "active":
        return _result(Reason.PAYEE_NOT_ACTIVE, account=m.account)
    if currency.issued_minor - currency.reconverted_minor + b["amount"] > limits.supply_minor_max:
        return _result(Reason.SUPPLY_LIMIT)
    currency.issued_minor += b["amount"]
    state.dirty_currencies.add(code)
    _move(state, m, b["amount"], 0)
    return OK


def reconvert(state: State, tx: Tx) -> Result:
    b = tx.body
    code = b["currency"]
    if code not in state.currencies:
        return _result(Reason.UNKNOWN_CURRENCY)
    m = _target(state, b["account"], code)
    if isinstance(m, dict):
        return m
    if state.accounts[m.account].kind != "business":
        return _result(Reason.WRONG_KIND, kind=state.accounts[m.account].kind)
    if m.status != "active":
        return _result(Reason.ACCOUNT_NOT_ACTIVE, account=m.account)
    if not _owner_signed(state, tx, m.account):
        return _result(Reason.NOT_AUTHORISED)
    if m.nantie < b["amount"]:
        return _result(Reason.INSUFFICIENT_FUNDS, available=m.nantie)
    currency = state.currencies[code]
    association = state.memberships[(currency.policy["association"], code)]
    fee = b["amount"] * currency.policy["reconversion_fee_bp"] // limits.basis_points_max
    if association.account == m.account:
        fee = 0
    _move(state, m, -b["amount"], 0)
    _move(state, association, fee, 0)
    currency.reconverted_minor += b["amount"] - fee
    state.dirty_currencies.add(code)
    return {"code": "ok", "fee": fee, "paid_out": b["amount"] - fee}


def default_split(payer: Membership, amount: int) -> tuple[int, int] | None:
    """(nantie, credit) for ``amount``: positive credit first, then nantie, then credit down to
    the floor. None when the payer cannot afford it at all."""
    from_positive_credit = min(amount, max(payer.credit, 0))
    nantie = min(amount - from_positive_credit, payer.nantie)
    credit = amount - nantie
    if payer.credit - credit < payer.floor:
        return None
    return nantie, credit


def _authorise_payment(
    state: State, tx: Tx, payer: Membership, amount: int
) -> Result | Delegation | None:
    """None when an owner signed; the delegation used when a till signed within its caps."""
    if _owner_signed(state, tx, payer.account):
        return None
    account = state.accounts[payer.account]
    for s in tx.signatures:
        d = account.delegations.get(s.key)
        if d is not None and d.currency == payer.currency:
            if amount > d.cap_per_payment_minor or d.spent_minor + amount > d.cap_total_minor:
                return _result(Reason.DELEGATION_CAP)
            return d
    return _result(Reason.NOT_AUTHORISED)


def transfer(state: State, tx: Tx) -> Result:
    b = tx.body
    code, amount = b["currency"], b["amount"]
    if code not in state.currencies:
        return _result(Reason.UNKNOWN_CURRENCY)
    if b["from"] == b["to"]:
        return _result(Reason.SAME_ACCOUNT)
    payer = _target(state, b["from"], code)
    if isinstance(payer, dict):
        return payer
    payee = _target(state, b["to"], code)
    if isinstance(payee, dict):
        return payee
    delegation = _authorise_payment(state, tx, payer, amount)
    if isinstance(delegation, dict):
        return delegation
    if payer.status != "active":
        return _result(Reason.ACCOUNT_NOT_ACTIVE, account=payer.account)
    if payee.status != "active":
        return _result(Reason.PAYEE_NOT_ACTIVE, account=payee.account)
    if "nantie" in b:
        nantie, credit = b["nantie"], amount - b["nantie"]
        if payer.nantie < nantie:
            return _result(Reason.INSUFFICIENT_FUNDS, available=payer.nantie)
        if payer.credit - credit < payer.floor:
            return _result(Reason.BELOW_FLOOR)
    else:
        split = default_split(payer, amount)
        if split is None:
            return _result(Reason.INSUFFICIENT_FUNDS)
        nantie, credit = split
    if payee.credit + credit > payee.ceiling:
        return _result(Reason.ABOVE_CEILING)
    if delegation is not None:
        delegation.spent_minor += amount
        state.dirty_accounts.add(payer.account)
    _move(state, payer, -nantie, -credit)
    _move(state, payee, nantie, credit)
    return {"code": "ok", "nantie": nantie, "credit": credit}


def rotate_key(state: State, tx: Tx) -> Result:
    b = tx.body
    account = _owner_action(state, tx)
    if isinstance(account, dict):
        return account
    if any(key not in account.keys for key in b["remove"]):
        return _result(Reason.UNKNOWN_KEY)
    if any(_key_in_use(state, key) for key in b["add"]):
        return _result(Reason.KEY_IN_USE)
    keys = (set(account.keys) - set(b["remove"])) | set(b["add"])
    if not keys:
        return _result(Reason.LAST_KEY)
    if len(keys) > limits.owner_keys_max:
        return _result(Reason.KEYS_LIMIT)
    _set_keys(state, account, keys)
    return OK


def recover_key(state: State, tx: Tx) -> Result:
    b = tx.body
    code = b["currency"]
    m = _admin_action(state, tx, b["account"], quorum=True)
    if isinstance(m, dict):
        return m
    if _key_in_use(state, b["key"]):
        return _result(Reason.KEY_IN_USE)
    account = state.accounts[m.account]
    effective = state.time_ms + state.currencies[code].policy["recovery_delay_ms"]
    account.recovery = Recovery(key=b["key"], currency=code, effective_ms=effective)
    state.pending_recoveries.add(account.id)
    state.dirty_accounts.add(account.id)
    return {"code": "ok", "effective_ms": effective}


def veto_recovery(state: State, tx: Tx) -> Result:
    account = _owner_action(state, tx)
    if isinstance(account, dict):
        return account
    if account.recovery is None:
        return _result(Reason.NO_PENDING_RECOVERY)
    account.recovery = None
    state.pending_recoveries.discard(account.id)
    state.dirty_accounts.add(account.id)
    return OK


def delegate(state: State, tx: Tx) -> Result:
    b = tx.body
    account = _owner_action(state, tx)
    if isinstance(account, dict):
        return account
    if account.kind not in ("business", "association"):
        return _result(Reason.WRONG_KIND, kind=account.kind)
    if b["currency"] not in state.currencies:
        return _result(Reason.UNKNOWN_CURRENCY)
    if _member(state, account.id, b["currency"]) is None:
        return _result(Reason.NOT_MEMBER, account=account.id)
    existing = account.delegations.get(b["key"])
    if existing is None and _key_in_use(state, b["key"]):
        return _result(Reason.KEY_IN_USE)
    if existing is None and len(account.delegations) >= limits.delegations_max:
        return _result(Reason.KEYS_LIMIT)
    # Changing a till's caps keeps what it spent; moving it to another currency starts anew.
    spent = existing.spent_minor if existing and existing.currency == b["currency"] else 0
    account.delegations[b["key"]] = Delegation(
        b["currency"], b["cap_per_payment_minor"], b["cap_total_minor"], spent
    )
    state.delegate_owner[b["key"]] = account.id
    state.dirty_accounts.add(account.id)
    return OK


def revoke_delegation(state: State, tx: Tx) -> Result:
    b = tx.body
    account = _owner_action(state, tx)
    if isinstance(account, dict):
        return account
    if b["key"] not in account.delegations:
        return _result(Reason.UNKNOWN_KEY)
    del account.delegations[b["key"]]
    del state.delegate_owner[b["key"]]
    state.dirty_accounts.add(account.id)
    return OK


def _check_policy_accounts(state: State, policy: dict[str, Any]) -> Result | None:
    if policy["association"] not in state.accounts:
        return _result(Reason.UNKNOWN_ACCOUNT, account=policy["association"])
    return None


def create_currency(state: State, tx: Tx) -> Result:
    b = tx.body
    config = state.config
    governors = len(set(tx.signer_keys) & set(config.governors))
    if governors == 0:
        return _result(Reason.NOT_AUTHORISED, role="governor")
    if governors < config.governor_quorum:
        return _result(Reason.QUORUM_NOT_MET, have=governors, need=config.governor_quorum)
    if b["code"] in state.currencies:
        return _result(Reason.CURRENCY_EXISTS)
    for account_id in [*b["admins"], *b["issuers"]]:
        if account_id not in state.accounts:
            return _result(Reason.UNKNOWN_ACCOUNT, account=account_id)
    if (refused := _check_policy_accounts(state, b["policy"])) is not None:
        return refused
    if len(b["admins"]) < b["policy"]["admin_quorum"]:
        return _result(Reason.QUORUM_IMPOSSIBLE)
    code = b["code"]
    state.index_currency(Currency(code=code, policy=dict(b["policy"])))
    state.dirty_currencies.add(code)
    roles: dict[str, set[str]] = {}
    for account_id in b["admins"]:
        roles.setdefault(account_id, set()).add("admin")
    for account_id in b["issuers"]:
        roles.setdefault(account_id, set()).add("issuer")
    roles.setdefault(b["policy"]["association"], set())
    for account_id, account_roles in sorted(roles.items()):
        _set_roles(state, _join(state, account_id, code, "active"), account_roles)
    return OK


def set_policy(state: State, tx: Tx) -> Result:
    b = tx.body
    code = b["currency"]
    if (refused := _check_role(state, tx, b["by"], code, "admin")) is not None:
        return refused
    if (refused := _check_quorum(state, tx, code)) is not None:
        return refused
    if (refused := _check_policy_accounts(state, b["policy"])) is not None:
        return refused
    association = b["policy"]["association"]
    joined = _member(state, association, code)
    if joined is not None and joined.status == "closed":  # it could never hold its fees
        return _result(Reason.PAYEE_NOT_ACTIVE, account=association)
    if _admin_count(state, code) < b["policy"]["admin_quorum"]:
        return _result(Reason.QUORUM_IMPOSSIBLE)
    if joined is None:
        _join(state, association, code, "active")
    currency = state.currencies[code]
    currency.policy = dict(b["policy"])
    state.dirty_currencies.add(code)
    return OK


Handler = Callable[[State, Tx], Result]

HANDLERS: dict[str, Handler] = {
    "open_account": open_account,
    "join_currency": join_currency,
    "set_status": set_status,
    "set_roles": set_roles,
    "set_limits": set_limits,
    "issue": issue,
    "reconvert": reconvert,
    "transfer": transfer,
    "rotate_key": rotate_key,
    "recover_key": recover_key,
    "veto_recovery": veto_recovery,
    "delegate": delegate,
    "revoke_delegation": revoke_delegation,
    "create_currency": create_currency,
    "set_policy": set_policy,
}


# -- the block ---------------------------------------------------------------------------------
@dataclass(slots=True)
class BlockOutcome:
    """What one block did: the included transactions with their results, what was dropped,
    the state commitment after it, and the accounts each transaction concerns (the keys of
    their histories, taken as the transaction executes)."""

    height: int
    time_ms: int
    txs: list[Tx]
    results: list[Result]
    dropped: list[tuple[Tx, TxError]]
    state_root: bytes
    touched: list[list[str]]


def admit(state: State, tx: Tx, time_ms: int, in_block: set[str], verify: bool) -> None:
    """Raise TxError when ``tx`` may not enter this block (it is then dropped, not recorded).

    Freshness first: an expired id is ``expired`` whether or not it is still remembered, so
    the answer never depends on when remembered ids were last pruned."""
    check_freshness(tx, state.config.chain_id, time_ms)
    if tx.id in state.seen or tx.id in in_block:
        raise TxError(Reason.DUPLICATE, tx.id)
    if verify and not signatures_valid(tx):
        raise TxError(Reason.BAD_SIGNATURE, "a signature does not verify")


def _apply_due_recoveries(state: State) -> None:
    for account_id in sorted(state.pending_recoveries):
        account = state.accounts[account_id]
        recovery = account.recovery
        if recovery is not None and recovery.effective_ms <= state.time_ms:
            if _key_in_use(state, recovery.key):
                # The key was taken meanwhile (e.g. by a new account): the recovery lapses.
                account.recovery = None
            else:
                account.recovery = None
                _set_keys(state, account, [recovery.key])
            state.pending_recoveries.discard(account_id)
            state.dirty_accounts.add(account_id)


def _take_marks(state: State) -> tuple[set[str], set[tuple[str, str]], set[str]]:
    marks = (set(state.dirty_accounts), set(state.dirty_memberships), set(state.dirty_currencies))
    state.dirty_accounts.clear()
    state.dirty_memberships.clear()
    state.dirty_currencies.clear()
    return marks


def _forget_expired(state: State) -> None:
    """Drop remembered ids whose expiry has passed: admission refuses them as ``expired``
    anyway, so memory stays bounded by the expiry window. A heap of (expires, id) makes it
    cheap enough for every block."""
    heap = state.seen_expiries
    if len(heap) < len(state.seen):  # ids remembered without the heap (a loaded state)
        heap[:] = [(expires, tx_id) for tx_id, expires in state.seen.items()]
        heapq.heapify(heap)
    while heap and heap[0][0] <= state.time_ms:
        expires, tx_id = heapq.heappop(heap)
        if state.seen.get(tx_id) == expires:
            del state.seen[tx_id]


def apply_block(
    state: State,
    txs: Sequence[Tx],
    time_ms: int,
    *,
    verify_signatures: bool = False,
    check: bool = True,
) -> BlockOutcome:
    """Execute one block. ``time_ms`` comes from the ordered log and never goes backwards."""
    if time_ms < state.time_ms:
        raise ValueError("block time goes backwards")
    if len(txs) > limits.block_transactions_max:
        raise ValueError(f"more than block_transactions_max ({limits.block_transactions_max})")
    state.height += 1
    state.time_ms = time_ms
    # The root commits to the records *this* block changed. Marks left by earlier blocks that
    # the store has not taken yet are set aside and restored after, for take_changes().
    carried = _take_marks(state)
    _apply_due_recoveries(state)
    included: list[Tx] = []
    results: list[Result] = []
    dropped: list[tuple[Tx, TxError]] = []
    touched: list[list[str]] = []
    in_block: set[str] = set()
    for tx in txs:
        try:
            admit(state, tx, time_ms, in_block, verify_signatures)
        except TxError as refusal:
            dropped.append((tx, refusal))
            continue
        in_block.add(tx.id)
        included.append(tx)
        touched.append(touched_accounts(state, tx))
        results.append(HANDLERS[tx.type](state, tx))
    for tx in included:
        state.seen[tx.id] = tx.body["expires"]
        heapq.heappush(state.seen_expiries, (tx.body["expires"], tx.id))
    _forget_expired(state)
    if check:
        check_invariants(state)
    state.state_root = next_state_root(state.state_root, state.change_lines())
    state.dirty_accounts |= carried[0]
    state.dirty_memberships |= carried[1]
    state.dirty_currencies |= carried[2]
    return BlockOutcome(state.height, time_ms, included, results, dropped, state.state_root,
                        touched)


# -- invariants --------------------------------------------------------------------------------
def check_membership(m: Membership) -> None:
    if m.nantie < 0:
        raise InvariantBroken(f"negative nantie {m.nantie} on {m.account}/{m.currency}")
    if not m.floor <= 0 <= m.ceiling:
        raise InvariantBroken(f"limits {m.floor}..{m.ceiling} exclude zero on {m.account}")
    if not m.floor <= m.credit <= m.ceiling:
        raise InvariantBroken(
            f"credit {m.credit} outside {m.floor}..{m.ceiling} on {m.account}/{m.currency}"
        )


def check_currency(state: State, code: str) -> None:
    totals, currency = state.totals[code], state.currencies[code]
    if totals.credit != 0:
        raise InvariantBroken(f"mutual credit of {code} sums to {totals.credit}, not 0")
    supply = currency.issued_minor - currency.reconverted_minor
    if totals.nantie != supply:
        raise InvariantBroken(
            f"nantie of {code} sums to {totals.nantie}, issued - reconverted is {supply}"
        )


def check_invariants(state: State) -> None:
    """After a block: every touched membership in bounds, every currency's totals exact."""
    for key in state.dirty_memberships:
        check_membership(state.memberships[key])
    for code in state.currencies:
        check_currency(state, code)


def check_all_invariants(state: State) -> None:
    """Full scan (at load and in ``verify``): recomputes the totals from every balance."""
    sums: dict[str, list[int]] = {code: [0, 0] for code in state.currencies}
    for m in state.memberships.values():
        check_membership(m)
        sums[m.currency][0] += m.nantie
        sums[m.currency][1] += m.credit
    for code, (nantie, credit) in sums.items():
        totals = state.totals[code]
        if (totals.nantie, totals.credit) != (nantie, credit):
            raise InvariantBroken(f"running totals of {code} disagree with the balances")
        check_currency(state, code)
