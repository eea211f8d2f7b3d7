"""What several transaction types share: the authorisation checks and the mutations.

Checks raise ``Refused`` with the result docs/protocol.md gives; the three named sequences of
§7 are ``check_role`` (*R*), ``check_quorum`` (*Q*) and ``target`` (*T*). Mutations are the only
places that change balances, roles and keys, and they mark what they change for the block's
state root. Units call these as ``common.name(...)``, so that one definition is the rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..reasons import Reason
from ..results import Refused
from ..state import Account, Membership, State

if TYPE_CHECKING:
    from ..transactions import Tx


# -- checks ----------------------------------------------------------------------------------------
def owner_signed(state: State, tx: Tx, account_id: str) -> bool:
    owner = state.key_owner.get
    return any(owner(s.key) == account_id for s in tx.signatures)


def member(state: State, account_id: str, code: str) -> Membership | None:
    return state.memberships.get((account_id, code))


def admins_signing(state: State, tx: Tx, code: str) -> set[str]:
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


def check_role(state: State, tx: Tx, by: str, code: str, role: str) -> None:
    """*R(role)*: ``by`` exists, holds ``role`` actively in ``code`` and signed."""
    if code not in state.currencies:
        raise Refused(Reason.UNKNOWN_CURRENCY)
    if by not in state.accounts:
        raise Refused(Reason.UNKNOWN_ACCOUNT, account=by)
    m = member(state, by, code)
    if m is None or role not in m.roles:
        raise Refused(Reason.NOT_AUTHORISED, account=by, role=role)
    if m.status != "active":
        raise Refused(Reason.ACCOUNT_NOT_ACTIVE, account=by)
    if not owner_signed(state, tx, by):
        raise Refused(Reason.NOT_AUTHORISED, account=by)


def check_quorum(state: State, tx: Tx, code: str) -> None:
    """*Q*: at least the currency's ``admin_quorum`` of active admins signed."""
    quorum = state.currencies[code].policy["admin_quorum"]
    have = len(admins_signing(state, tx, code))
    if have < quorum:
        raise Refused(Reason.QUORUM_NOT_MET, have=have, need=quorum)


def target(state: State, account_id: str, code: str) -> Membership:
    """*T(x)*: the membership of ``account_id`` in ``code``."""
    if account_id not in state.accounts:
        raise Refused(Reason.UNKNOWN_ACCOUNT, account=account_id)
    m = member(state, account_id, code)
    if m is None:
        raise Refused(Reason.NOT_MEMBER, account=account_id)
    return m


def owner_action(state: State, tx: Tx) -> Account:
    """The common start of an owner's action on their account: it exists, an owner key signed."""
    account = state.accounts.get(tx.body["account"])
    if account is None:
        raise Refused(Reason.UNKNOWN_ACCOUNT, account=tx.body["account"])
    if not owner_signed(state, tx, account.id):
        raise Refused(Reason.NOT_AUTHORISED)
    return account


def admin_action(state: State, tx: Tx, account_id: str, *, quorum: bool) -> Membership:
    """The common start of an admin's action on a membership: ``by`` is an active admin who
    signed (R), the admin quorum signed when ``quorum`` (Q), the target is a member (T)."""
    code = tx.body["currency"]
    check_role(state, tx, tx.body["by"], code, "admin")
    if quorum:
        check_quorum(state, tx, code)
    return target(state, account_id, code)


def check_policy_accounts(state: State, policy: dict[str, Any]) -> None:
    if policy["association"] not in state.accounts:
        raise Refused(Reason.UNKNOWN_ACCOUNT, account=policy["association"])


def key_in_use(state: State, key: str) -> bool:
    return key in state.key_owner or key in state.delegate_owner


def admin_count(state: State, code: str, without: str = "", with_: str = "") -> int:
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


# -- mutations: the only places that change balances, roles and keys ----------------------------
def move(state: State, m: Membership, nantie: int, credit: int) -> None:
    m.nantie += nantie
    m.credit += credit
    totals = state.totals[m.currency]
    totals.nantie += nantie
    totals.credit += credit
    state.dirty_memberships.add((m.account, m.currency))


def join(state: State, account_id: str, code: str, status: str) -> Membership:
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


def set_roles(state: State, m: Membership, roles: Iterable[str]) -> None:
    for role in m.roles:
        state.role_holders[(m.currency, role)].discard(m.account)
    m.roles = tuple(sorted(set(roles)))
    for role in m.roles:
        state.role_holders.setdefault((m.currency, role), set()).add(m.account)
    state.dirty_memberships.add((m.account, m.currency))


def set_keys(state: State, account: Account, keys: Iterable[str]) -> None:
    for key in account.keys:
        state.key_owner.pop(key, None)
    account.keys = sorted(set(keys))
    for key in account.keys:
        state.key_owner[key] = account.id
    state.dirty_accounts.add(account.id)
