"""Every execution rule of the ledger core, by example: one success and each refusal per type.

A refusal is checked by ``World.refuse``: the transaction is recorded with its reason code, no
record changes, and the block's state root is the previous root chained over *no* changes.
Every world is replayed on a fresh state at teardown: the same blocks give the same roots.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import nacl.signing
import pytest

from lien.ledger import (
    TX_TYPES,
    Account,
    ChainConfig,
    Currency,
    Membership,
    Reason,
    State,
    apply_block,
    check_all_invariants,
    limits,
    sign_body,
)
from lien.ledger.reasons import ADMISSION
from lien.ledger.state import next_state_root
from lien.wallet import Member, TxMaker, entry_for

from ledger_support import CHAIN, CODE, T0, World, member


@pytest.fixture
def w() -> Iterator[World]:
    world = World()
    yield world
    if world.replayable:
        world.replay()


def fresh_key() -> str:
    return bytes(nacl.signing.SigningKey.generate().verify_key).hex()


def second_currency(w: World, code: str = "BIS", **policy: Any) -> None:
    """A second currency run by the same admins, association and comptoir."""
    w.ok(
        w.mk.make(
            [w.governor], "create_currency", code=code,
            policy={**w.policy, "name": code, **policy},
            admins=[a.account for a in w.admins], issuers=[w.comptoir.account],
        )
    )


def opened_without_currency(w: World, kind: str = "personal") -> Member:
    m = w.new_member(kind)
    w.ok(w.mk.open(m, currency=None))
    return m


# ================================================================================================
# open_account
# ================================================================================================
def test_open_account_creates_the_account_and_a_pending_membership(w: World) -> None:
    m = w.new_member("business")
    assert w.ok(w.mk.open(m)).to_json() == {"code": "ok"}
    account = w.state.accounts[m.account]
    assert (account.kind, account.keys, account.delegations) == ("business", [m.public_key], {})
    ms = w.m(m)
    assert (ms.status, ms.roles, ms.nantie, ms.credit) == ("pending", (), 0, 0)
    assert (ms.floor, ms.ceiling) == (
        w.policy["credit_floor_default_minor"], w.policy["credit_ceiling_default_minor"],
    )


def test_open_account_without_currency_has_no_membership(w: World) -> None:
    m = opened_without_currency(w)
    assert m.account in w.state.accounts
    assert (m.account, CODE) not in w.state.memberships


def test_open_account_refuses_an_id_not_derived_from_the_key(w: World) -> None:
    m, other = w.new_member(), w.new_member()
    tx = w.mk.make([m], "open_account", account=other.account, key=m.public_key,
                   kind="personal")
    assert w.refuse(tx, Reason.ACCOUNT_ID_MISMATCH).value("expected") == m.account


def test_open_account_must_be_signed_by_the_opening_key(w: World) -> None:
    m, other = w.new_member(), w.new_member()
    tx = w.mk.make([other], "open_account", account=m.account, key=m.public_key,
                   kind="personal")
    w.refuse(tx, Reason.NOT_AUTHORISED)


def test_open_account_twice_is_refused(w: World) -> None:
    m = w.join()
    w.refuse(w.mk.open(m), Reason.ACCOUNT_EXISTS)


def test_open_account_with_a_key_an_account_owns_is_refused(w: World) -> None:
    a, k = w.join(), w.new_member()
    w.ok(w.mk.make([a], "rotate_key", account=a.account, add=[k.public_key], remove=[]))
    w.refuse(w.mk.open(k), Reason.KEY_IN_USE)


def test_open_account_with_a_delegated_key_is_refused(w: World) -> None:
    shop, till = w.join("business"), w.new_member()
    w.ok(w.mk.make([shop], "delegate", account=shop.account, currency=CODE,
                   key=till.public_key, cap_per_payment_minor=100, cap_total_minor=1000))
    w.refuse(w.mk.open(till), Reason.KEY_IN_USE)


def test_open_account_in_an_unknown_currency_is_refused(w: World) -> None:
    m = w.new_member()
    w.refuse(w.mk.open(m, currency="NOPE"), Reason.UNKNOWN_CURRENCY)
    assert m.account not in w.state.accounts


# ================================================================================================
# join_currency
# ================================================================================================
def test_join_currency_adds_a_pending_membership(w: World) -> None:
    second_currency(w, credit_floor_default_minor=-7, credit_ceiling_default_minor=9)
    m = w.join()
    w.ok(w.mk.make([m], "join_currency", account=m.account, currency="BIS"))
    ms = w.m(m, "BIS")
    assert (ms.status, ms.nantie, ms.credit, ms.floor, ms.ceiling) == ("pending", 0, 0, -7, 9)


def test_join_currency_refusals(w: World) -> None:
    second_currency(w)
    m, stranger = w.join(), w.new_member()
    w.refuse(w.mk.make([stranger], "join_currency", account=stranger.account, currency="BIS"),
             Reason.UNKNOWN_ACCOUNT)
    w.refuse(w.mk.make([stranger], "join_currency", account=m.account, currency="BIS"),
             Reason.NOT_AUTHORISED)
    w.refuse(w.mk.make([m], "join_currency", account=m.account, currency="NOPE"),
             Reason.UNKNOWN_CURRENCY)
    w.refuse(w.mk.make([m], "join_currency", account=m.account, currency=CODE),
             Reason.ALREADY_MEMBER)


# ================================================================================================
# The checks shared by every admin (or issuer) action
# ================================================================================================
#: type -> (role that may act, needs the admin quorum, fields naming the target)
GATED: dict[str, tuple[str, bool, Callable[[Member], dict[str, Any]]]] = {
    "set_status": ("admin", False, lambda t: {"account": t.account, "status": "locked"}),
    "set_roles": ("admin", True, lambda t: {"account": t.account, "roles": ["issuer"]}),
    "set_limits": ("admin", False,
                   lambda t: {"account": t.account, "floor": -1000, "ceiling": 1000}),
    "recover_key": ("admin", True, lambda t: {"account": t.account, "key": fresh_key()}),
    "issue": ("issuer", False,
              lambda t: {"to": t.account, "amount": 100, "deposit_ref": "dépôt 1"}),
    "set_policy": ("admin", True, lambda t: {}),
}


def gated(w: World, kind: str, by: Member, signers: list[Member], target: Member,
          code: str = CODE) -> Any:
    fields = GATED[kind][2](target)
    if kind == "set_policy":
        fields["policy"] = dict(w.policy)
    return w.mk.make(signers, kind, by=by.account, currency=code, **fields)


def actor(w: World, kind: str) -> tuple[Member, list[Member]]:
    """Who acts, and a set of signatures that satisfies every check."""
    if GATED[kind][0] == "issuer":
        return w.comptoir, [w.comptoir]
    return w.admins[0], list(w.admins) if GATED[kind][1] else [w.admins[0]]


@pytest.mark.parametrize("kind", GATED)
def test_gated_action_succeeds_with_the_right_signatures(w: World, kind: str) -> None:
    target = w.join()
    by, signers = actor(w, kind)
    w.ok(gated(w, kind, by, signers, target))


@pytest.mark.parametrize("kind", GATED)
def test_gated_action_in_an_unknown_currency(w: World, kind: str) -> None:
    target = w.join()
    by, signers = actor(w, kind)
    w.refuse(gated(w, kind, by, signers, target, code="NOPE"), Reason.UNKNOWN_CURRENCY)


@pytest.mark.parametrize("kind", GATED)
def test_gated_action_by_an_unknown_account(w: World, kind: str) -> None:
    target, stranger = w.join(), w.new_member()
    w.refuse(gated(w, kind, stranger, [stranger], target), Reason.UNKNOWN_ACCOUNT)


@pytest.mark.parametrize("kind", GATED)
def test_gated_action_by_an_account_without_the_role(w: World, kind: str) -> None:
    target, someone = w.join(), w.join()
    w.refuse(gated(w, kind, someone, [someone], target), Reason.NOT_AUTHORISED)


@pytest.mark.parametrize("kind", GATED)
def test_gated_action_not_signed_by_the_acting_account(w: World, kind: str) -> None:
    target = w.join()
    by, signers = actor(w, kind)
    others = [a for a in w.admins if a != by] + [w.join()]
    w.refuse(gated(w, kind, by, others, target), Reason.NOT_AUTHORISED)


@pytest.mark.parametrize("kind", GATED)
def test_gated_action_by_a_locked_role_holder(kind: str) -> None:
    w = World(admin_count=3)  # two admins stay active: a quorum remains to unlock the third
    target = w.join()
    by, signers = actor(w, kind)
    _, admin1, admin2 = w.admins
    w.ok(w.set_status(by, "locked", by=admin1, cosigners=[admin2]))
    if admin1 not in signers:
        signers = [*signers, admin1]
    w.refuse(gated(w, kind, by, signers, target), Reason.ACCOUNT_NOT_ACTIVE)
    w.ok(w.set_status(by, "active", by=admin1, cosigners=[admin2]))
    w.ok(gated(w, kind, by, signers, target))
    w.replay()


@pytest.mark.parametrize("kind", [k for k in GATED if k != "set_policy"])
def test_gated_action_on_an_unknown_account(w: World, kind: str) -> None:
    by, signers = actor(w, kind)
    assert w.refuse(gated(w, kind, by, signers, w.new_member()),
                    Reason.UNKNOWN_ACCOUNT).value("account") != by.account


@pytest.mark.parametrize("kind", [k for k in GATED if k != "set_policy"])
def test_gated_action_on_an_account_outside_the_currency(w: World, kind: str) -> None:
    by, signers = actor(w, kind)
    w.refuse(gated(w, kind, by, signers, opened_without_currency(w)), Reason.NOT_MEMBER)


@pytest.mark.parametrize("kind", [k for k, (_, quorum, _) in GATED.items() if quorum])
def test_quorum_actions_need_m_of_n_active_admins(kind: str) -> None:
    w = World(admin_count=3)
    target = w.join()
    admin0, admin1, admin2 = w.admins
    result = w.refuse(gated(w, kind, admin0, [admin0], target), Reason.QUORUM_NOT_MET)
    assert (result.value("have"), result.value("need")) == (1, 2)
    # Neither a non-admin's signature, nor a locked admin's, counts towards the quorum.
    w.refuse(gated(w, kind, admin0, [admin0, w.comptoir, target], target), Reason.QUORUM_NOT_MET)
    w.ok(w.set_status(admin2, "locked", cosigners=[admin1]))
    result = w.refuse(gated(w, kind, admin0, [admin0, admin2], target), Reason.QUORUM_NOT_MET)
    assert result.value("have") == 1
    w.ok(gated(w, kind, admin0, [admin0, admin1], target))
    w.ok(w.set_status(admin2, "active", cosigners=[admin1]))
    w.ok(gated(w, kind, admin2, [admin2, admin0], target))
    w.replay()


# ================================================================================================
# set_status
# ================================================================================================
ALLOWED = {
    ("pending", "active"), ("pending", "closed"),
    ("active", "locked"), ("active", "closed"),
    ("locked", "active"), ("locked", "closed"),
}
STATUSES = ("pending", "active", "locked", "closed")


def member_with_status(w: World, status: str) -> Member:
    m = w.join(active=False)
    path = {"pending": [], "active": ["active"], "locked": ["active", "locked"],
            "closed": ["closed"]}[status]
    for step in path:
        w.ok(w.set_status(m, step))
    assert w.m(m).status == status
    return m


@pytest.mark.parametrize("old", STATUSES)
@pytest.mark.parametrize("new", STATUSES)
def test_status_transitions(w: World, old: str, new: str) -> None:
    m = member_with_status(w, old)
    if (old, new) in ALLOWED:
        w.ok(w.set_status(m, new))
        assert w.m(m).status == new
    else:
        w.refuse(w.set_status(m, new), Reason.INVALID_TRANSITION)


def test_a_locked_account_neither_pays_nor_is_paid_until_unlocked(w: World) -> None:
    a, b = w.join(nantie=1000), w.join()
    w.ok(w.set_status(a, "locked"))
    w.refuse(w.mk.pay(a, b, 100), Reason.ACCOUNT_NOT_ACTIVE)
    w.refuse(w.mk.pay(b, a, 100), Reason.PAYEE_NOT_ACTIVE)
    w.ok(w.set_status(a, "active"))
    w.pay(a, b, 100)
    assert w.balance(b) == (100, 0)


def test_close_needs_zero_balances_in_both_units(w: World) -> None:
    rich, poor, other = w.join(nantie=500), w.join(), w.join()
    w.refuse(w.set_status(rich, "closed"), Reason.BALANCE_NOT_ZERO)
    w.pay(poor, other, 300)  # poor now owes 300 of mutual credit
    w.refuse(w.set_status(poor, "closed"), Reason.BALANCE_NOT_ZERO)
    w.refuse(w.set_status(other, "closed"), Reason.BALANCE_NOT_ZERO)  # +300 credit
    w.pay(other, poor, 300)
    w.ok(w.set_status(poor, "closed"))
    w.ok(w.set_status(other, "closed"))


def test_locking_or_closing_a_role_holder_needs_the_admin_quorum(w: World) -> None:
    admin1 = w.admins[1]
    for target in (admin1, w.comptoir):
        for status in ("locked", "closed"):
            w.refuse(w.set_status(target, status), Reason.QUORUM_NOT_MET)
    w.ok(w.set_status(w.comptoir, "locked", cosigners=[admin1]))
    w.refuse(w.set_status(w.comptoir, "active"), Reason.QUORUM_NOT_MET)
    w.ok(w.set_status(w.comptoir, "active", cosigners=[admin1]))


def test_locking_an_admin_below_the_quorum_is_refused() -> None:
    # Unlocking an admin takes a quorum of *active* admins: locking one too many would leave
    # the currency without governance for ever.
    w = World()
    w.refuse(w.set_status(w.admins[1], "locked", cosigners=[w.admins[1]]),
             Reason.QUORUM_IMPOSSIBLE)
    w.replay()
    three = World(admin_count=3)
    a0, a1, a2 = three.admins
    three.ok(three.set_status(a2, "locked", cosigners=[a1]))
    three.refuse(three.set_status(a1, "locked", cosigners=[a1]), Reason.QUORUM_IMPOSSIBLE)
    # while a2 is locked, neither withdrawing a1's role nor raising the quorum is possible
    three.refuse(three.mk.make([a0, a1], "set_roles", by=a0.account, currency=CODE,
                               account=a1.account, roles=["issuer"]), Reason.QUORUM_IMPOSSIBLE)
    three.refuse(three.mk.make([a0, a1], "set_policy", by=a0.account, currency=CODE,
                               policy={**three.policy, "admin_quorum": 3}),
                 Reason.QUORUM_IMPOSSIBLE)
    # but a1 may keep its role, and a2 may leave altogether
    three.ok(three.mk.make([a0, a1], "set_roles", by=a0.account, currency=CODE,
                           account=a1.account, roles=["admin", "issuer"]))
    three.ok(three.set_status(a2, "closed", cosigners=[a1]))
    three.replay()


def test_closing_an_admin_below_the_quorum_is_refused() -> None:
    w = World()
    admin1 = w.admins[1]
    w.refuse(w.set_status(admin1, "closed", cosigners=[admin1]), Reason.QUORUM_IMPOSSIBLE)
    w.replay()
    three = World(admin_count=3)
    a0, a1, a2 = three.admins
    three.ok(three.set_status(a2, "closed", cosigners=[a1]))
    # a closed admin keeps its role on record but can never sign again: it does not count
    three.refuse(three.set_status(a1, "closed", cosigners=[a1]), Reason.QUORUM_IMPOSSIBLE)
    three.refuse(three.mk.make([a0, a1], "set_roles", by=a0.account, currency=CODE,
                               account=a1.account, roles=[]), Reason.QUORUM_IMPOSSIBLE)
    three.refuse(three.mk.make([a0, a1], "set_policy", by=a0.account, currency=CODE,
                               policy={**three.policy, "admin_quorum": 3}),
                 Reason.QUORUM_IMPOSSIBLE)
    three.ok(three.mk.make([a0, a1], "set_policy", by=a0.account, currency=CODE,
                           policy={**three.policy, "admin_quorum": 1}))
    three.replay()


# ================================================================================================
# set_roles
# ================================================================================================
def test_set_roles_grants_and_withdraws_a_role(w: World) -> None:
    m, payee = w.join(), w.join()
    w.ok(w.mk.make(w.admins, "set_roles", by=w.admins[0].account, currency=CODE,
                   account=m.account, roles=["issuer"]))
    assert w.m(m).roles == ("issuer",)
    w.ok(w.mk.issue([m], payee, 700))
    assert w.balance(payee) == (700, 0)
    w.ok(w.mk.make(w.admins, "set_roles", by=w.admins[0].account, currency=CODE,
                   account=m.account, roles=[]))
    w.refuse(w.mk.issue([m], payee, 700), Reason.NOT_AUTHORISED)


def test_a_new_admin_counts_towards_the_quorum(w: World) -> None:
    m = w.join()
    w.ok(w.mk.make(w.admins, "set_roles", by=w.admins[0].account, currency=CODE,
                   account=m.account, roles=["admin", "issuer"]))
    assert w.m(m).roles == ("admin", "issuer")
    # now admin 1 can leave: two admins remain for a quorum of two
    w.ok(w.mk.make([w.admins[0], m], "set_roles", by=m.account, currency=CODE,
                   account=w.admins[1].account, roles=[]))


def test_set_roles_on_a_closed_account_is_refused(w: World) -> None:
    m = member_with_status(w, "closed")
    w.refuse(w.mk.make(w.admins, "set_roles", by=w.admins[0].account, currency=CODE,
                       account=m.account, roles=["issuer"]), Reason.ACCOUNT_NOT_ACTIVE)


def test_withdrawing_an_admin_below_the_quorum_is_refused(w: World) -> None:
    w.refuse(w.mk.make(w.admins, "set_roles", by=w.admins[0].account, currency=CODE,
                       account=w.admins[1].account, roles=["issuer"]), Reason.QUORUM_IMPOSSIBLE)


# ================================================================================================
# set_limits
# ================================================================================================
def limits_tx(w: World, target: Member, floor: int, ceiling: int,
              signers: list[Member] | None = None) -> Any:
    signers = signers or [w.admins[0]]
    return w.mk.make(signers, "set_limits", by=signers[0].account, currency=CODE,
                     account=target.account, floor=floor, ceiling=ceiling)


def test_narrowing_limits_takes_one_admin_and_binds_payments(w: World) -> None:
    a, b = w.join(), w.join()
    w.ok(limits_tx(w, a, -500, 1000))
    assert (w.m(a).floor, w.m(a).ceiling) == (-500, 1000)
    w.refuse(w.mk.pay(a, b, 501), Reason.INSUFFICIENT_FUNDS)
    w.pay(a, b, 500)
    assert w.balance(a) == (0, -500)


def test_raising_a_limit_up_to_the_threshold_takes_one_admin(w: World) -> None:
    a, b = w.join(), w.join()
    threshold = w.policy["limit_quorum_above_minor"]
    assert w.m(a).ceiling > threshold  # an untouched ceiling above it does not matter
    w.ok(limits_tx(w, a, -threshold, w.m(a).ceiling))
    w.pay(a, b, threshold)
    assert w.balance(a) == (0, -threshold)


def test_raising_the_floor_above_the_threshold_needs_the_quorum(w: World) -> None:
    a = w.join()
    over = -w.policy["limit_quorum_above_minor"] - 1
    ceiling = w.m(a).ceiling
    result = w.refuse(limits_tx(w, a, over, ceiling), Reason.QUORUM_NOT_MET)
    assert (result.value("have"), result.value("need")) == (1, 2)
    w.ok(limits_tx(w, a, over, ceiling, signers=w.admins))
    assert w.m(a).floor == over


def test_raising_the_ceiling_above_the_threshold_needs_the_quorum(w: World) -> None:
    a = w.join()
    floor, ceiling = w.m(a).floor, w.m(a).ceiling
    w.refuse(limits_tx(w, a, floor, ceiling + 1), Reason.QUORUM_NOT_MET)
    w.ok(limits_tx(w, a, floor, ceiling + 1, signers=w.admins))
    assert w.m(a).ceiling == ceiling + 1
    # lowering it again, even far above the threshold, takes one admin
    w.ok(limits_tx(w, a, floor, ceiling))


def test_limits_that_exclude_the_balance_are_refused(w: World) -> None:
    a, b = w.join(), w.join()
    w.pay(a, b, 3000)
    assert (w.refuse(limits_tx(w, a, -2999, 0), Reason.LIMITS_EXCLUDE_BALANCE).value("credit")
            == -3000)
    w.refuse(limits_tx(w, b, -100, 2999), Reason.LIMITS_EXCLUDE_BALANCE)
    w.ok(limits_tx(w, a, -3000, 0))
    w.ok(limits_tx(w, b, 0, 3000))


# ================================================================================================
# issue
# ================================================================================================
def test_issue_creates_nantie_and_supply(w: World) -> None:
    m = w.join()
    w.ok(w.mk.issue([w.comptoir], m, 12_345))
    assert w.balance(m) == (12_345, 0)
    currency = w.state.currencies[CODE]
    assert (currency.issued_minor, currency.reconverted_minor) == (12_345, 0)
    assert w.supply() == w.total_nantie() == 12_345


def test_issue_above_the_threshold_needs_the_admin_quorum(w: World) -> None:
    m = w.join()
    threshold = w.policy["issue_quorum_above_minor"]
    w.ok(w.mk.issue([w.comptoir], m, threshold))
    result = w.refuse(w.mk.issue([w.comptoir], m, threshold + 1), Reason.QUORUM_NOT_MET)
    assert (result.value("have"), result.value("need")) == (0, 2)
    w.refuse(w.mk.issue([w.comptoir, w.admins[0]], m, threshold + 1), Reason.QUORUM_NOT_MET)
    w.ok(w.mk.issue([w.comptoir, *w.admins], m, threshold + 1))
    assert w.balance(m) == (2 * threshold + 1, 0)


def test_issue_to_an_account_that_is_not_active_is_refused(w: World) -> None:
    pending = w.join(active=False)
    w.refuse(w.mk.issue([w.comptoir], pending, 100), Reason.PAYEE_NOT_ACTIVE)
    locked = member_with_status(w, "locked")
    w.refuse(w.mk.issue([w.comptoir], locked, 100), Reason.PAYEE_NOT_ACTIVE)


def test_issue_stops_at_the_supply_limit(w: World) -> None:
    holder, m = w.join("business"), w.join()
    near = limits.supply_minor_max - 5

    def edit(_: list[Account], memberships: list[Membership], currencies: list[Currency]) -> None:
        [currency] = currencies
        currency.issued_minor += near
        next(x for x in memberships if x.account == holder.account).nantie += near

    w.reload(edit)
    w.refuse(w.mk.issue([w.comptoir], m, 6), Reason.SUPPLY_LIMIT)
    w.ok(w.mk.issue([w.comptoir], m, 5))
    assert w.supply() == limits.supply_minor_max
    w.refuse(w.mk.issue([w.comptoir], m, 1), Reason.SUPPLY_LIMIT)
    # a reconversion makes room again, as much as leaves the association's hands
    assert w.ok(reconvert_tx(w, holder, 1_000)).value("paid_out") == 950
    w.refuse(w.mk.issue([w.comptoir], m, 951), Reason.SUPPLY_LIMIT)
    w.ok(w.mk.issue([w.comptoir], m, 950))
    assert w.supply() == w.total_nantie() == limits.supply_minor_max


# ================================================================================================
# reconvert
# ================================================================================================
def reconvert_tx(w: World, who: Member, amount: int, signer: Member | None = None,
                 code: str = CODE) -> Any:
    return w.mk.make([signer or who], "reconvert", account=who.account, currency=code,
                     amount=amount, payout_ref="virement 1")


def test_reconvert_pays_the_fee_to_the_association(w: World) -> None:
    shop = w.join("business", nantie=100_000)
    bp = w.policy["reconversion_fee_bp"]
    assert bp == 500
    result = w.ok(reconvert_tx(w, shop, 10_000))
    assert result.to_json() == {"code": "ok", "fee": 500, "paid_out": 9_500}
    assert w.balance(shop) == (90_000, 0)
    assert w.balance(w.association) == (500, 0)
    currency = w.state.currencies[CODE]
    assert (currency.issued_minor, currency.reconverted_minor) == (100_000, 9_500)
    assert w.supply() == w.total_nantie() == 90_500


@pytest.mark.parametrize(
    ("amount", "fee"), [(1, 0), (19, 0), (20, 1), (199, 9), (200, 10), (10_001, 500)]
)
def test_reconversion_fee_rounds_down(w: World, amount: int, fee: int) -> None:
    assert amount * w.policy["reconversion_fee_bp"] // 10_000 == fee
    shop = w.join("business", nantie=20_000)
    assert w.ok(reconvert_tx(w, shop, amount)).value("fee") == fee
    assert w.balance(w.association) == (fee, 0)
    assert w.supply() == w.total_nantie() == 20_000 - amount + fee


@pytest.mark.parametrize(("bp", "fee"), [(0, 0), (10_000, 1234)])
def test_reconversion_fee_at_its_bounds(bp: int, fee: int) -> None:
    w = World(policy={"reconversion_fee_bp": bp})
    shop = w.join("business", nantie=1234)
    assert w.ok(reconvert_tx(w, shop, 1234)).to_json() == {
        "code": "ok", "fee": fee, "paid_out": 1234 - fee}
    assert w.balance(shop) == (0, 0)
    assert w.supply() == w.total_nantie() == fee
    w.replay()


def test_the_association_pays_no_fee_to_itself(w: World) -> None:
    shop = w.join("business", nantie=10_000)
    w.ok(w.mk.make(w.admins, "set_policy", by=w.admins[0].account, currency=CODE,
                   policy={**w.policy, "association": shop.account}))
    assert w.ok(reconvert_tx(w, shop, 4_000)).to_json() == {
        "code": "ok", "fee": 0, "paid_out": 4_000}
    assert w.balance(shop) == (6_000, 0)
    assert w.supply() == w.total_nantie() == 6_000


def test_supply_is_issued_minus_reconverted_through_a_day_of_trade(w: World) -> None:
    shop, cafe = w.join("business", nantie=50_000), w.join("business")
    alice, bob = w.join(nantie=30_000), w.join()
    w.pay(alice, cafe, 12_000)
    w.pay(bob, cafe, 4_000)
    w.pay(shop, cafe, 60_000)  # 50 000 nantie then 10 000 of credit
    w.ok(reconvert_tx(w, cafe, 60_000))
    w.issue(bob, 1_000)
    currency = w.state.currencies[CODE]
    assert currency.issued_minor == 81_000
    assert currency.reconverted_minor == 57_000  # 60 000 less the 3 000 fee
    assert w.supply() == w.total_nantie() == 24_000
    assert w.total_credit() == 0
    assert w.balance(cafe) == (2_000, 14_000)


def test_reconvert_refusals(w: World) -> None:
    shop, person = w.join("business", nantie=1_000), w.join(nantie=1_000)
    w.refuse(reconvert_tx(w, shop, 100, code="NOPE"), Reason.UNKNOWN_CURRENCY)
    stranger = w.new_member("business")
    w.refuse(reconvert_tx(w, stranger, 100), Reason.UNKNOWN_ACCOUNT)
    w.refuse(reconvert_tx(w, opened_without_currency(w, "business"), 100), Reason.NOT_MEMBER)
    assert w.refuse(reconvert_tx(w, person, 100), Reason.WRONG_KIND)
    w.refuse(reconvert_tx(w, w.association, 1), Reason.WRONG_KIND)
    w.refuse(reconvert_tx(w, shop, 100, signer=person), Reason.NOT_AUTHORISED)
    assert (w.refuse(reconvert_tx(w, shop, 1_001), Reason.INSUFFICIENT_FUNDS).value("available")
            == 1_000)
    w.ok(w.set_status(shop, "locked"))
    w.refuse(reconvert_tx(w, shop, 100), Reason.ACCOUNT_NOT_ACTIVE)


def test_credit_is_not_reconvertible(w: World) -> None:
    shop, client = w.join("business"), w.join()
    w.pay(client, shop, 5_000)
    assert w.balance(shop) == (0, 5_000)
    w.refuse(reconvert_tx(w, shop, 1), Reason.INSUFFICIENT_FUNDS)


# ================================================================================================
# transfer
# ================================================================================================
def with_credit(w: World, who: Member, credit: int) -> None:
    """Give ``who`` a positive mutual-credit balance, paid by a new member."""
    w.pay(w.join(), who, credit)


def test_default_split_positive_credit_first(w: World) -> None:
    a, b = w.join(nantie=5_000), w.join()
    with_credit(w, a, 3_000)
    assert w.pay(a, b, 2_000).to_json() == {"code": "ok", "nantie": 0, "credit": 2_000}
    assert w.balance(a) == (5_000, 1_000)
    assert w.balance(b) == (0, 2_000)


def test_default_split_then_nantie(w: World) -> None:
    a, b = w.join(nantie=5_000), w.join()
    with_credit(w, a, 3_000)
    assert w.pay(a, b, 4_000).to_json() == {"code": "ok", "nantie": 1_000, "credit": 3_000}
    assert w.balance(a) == (4_000, 0)
    assert w.balance(b) == (1_000, 3_000)


def test_default_split_then_credit_down_to_the_floor(w: World) -> None:
    a, b = w.join(nantie=5_000), w.join()
    with_credit(w, a, 3_000)
    floor = w.m(a).floor
    everything = 3_000 + 5_000 - floor
    w.refuse(w.mk.pay(a, b, everything + 1), Reason.INSUFFICIENT_FUNDS)
    assert w.pay(a, b, everything).to_json() == {
        "code": "ok", "nantie": 5_000, "credit": 3_000 - floor}
    assert w.balance(a) == (0, floor)
    assert w.balance(b) == (5_000, 3_000 - floor)
    w.refuse(w.mk.pay(a, b, 1), Reason.INSUFFICIENT_FUNDS)


def test_default_split_with_only_nantie(w: World) -> None:
    a, b = w.join(nantie=5_000), w.join()
    assert w.pay(a, b, 5_000).to_json() == {"code": "ok", "nantie": 5_000, "credit": 0}
    assert w.balance(a) == (0, 0)


def test_explicit_split(w: World) -> None:
    a, b = w.join(nantie=5_000), w.join()
    with_credit(w, a, 3_000)
    # all in nantie although a holds positive credit
    assert w.pay(a, b, 2_000, nantie=2_000).to_json() == {
        "code": "ok", "nantie": 2_000, "credit": 0}
    # all in credit although a holds nantie
    assert w.pay(a, b, 4_000, nantie=0).to_json() == {"code": "ok", "nantie": 0, "credit": 4_000}
    assert w.pay(a, b, 1_000, nantie=600).to_json() == {"code": "ok", "nantie": 600, "credit": 400}
    assert w.balance(a) == (2_400, -1_400)
    assert w.balance(b) == (2_600, 4_400)


def test_explicit_split_refusals(w: World) -> None:
    a, b = w.join(nantie=5_000), w.join()
    floor = w.m(a).floor
    assert w.refuse(w.mk.pay(a, b, 5_001, nantie=5_001),
                    Reason.INSUFFICIENT_FUNDS).value("available") == 5_000
    w.refuse(w.mk.pay(a, b, -floor + 1, nantie=0), Reason.BELOW_FLOOR)
    # the same amount fits with the default split, which takes the nantie first
    assert w.pay(a, b, -floor + 1).to_json() == {
        "code": "ok", "nantie": 5_000, "credit": -floor - 4_999}


def test_the_payee_ceiling_bounds_credit_not_nantie(w: World) -> None:
    a, b = w.join(nantie=10_000), w.join()
    w.ok(limits_tx(w, b, w.m(b).floor, 1_000))
    w.refuse(w.mk.pay(a, b, 1_001, nantie=0), Reason.ABOVE_CEILING)
    w.pay(a, b, 1_000, nantie=0)
    w.refuse(w.mk.pay(a, b, 1, nantie=0), Reason.ABOVE_CEILING)
    w.pay(a, b, 5_000, nantie=5_000)
    assert w.balance(b) == (5_000, 1_000)


def test_transfer_with_memo_reference_and_invoice(w: World) -> None:
    a, b = w.join(nantie=5_000), w.join()
    w.pay(a, b, 1_250, memo="pain et café ☕", reference="facture 12", invoice_minor=1_250)
    assert w.balance(b) == (1_250, 0)


def test_transfer_refusals(w: World) -> None:
    second_currency(w)
    a, b = w.join(nantie=5_000), w.join()
    outsider, stranger = opened_without_currency(w), w.new_member()
    w.refuse(w.mk.pay(a, b, 100, currency="NOPE"), Reason.UNKNOWN_CURRENCY)
    w.refuse(w.mk.pay(a, a, 100), Reason.SAME_ACCOUNT)
    w.refuse(w.mk.pay(stranger, b, 100), Reason.UNKNOWN_ACCOUNT)
    assert w.refuse(w.mk.pay(a, stranger, 100),
                    Reason.UNKNOWN_ACCOUNT).value("account") == stranger.account
    w.refuse(w.mk.pay(outsider, b, 100), Reason.NOT_MEMBER)
    assert (w.refuse(w.mk.pay(a, outsider, 100), Reason.NOT_MEMBER).value("account")
            == outsider.account)
    w.refuse(w.mk.pay(a, b, 100, currency="BIS"), Reason.NOT_MEMBER)
    w.refuse(w.mk.make([b], "transfer", **{"from": a.account}, to=b.account, currency=CODE,
                       amount=100), Reason.NOT_AUTHORISED)


def test_a_pending_account_cannot_pay_or_be_paid(w: World) -> None:
    a, pending = w.join(nantie=5_000), w.join(active=False)
    w.refuse(w.mk.pay(pending, a, 100), Reason.ACCOUNT_NOT_ACTIVE)
    assert w.refuse(w.mk.pay(a, pending, 100),
                    Reason.PAYEE_NOT_ACTIVE).value("account") == pending.account
    closed = member_with_status(w, "closed")
    w.refuse(w.mk.pay(a, closed, 100), Reason.PAYEE_NOT_ACTIVE)
    w.refuse(w.mk.pay(closed, a, 100), Reason.ACCOUNT_NOT_ACTIVE)


# ================================================================================================
# delegate, revoke_delegation, and payments by a till
# ================================================================================================
def delegate_tx(w: World, shop: Member, till: Member | str, per: int, total: int,
                code: str = CODE, signer: Member | None = None) -> Any:
    key = till if isinstance(till, str) else till.public_key
    return w.mk.make([signer or shop], "delegate", account=shop.account, currency=code, key=key,
                     cap_per_payment_minor=per, cap_total_minor=total)


def till_pays(w: World, shop: Member, till: Member, to: Member, amount: int,
              code: str = CODE) -> Any:
    return w.mk.make([till], "transfer", **{"from": shop.account}, to=to.account,
                     currency=code, amount=amount)


def test_a_till_pays_within_its_caps(w: World) -> None:
    shop, supplier, till = w.join("business", nantie=10_000), w.join("business"), w.new_member()
    w.ok(delegate_tx(w, shop, till, per=1_000, total=2_500))
    d = w.state.accounts[shop.account].delegations[till.public_key]
    assert (d.currency, d.cap_per_payment_minor, d.cap_total_minor, d.spent_minor) == (
        CODE, 1_000, 2_500, 0)
    w.refuse(till_pays(w, shop, till, supplier, 1_001), Reason.DELEGATION_CAP)
    w.ok(till_pays(w, shop, till, supplier, 1_000))
    w.ok(till_pays(w, shop, till, supplier, 1_000))
    w.refuse(till_pays(w, shop, till, supplier, 501), Reason.DELEGATION_CAP)
    w.ok(till_pays(w, shop, till, supplier, 500))
    assert d.spent_minor == 2_500
    assert w.balance(supplier) == (2_500, 0)
    w.refuse(till_pays(w, shop, till, supplier, 1), Reason.DELEGATION_CAP)
    # the owner is not bound by the till's caps
    w.pay(shop, supplier, 5_000)


def test_a_refused_till_payment_does_not_use_the_cap(w: World) -> None:
    shop, supplier, till = w.join("business"), w.join("business"), w.new_member()
    w.ok(limits_tx(w, shop, -100, w.m(shop).ceiling))
    w.ok(delegate_tx(w, shop, till, per=1_000, total=1_000))
    w.refuse(till_pays(w, shop, till, supplier, 1_000), Reason.INSUFFICIENT_FUNDS)
    assert w.state.accounts[shop.account].delegations[till.public_key].spent_minor == 0


def test_a_till_acts_only_for_payments_in_its_currency(w: World) -> None:
    second_currency(w)
    shop, supplier, till = w.join("business", nantie=1_000), w.join("business"), w.new_member()
    for m in (shop, supplier):
        w.ok(w.mk.make([m], "join_currency", account=m.account, currency="BIS"))
        w.ok(w.mk.make([w.admins[0]], "set_status", by=w.admins[0].account, currency="BIS",
                       account=m.account, status="active"))
    w.ok(delegate_tx(w, shop, till, per=1_000, total=1_000, code="BIS"))
    w.refuse(till_pays(w, shop, till, supplier, 10), Reason.NOT_AUTHORISED)
    w.ok(till_pays(w, shop, till, supplier, 10, code="BIS"))
    # nor may it sign anything else for the shop
    w.refuse(reconvert_tx(w, shop, 10, signer=till), Reason.NOT_AUTHORISED)
    w.refuse(w.mk.make([till], "rotate_key", account=shop.account, add=[till.public_key],
                       remove=[]), Reason.NOT_AUTHORISED)
    w.refuse(delegate_tx(w, shop, w.new_member(), per=1, total=1, signer=till),
             Reason.NOT_AUTHORISED)


def test_redelegating_changes_caps_and_keeps_what_was_spent(w: World) -> None:
    shop, supplier, till = w.join("business", nantie=5_000), w.join("business"), w.new_member()
    w.ok(delegate_tx(w, shop, till, per=1_000, total=1_000))
    w.ok(till_pays(w, shop, till, supplier, 800))
    w.ok(delegate_tx(w, shop, till, per=2_000, total=3_000))
    d = w.state.accounts[shop.account].delegations[till.public_key]
    assert (d.cap_per_payment_minor, d.cap_total_minor, d.spent_minor) == (2_000, 3_000, 800)
    w.refuse(till_pays(w, shop, till, supplier, 2_001), Reason.DELEGATION_CAP)
    w.ok(till_pays(w, shop, till, supplier, 2_000))
    w.refuse(till_pays(w, shop, till, supplier, 201), Reason.DELEGATION_CAP)
    w.ok(till_pays(w, shop, till, supplier, 200))
    assert d.spent_minor == 3_000


def test_moving_a_till_to_another_currency_starts_its_total_anew(w: World) -> None:
    second_currency(w)
    shop, till = w.join("business", nantie=5_000), w.new_member()
    w.ok(w.mk.make([shop], "join_currency", account=shop.account, currency="BIS"))
    w.ok(delegate_tx(w, shop, till, per=1_000, total=1_000))
    w.ok(till_pays(w, shop, till, w.join(), 1_000))
    w.ok(delegate_tx(w, shop, till, per=1_000, total=1_000, code="BIS"))
    d = w.state.accounts[shop.account].delegations[till.public_key]
    assert (d.currency, d.spent_minor) == ("BIS", 0)


def test_a_revoked_till_can_no_longer_pay(w: World) -> None:
    shop, supplier, till = w.join("business", nantie=5_000), w.join("business"), w.new_member()
    w.ok(delegate_tx(w, shop, till, per=1_000, total=5_000))
    w.ok(w.mk.make([shop], "revoke_delegation", account=shop.account, key=till.public_key))
    assert w.state.accounts[shop.account].delegations == {}
    w.refuse(till_pays(w, shop, till, supplier, 10), Reason.NOT_AUTHORISED)
    # the key is free again: it may open its own account
    w.ok(w.mk.open(till))


def test_delegate_refusals(w: World) -> None:
    second_currency(w)
    shop, other, till, stranger = (w.join("business"), w.join("business"), w.new_member(),
                                   w.new_member())
    w.refuse(delegate_tx(w, stranger, till, 1, 1), Reason.UNKNOWN_ACCOUNT)
    w.refuse(delegate_tx(w, shop, till, 1, 1, signer=other), Reason.NOT_AUTHORISED)
    w.refuse(delegate_tx(w, shop, till, 1, 1, code="NOPE"), Reason.UNKNOWN_CURRENCY)
    w.refuse(delegate_tx(w, shop, till, 1, 1, code="BIS"), Reason.NOT_MEMBER)
    w.refuse(delegate_tx(w, shop, other, 1, 1), Reason.KEY_IN_USE)  # an owner key
    w.refuse(delegate_tx(w, shop, shop, 1, 1), Reason.KEY_IN_USE)  # its own owner key
    w.ok(delegate_tx(w, other, till, 1, 1))
    w.refuse(delegate_tx(w, shop, till, 1, 1), Reason.KEY_IN_USE)  # another's till


def test_only_businesses_and_associations_have_tills(w: World) -> None:
    person = w.join()
    w.refuse(delegate_tx(w, person, w.new_member(), 1, 1), Reason.WRONG_KIND)
    w.ok(delegate_tx(w, w.association, w.new_member(), 1, 1))


def test_delegations_stop_at_delegations_max(w: World) -> None:
    shop = w.join("business")
    tills = [fresh_key() for _ in range(limits.delegations_max + 1)]
    out = w.block([delegate_tx(w, shop, k, 1, 1) for k in tills[:-1]])
    assert {r.reason for r in out.results} == {"ok"}
    assert len(w.state.accounts[shop.account].delegations) == limits.delegations_max
    w.refuse(delegate_tx(w, shop, tills[-1], 1, 1), Reason.KEYS_LIMIT)
    w.ok(delegate_tx(w, shop, tills[0], 2, 2))  # changing an existing one is not a new one


def test_revoke_delegation_refusals(w: World) -> None:
    shop, other, till, stranger = w.join("business"), w.join(), w.new_member(), w.new_member()
    w.ok(delegate_tx(w, shop, till, 1, 1))
    w.refuse(w.mk.make([stranger], "revoke_delegation", account=stranger.account,
                       key=till.public_key), Reason.UNKNOWN_ACCOUNT)
    w.refuse(w.mk.make([other], "revoke_delegation", account=shop.account,
                       key=till.public_key), Reason.NOT_AUTHORISED)
    w.refuse(w.mk.make([till], "revoke_delegation", account=shop.account,
                       key=till.public_key), Reason.NOT_AUTHORISED)
    w.refuse(w.mk.make([other], "revoke_delegation", account=other.account,
                       key=till.public_key), Reason.UNKNOWN_KEY)
    w.refuse(w.mk.make([shop], "revoke_delegation", account=shop.account,
                       key=shop.public_key), Reason.UNKNOWN_KEY)


# ================================================================================================
# rotate_key
# ================================================================================================
def rotate_tx(w: World, who: Member, add: list[str], remove: list[str],
              signer: Member | None = None) -> Any:
    return w.mk.make([signer or who], "rotate_key", account=who.account, add=add, remove=remove)


def test_rotate_key_replaces_the_key_and_keeps_the_id(w: World) -> None:
    a, b, new = w.join(nantie=1_000), w.join(), w.new_member()
    w.ok(rotate_tx(w, a, add=[new.public_key], remove=[a.public_key]))
    assert w.state.accounts[a.account].keys == [new.public_key]
    w.refuse(w.mk.pay(a, b, 100), Reason.NOT_AUTHORISED)
    w.ok(w.mk.make([new], "transfer", **{"from": a.account}, to=b.account, currency=CODE,
                   amount=100))
    assert w.balance(a) == (900, 0)


def test_owner_keys_stop_at_owner_keys_max(w: World) -> None:
    a = w.join()
    keys = [fresh_key() for _ in range(limits.owner_keys_max)]
    w.ok(rotate_tx(w, a, add=keys[:-1], remove=[]))
    assert len(w.state.accounts[a.account].keys) == limits.owner_keys_max
    w.refuse(rotate_tx(w, a, add=keys[-1:], remove=[]), Reason.KEYS_LIMIT)
    w.ok(rotate_tx(w, a, add=keys[-1:], remove=[a.public_key]))  # swap one in, one out
    assert sorted(w.state.accounts[a.account].keys) == sorted(keys)


def test_rotate_key_refusals(w: World) -> None:
    a, b, stranger, new = w.join(), w.join(), w.new_member(), w.new_member()
    w.refuse(rotate_tx(w, stranger, add=[new.public_key], remove=[]), Reason.UNKNOWN_ACCOUNT)
    w.refuse(rotate_tx(w, a, add=[new.public_key], remove=[], signer=b), Reason.NOT_AUTHORISED)
    w.refuse(rotate_tx(w, a, add=[], remove=[new.public_key]), Reason.UNKNOWN_KEY)
    w.refuse(rotate_tx(w, a, add=[b.public_key], remove=[]), Reason.KEY_IN_USE)
    w.refuse(rotate_tx(w, a, add=[a.public_key], remove=[]), Reason.KEY_IN_USE)
    w.refuse(rotate_tx(w, a, add=[], remove=[a.public_key]), Reason.LAST_KEY)


# ================================================================================================
# recover_key and veto_recovery
# ================================================================================================
def recover_tx(w: World, who: Member, key: str, signers: list[Member] | None = None) -> Any:
    signers = signers or list(w.admins)
    return w.mk.make(signers, "recover_key", by=signers[0].account, currency=CODE,
                     account=who.account, key=key)


def veto_tx(w: World, who: Member, signer: Member | None = None) -> Any:
    return w.mk.make([signer or who], "veto_recovery", account=who.account)


def test_recovery_takes_effect_after_the_delay_of_block_time(w: World) -> None:
    lost, b, new = w.join(nantie=1_000), w.join(), w.new_member()
    delay = w.policy["recovery_delay_ms"]
    result = w.ok(recover_tx(w, lost, new.public_key))
    effective = result.value("effective_ms")
    assert result.to_json() == {"code": "ok", "effective_ms": w.time_ms + delay}
    account = w.state.accounts[lost.account]
    assert account.recovery is not None and account.keys == [lost.public_key]
    # until then the old key acts and the new one does not
    w.block([], advance_ms=delay - 3)
    w.refuse(w.mk.make([new], "transfer", **{"from": lost.account}, to=b.account,
                       currency=CODE, amount=100), Reason.NOT_AUTHORISED)
    w.pay(lost, b, 100)
    assert w.time_ms == effective - 1
    assert account.keys == [lost.public_key] and account.recovery is not None
    # the first block at or after effective_ms installs the new key in place of every old one
    w.block([])
    assert w.time_ms == effective
    assert (account.keys, account.recovery) == ([new.public_key], None)
    w.refuse(w.mk.pay(lost, b, 100), Reason.NOT_AUTHORISED)
    w.ok(w.mk.make([new], "transfer", **{"from": lost.account}, to=b.account, currency=CODE,
                   amount=100))
    assert w.balance(b) == (200, 0)


def test_the_old_key_vetoes_a_recovery_before_it_takes_effect(w: World) -> None:
    victim, new = w.join(), w.new_member()
    delay = w.policy["recovery_delay_ms"]
    w.ok(recover_tx(w, victim, new.public_key))
    w.block([], advance_ms=delay - 2)
    w.ok(veto_tx(w, victim))  # at effective_ms - 1
    assert w.state.accounts[victim.account].recovery is None
    w.block([], advance_ms=delay)
    assert w.state.accounts[victim.account].keys == [victim.public_key]
    w.refuse(veto_tx(w, victim), Reason.NO_PENDING_RECOVERY)


def test_a_veto_in_the_block_where_the_recovery_takes_effect_is_too_late(w: World) -> None:
    lost, new = w.join(), w.new_member()
    w.ok(recover_tx(w, lost, new.public_key))
    w.block([], advance_ms=w.policy["recovery_delay_ms"] - 1)
    veto = veto_tx(w, lost)  # the recovery takes effect as the veto's block begins
    assert w.run(veto).to_json() == {"code": Reason.NOT_AUTHORISED.value}
    assert w.state.accounts[lost.account].keys == [new.public_key]
    w.refuse(veto_tx(w, lost, signer=new), Reason.NO_PENDING_RECOVERY)


def test_a_recovery_with_no_delay_takes_effect_at_the_next_block() -> None:
    w = World(policy={"recovery_delay_ms": 0})
    lost, new = w.join(), w.new_member()
    assert w.ok(recover_tx(w, lost, new.public_key)).value("effective_ms") == w.time_ms
    w.block([])
    assert w.state.accounts[lost.account].keys == [new.public_key]
    w.replay()


def test_a_recovery_lapses_when_its_key_is_taken_meanwhile(w: World) -> None:
    lost, new = w.join(), w.new_member()
    w.ok(recover_tx(w, lost, new.public_key))
    w.ok(w.mk.open(new))
    w.block([], advance_ms=w.policy["recovery_delay_ms"])
    account = w.state.accounts[lost.account]
    assert (account.keys, account.recovery) == ([lost.public_key], None)
    assert w.state.accounts[new.account].keys == [new.public_key]


def test_recover_key_refusals(w: World) -> None:
    a, b = w.join(), w.join()
    w.refuse(recover_tx(w, a, b.public_key), Reason.KEY_IN_USE)
    w.refuse(recover_tx(w, a, a.public_key), Reason.KEY_IN_USE)


def test_veto_recovery_refusals(w: World) -> None:
    a, b, stranger = w.join(), w.join(), w.new_member()
    w.ok(recover_tx(w, a, fresh_key()))
    w.refuse(veto_tx(w, stranger), Reason.UNKNOWN_ACCOUNT)
    w.refuse(veto_tx(w, a, signer=b), Reason.NOT_AUTHORISED)
    w.refuse(veto_tx(w, b), Reason.NO_PENDING_RECOVERY)
    w.ok(veto_tx(w, a))


# ================================================================================================
# create_currency
# ================================================================================================
def test_create_currency(w: World) -> None:
    issuer = w.join()
    w.ok(w.mk.make([w.governor], "create_currency", code="EAU2",
                   policy={**w.policy, "name": "L'Eau", "admin_quorum": 1},
                   admins=[w.admins[0].account], issuers=[issuer.account]))
    currency = w.state.currencies["EAU2"]
    assert (currency.policy["name"], currency.issued_minor, currency.reconverted_minor) == (
        "L'Eau", 0, 0)
    assert w.m(w.admins[0], "EAU2").roles == ("admin",)
    assert (w.m(issuer, "EAU2").roles, w.m(issuer, "EAU2").status) == (("issuer",), "active")
    assert (w.m(w.association, "EAU2").roles, w.m(w.association, "EAU2").status) == (
        (), "active")
    assert (w.admins[1].account, "EAU2") not in w.state.memberships
    w.ok(w.mk.issue([issuer], w.admins[0], 100, currency="EAU2"))
    assert w.m(w.admins[0], "EAU2").nantie == 100
    assert w.balance(w.admins[0]) == (0, 0)  # LIEN is another currency


def create_tx(w: World, signers: list[Member], code: str = "BIS", **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "code": code,
        "policy": {**w.policy},
        "admins": [a.account for a in w.admins],
        "issuers": [w.comptoir.account],
    }
    fields.update(overrides)
    return w.mk.make(signers, "create_currency", **fields)


def test_create_currency_refusals(w: World) -> None:
    stranger = w.new_member()
    w.refuse(create_tx(w, [w.admins[0]]), Reason.NOT_AUTHORISED)
    w.refuse(create_tx(w, [w.governor], code=CODE), Reason.CURRENCY_EXISTS)
    w.refuse(create_tx(w, [w.governor], admins=[stranger.account]), Reason.UNKNOWN_ACCOUNT)
    w.refuse(create_tx(w, [w.governor], issuers=[stranger.account]), Reason.UNKNOWN_ACCOUNT)
    w.refuse(create_tx(w, [w.governor], policy={**w.policy, "association": stranger.account}),
             Reason.UNKNOWN_ACCOUNT)
    w.refuse(create_tx(w, [w.governor], admins=[w.admins[0].account]), Reason.QUORUM_IMPOSSIBLE)


def test_create_currency_needs_the_governor_quorum() -> None:
    g1, g2, admin = member("governor 1"), member("governor 2"), member("admin")
    config = ChainConfig.new(CHAIN, T0, validators=(fresh_key(),),
                             governors=(g1.public_key, g2.public_key), governor_quorum=2)
    state = State(config)
    mk = TxMaker(config.chain_id, lambda: T0)
    apply_block(state, [mk.open(admin, currency=None)], T0 + 1, verify_signatures=True)

    def create(keys: list[nacl.signing.SigningKey]) -> Any:
        policy = {"name": "Bis", "association": admin.account, "reconversion_fee_bp": 0,
                  "admin_quorum": 1, "issue_quorum_above_minor": 0,
                  "limit_quorum_above_minor": 0, "credit_floor_default_minor": 0,
                  "credit_ceiling_default_minor": 0, "recovery_delay_ms": 0}
        return sign_body(mk.body("create_currency", code="BIS", policy=policy,
                                 admins=[admin.account], issuers=[]), keys)

    before, root = state.all_lines(), state.state_root
    out = apply_block(state, [create([g1.key]), create([g1.key, g1.key])], T0 + 2,
                      verify_signatures=True)
    assert [(r.reason, r.value("have"), r.value("need")) for r in out.results] == [
        ("quorum_not_met", 1, 2), ("quorum_not_met", 1, 2)]
    assert state.all_lines() == before
    assert state.state_root == next_state_root(root, [])
    out = apply_block(state, [create([g2.key, g1.key])], T0 + 3, verify_signatures=True)
    assert [r.to_json() for r in out.results] == [{"code": "ok"}]
    assert "BIS" in state.currencies
    check_all_invariants(state)


# ================================================================================================
# set_policy
# ================================================================================================
def policy_tx(w: World, signers: list[Member] | None = None, **changes: Any) -> Any:
    signers = signers or list(w.admins)
    return w.mk.make(signers, "set_policy", by=signers[0].account, currency=CODE,
                     policy={**w.policy, **changes})


def test_set_policy_changes_what_follows(w: World) -> None:
    shop = w.join("business", nantie=10_000)
    w.ok(policy_tx(w, reconversion_fee_bp=1_000, credit_floor_default_minor=-5,
                   credit_ceiling_default_minor=7))
    assert w.policy["reconversion_fee_bp"] == 1_000
    assert w.ok(reconvert_tx(w, shop, 1_000)).value("fee") == 100
    newcomer = w.join()
    assert (w.m(newcomer).floor, w.m(newcomer).ceiling) == (-5, 7)
    assert (w.m(shop).floor, w.m(shop).ceiling) == (
        -20_000, 200_000)  # existing limits unchanged


def test_set_policy_to_a_new_association_makes_it_a_member(w: World) -> None:
    shop, new_assoc = w.join("business", nantie=10_000), opened_without_currency(w, "association")
    w.ok(policy_tx(w, association=new_assoc.account))
    assert w.m(new_assoc).status == "active"
    w.ok(reconvert_tx(w, shop, 1_000))
    assert w.balance(new_assoc) == (50, 0)
    assert w.balance(w.association) == (0, 0)


def test_set_policy_refusals(w: World) -> None:
    stranger = w.new_member()
    w.refuse(policy_tx(w, association=stranger.account), Reason.UNKNOWN_ACCOUNT)
    w.refuse(policy_tx(w, admin_quorum=3), Reason.QUORUM_IMPOSSIBLE)
    w.ok(policy_tx(w, admin_quorum=1))
    w.ok(policy_tx(w, [w.admins[1]], admin_quorum=2))


# ================================================================================================
# The block: atomic refusals, deterministic roots
# ================================================================================================
def test_refusals_in_a_block_change_nothing_and_do_not_disturb_their_neighbours(
    w: World,
) -> None:
    a, b = w.join(nantie=1_000), w.join()
    out = w.block([
        w.mk.pay(a, b, 100_000),  # refused
        w.mk.pay(a, b, 300),
        w.mk.pay(a, a, 1),  # refused
        w.mk.pay(b, a, 50),
    ])
    assert [r.reason for r in out.results] == [
        "insufficient_funds", "ok", "same_account", "ok"]
    assert w.balance(a) == (750, 0)
    assert w.balance(b) == (250, 0)


def test_the_state_root_commits_to_each_block_whoever_takes_the_changes(w: World) -> None:
    a, b = w.join(nantie=1_000), w.join()
    w.pay(a, b, 10)
    w.refuse(w.mk.pay(a, a, 1), Reason.SAME_ACCOUNT)
    w.block([])
    w.pay(b, a, 5)
    # a node takes the changes after each block, a verifier may not: same roots
    taken = w.replay(take_changes=True)
    kept = w.replay(take_changes=False)
    assert taken.state_root == kept.state_root == w.state.state_root
    # the root of an empty block chains the previous one over no change
    roots = [root for _, _, root in w.blocks]
    assert roots[-2] == next_state_root(roots[-3], [])


def test_the_state_root_chains_the_lines_of_the_records_a_block_changed(w: World) -> None:
    a, b = w.join(nantie=1_000), w.join()
    root = w.state.state_root
    out = w.block([w.mk.pay(a, b, 10)])
    assert w.m(a).line() == f"m|{a.account}|{CODE}|active||990|0|-20000|200000"
    assert out.state_root == next_state_root(root, sorted([w.m(a).line(), w.m(b).line()]))


# ================================================================================================
# request_payment, decline_request (their statuses: tests/test_payment_requests.py)
# ================================================================================================
def test_a_request_moves_no_money_and_is_in_both_histories(w: World) -> None:
    shop, client = w.join("business", nantie=1_000), w.join(nantie=5_000)
    before = (w.balance(shop), w.balance(client))
    tx = w.ask(shop, client, 1_250, memo="m1.xyz", reference="ab" * 32)
    assert w.ok(tx).to_json() == {"code": "ok"}
    assert (w.balance(shop), w.balance(client)) == before
    assert TX_TYPES["request_payment"].accounts(w.state, tx) == sorted(
        [shop.account, client.account])
    refusal = w.decline(client, shop, tx.id)
    assert w.ok(refusal).to_json() == {"code": "ok"}
    assert TX_TYPES["decline_request"].accounts(w.state, refusal) == sorted(
        [shop.account, client.account])
    # the statement shows each side the other as its counterpart, and no money
    item = {"seq": 1, "height": 1, "tx": tx.to_json(), "result": {"code": "ok"}}
    assert entry_for(client.account, item).counterpart == shop.account
    assert entry_for(shop.account, item).counterpart == client.account
    assert entry_for(client.account, item).amount_minor is None
    assert entry_for(client.account, item).label == "demande de paiement"


def test_request_refusals(w: World) -> None:
    shop, client = w.join("business"), w.join()
    pending, stranger = w.join(active=False), w.new_member()
    w.refuse(w.ask(shop, client, 100, currency="NOPE"), Reason.UNKNOWN_CURRENCY)
    w.refuse(w.ask(shop, shop, 100), Reason.SAME_ACCOUNT)
    assert w.refuse(w.ask(shop, stranger, 100),
                    Reason.UNKNOWN_ACCOUNT).value("account") == stranger.account
    # only the payee's owner asks: the payer cannot make a request "from" the shop
    assert w.refuse(w.ask(shop, client, 100, signer=client),
                    Reason.NOT_AUTHORISED).value("account") == shop.account
    assert w.refuse(w.ask(shop, pending, 100),
                    Reason.ACCOUNT_NOT_ACTIVE).value("account") == pending.account
    assert w.refuse(w.ask(pending, shop, 100),
                    Reason.ACCOUNT_NOT_ACTIVE).value("account") == pending.account
    # a decline is the payer's: the shop cannot decline in the client's name
    request = w.ask(shop, client, 100)
    w.ok(request)
    w.refuse(w.decline(client, shop, request.id, signer=shop), Reason.NOT_AUTHORISED)



# ================================================================================================
# Every handler and every execution reason code is proved above
# ================================================================================================
def test_every_handler_and_execution_reason_is_exercised() -> None:
    here = pathlib.Path(__file__)
    source = "".join((here.parent / name).read_text() for name in (
        here.name, "test_standing_orders.py", "test_validator_sets.py"))
    for kind in TX_TYPES:
        assert f'"{kind}"' in source, kind
    for reason in Reason:
        if reason not in ADMISSION and reason is not Reason.OK:
            assert f"Reason.{reason.name}" in source, reason
