"""Several currencies on one chain (docs/protocol.md §7, "Several currencies on one chain"):
on a real node (SQLite store, its block loop) with LIEN and the demo's second currency, each
founded by ``found_currency`` with admins, association and comptoir of its own.

For every transaction type that a currency's admins or issuers make — the set is computed from
the ledger's registry, its source and the protocol document, and must equal the cases below —
the role holders of one currency have no power in the other: refused at admission when they are
not members of it (``signer_not_active``), refused at execution with ``not_authorised`` (and
the role) when they are ordinary members of it, their signatures never count towards its admin
quorum, and acting in their own currency they cannot reach an account's membership of the
other (``not_member``). Every refused attempt changes nothing: the stored state is the same and
the block's state root advances over no change. The same action by the other currency's own
admins succeeds, and changes that currency only. And one account holds both currencies, with
balances, limits and statuses of its own in each, mutual credit summing to zero in each.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from lien.ledger import Reason, Tx, TxError
from lien.ledger.state import next_state_root
from lien.ledger.types import TX_TYPES
from lien.node.genesis import Founders, found_currency, make_genesis
from lien.node.node import Node, Status, wall_clock_ms
from lien.node.setup import (
    DEMO_PASSWORD,
    DEMO_SECOND_CODE,
    DEMO_SECOND_POLICY,
    init_node,
    open_store,
)
from lien.node.verify import verify_store
from lien.store import Store
from lien.wallet import Member, TxMaker, keystore, memo

LIEN, SOLV = "LIEN", DEMO_SECOND_CODE
#: (the currency whose role holders act, the other currency): both ways round
DIRECTIONS = [(LIEN, SOLV), (SOLV, LIEN)]
PROTOCOL = Path(__file__).parent.parent / "docs" / "protocol.md"


def fresh_key() -> str:
    return bytes(nacl.signing.SigningKey.generate().verify_key).hex()


# -- a real node with two currencies ----------------------------------------------------------
@dataclass
class Chain:
    """A node with LIEN (the genesis) and SOLV (founded as the demo founds it)."""

    node: Node
    mk: TxMaker
    founders: dict[str, Founders]
    _members: int = 0

    def admins(self, code: str) -> list[Member]:
        return self.founders[code].admins

    def holder(self, code: str, role: str) -> Member:
        """The founder of ``code`` who holds ``role`` (its first admin, or its comptoir)."""
        return self.admins(code)[0] if role == "admin" else self.founders[code].comptoir

    def policy(self, code: str) -> dict[str, Any]:
        [currency] = [c for c in self.node.summary.currencies if c.code == code]
        return currency.policy

    # -- running transactions ----------------------------------------------------------------
    def run(self, tx: Tx) -> Status:
        [status] = self.node.run([tx])
        assert status.result is not None, status
        return status

    def ok(self, *txs: Tx) -> None:
        for status in self.node.run(list(txs)):
            assert status.result is not None and status.result["code"] == "ok", status

    def lines(self) -> list[str]:
        """The state as the store holds it (every account, membership, currency, order)."""
        return self.node.store.stored_state_lines()

    def last_block(self) -> tuple[int, str]:
        block = self.node.store.last_block()
        assert block is not None
        return block.header.height, block.header.state_root

    def refused(self, tx: Tx, result: dict[str, Any]) -> None:
        """``tx`` is executed, alone in its block, refused with exactly ``result``, and changes
        nothing: the stored state is the same, and the block's state root is the previous one
        advanced over an empty list of changes."""
        before, (height, root) = self.lines(), self.last_block()
        status = self.run(tx)
        assert status.result == result, status
        assert self.lines() == before
        block = self.node.store.block(height + 1)
        assert block is not None and status.height == height + 1
        assert block.header.tx_count == 1
        assert block.header.state_root == next_state_root(bytes.fromhex(root), []).hex()

    def rejected(self, tx: Tx, reason: Reason) -> None:
        """``tx`` is refused at submission with ``reason``: never recorded, nothing changed."""
        before, last = self.lines(), self.last_block()
        with pytest.raises(TxError) as refused:
            self.node.submit(tx)
        assert refused.value.reason is reason
        assert self.node.status(tx.id) is None
        assert (self.lines(), self.last_block()) == (before, last)

    def changed(self, tx: Tx) -> set[str]:
        """Run ``tx``, which must succeed; the state lines it changed (old and new)."""
        before = set(self.lines())
        status = self.run(tx)
        assert status.result is not None and status.result["code"] == "ok", status
        after = set(self.lines())
        assert before != after
        return before ^ after

    # -- members -------------------------------------------------------------------------------
    def member(self, *codes: str, kind: str = "personal",
               roles: dict[str, list[str]] | None = None) -> Member:
        """A new account, an active member of each of ``codes`` (approved by that currency's
        admin), holding ``roles`` there (granted by its admins' quorum)."""
        self._members += 1
        m = Member.new(kind, f"member {self._members}")
        self.ok(self.mk.open(m, currency=None))
        for code in codes:
            self.join(m, code)
            if roles and code in roles:
                admins = self.admins(code)
                self.ok(self.mk.make(admins, "set_roles", by=admins[0].account, currency=code,
                                     account=m.account, roles=roles[code]))
        return m

    def join(self, m: Member, code: str) -> None:
        """``m`` (an account) joins ``code`` and that currency's first admin approves it."""
        self.ok(self.mk.make([m], "join_currency", account=m.account, currency=code),
                self.mk.approve(self.admins(code)[0], m, currency=code))

    def membership_lines(self, account: str) -> dict[str, str]:
        """The account's membership line in each currency."""
        return {line.split("|")[2]: line for line in self.lines()
                if line.startswith(f"m|{account}|")}


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    genesis = make_genesis("lien-currencies", wall_clock_ms())
    url = f"sqlite:///{tmp_path / 'node.db'}"
    created = Store(url)
    created.create(genesis.config)
    created.dispose()
    node = Node(Store(url), validator_key=genesis.validator)
    try:
        node.start()
        try:
            mk = TxMaker(genesis.config.chain_id, wall_clock_ms)
            lien = Founders(LIEN, genesis.admins, genesis.association, genesis.comptoir,
                            genesis.bootstrap)
            solv = found_currency(mk, [genesis.governor], SOLV, policy=DEMO_SECOND_POLICY,
                                  label="Sol-Violette")
            c = Chain(node, mk, {LIEN: lien, SOLV: solv})
            c.ok(*genesis.bootstrap)
            c.ok(*solv.txs)
            yield c
        finally:
            node.stop()
        report = verify_store(node.store)  # the chain as a whole re-executes to the same state
        assert report.ok, report.problem
    finally:
        node.store.dispose()


# -- the admin transaction types, and one case per way of acting ------------------------------
@dataclass(frozen=True)
class Case:
    """One admin or issuer action on a membership of ``target`` in a currency (no target for
    set_policy), and what it needs."""

    type: str
    #: the role of ``by``, who acts
    role: str
    #: the action needs the currency's admin quorum (always, or by the amounts given)
    quorum: bool
    fields: Callable[[Chain, str, Member], dict[str, Any]]
    #: roles the target holds first: locking a role holder is governance (quorum)
    target_roles: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.type}-{'quorum' if self.quorum else 'one'}"

    @property
    def has_target(self) -> bool:
        return self.type != "set_policy"

    def tx(self, c: Chain, code: str, by: Member, signers: list[Member], target: Member) -> Tx:
        unique = list({m.account: m for m in signers}.values())
        return c.mk.make(unique, self.type, by=by.account, currency=code,
                         **self.fields(c, code, target))

    def signers(self, c: Chain, code: str, by: Member) -> list[Member]:
        """``by``, with the whole quorum of ``code``'s admins when it may be needed: everything
        that makes the action pass in ``code``."""
        return [by, *c.admins(code)]


def _raised_ceiling(c: Chain, code: str) -> int:
    policy = c.policy(code)
    return max(policy["credit_ceiling_default_minor"], policy["limit_quorum_above_minor"]) + 1_000


CASES = [
    Case("set_status", "admin", False, lambda c, code, t: {"account": t.account,
                                                             "status": "locked"}),
    Case("set_status", "admin", True, lambda c, code, t: {"account": t.account,
                                                            "status": "locked"},
         target_roles=("issuer",)),
    Case("set_roles", "admin", True, lambda c, code, t: {"account": t.account,
                                                           "roles": ["admin", "issuer"]}),
    Case("set_limits", "admin", False, lambda c, code, t: {"account": t.account,
                                                             "floor": -1_000, "ceiling": 1_000}),
    Case("set_limits", "admin", True, lambda c, code, t: {
        "account": t.account, "floor": -1_000, "ceiling": _raised_ceiling(c, code)}),
    Case("recover_key", "admin", True, lambda c, code, t: {"account": t.account,
                                                             "key": fresh_key()}),
    Case("issue", "issuer", False, lambda c, code, t: {"to": t.account, "amount": 1_000,
                                                         "deposit_ref": "dépôt 1"}),
    Case("issue", "issuer", True, lambda c, code, t: {
        "to": t.account, "amount": c.policy(code)["issue_quorum_above_minor"] + 100,
        "deposit_ref": "dépôt 2"}),
    Case("set_policy", "admin", True, lambda c, code, t: {
        "policy": {**c.policy(code), "name": "Prise de contrôle", "reconversion_fee_bp": 0}}),
]
TARGETED = [case for case in CASES if case.has_target]
QUORUM = [case for case in CASES if case.quorum]


def _doc_section(name: str) -> str:
    """The section of type ``name`` in docs/protocol.md, up to the next heading."""
    text = PROTOCOL.read_text(encoding="utf-8")
    start = text.index(f"### `{name}`\n")
    end = re.compile(r"^#{2,3} ", re.MULTILINE).search(text, start + 1)
    assert end is not None
    return text[start:end.start()]


def test_the_cases_are_every_transaction_type_of_a_currency_s_admins_and_issuers() -> None:
    """A new type that a role of a currency authorises, without cases here, fails this test:
    the set of such types is computed three ways, from the registry (a ``by`` field: the
    acting role holder), from each type's code (it runs the role check) and from the
    protocol document (its execution begins with *R(role)*)."""
    by_field = {name for name, unit in TX_TYPES.items() if "by" in unit.required}
    by_code = {name for name, unit in TX_TYPES.items()
               if re.search(r"common\.(check_role|admin_action)\(", inspect.getsource(type(unit)))}
    by_doc = {name for name in TX_TYPES if re.search(r"\*R\((admin|issuer)\)\*",
                                                    _doc_section(name))}
    covered = {case.type for case in CASES}
    assert by_field == by_code == by_doc == covered
    for case in CASES:
        assert TX_TYPES[case.type].signers == "member"  # admission wants a member of `currency`
        assert f"*R({case.role})*" in _doc_section(case.type)
    # every one of them can need the admin quorum: each has a case that does
    assert {case.type for case in QUORUM} == covered


def _target(c: Chain, case: Case, code: str, *also: str) -> Member:
    """A member of ``code`` (and of ``also``) that ``case`` may act on in ``code``."""
    return c.member(code, *also, roles={code: list(case.target_roles)} if case.target_roles
                    else None)


def _only_in(c: Chain, changed: set[str], code: str, target: Member) -> None:
    """Every changed line is of currency ``code``, or the target's account (a key recovery
    changes the account's keys, whatever currency's admins scheduled it)."""
    for line in changed:
        kind, *parts = line.split("|")
        if kind == "m":
            assert parts[1] == code, line
        elif kind == "c":
            assert parts[0] == code, line
        else:
            assert kind == "a" and parts[0] == target.account, line


# -- the other currency's role holders: refused, nothing changed; its own: ok ----------------
@pytest.mark.parametrize(("mine", "other"), DIRECTIONS, ids=lambda code: code)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_role_holder_of_one_currency_who_is_not_a_member_of_the_other_is_refused_at_admission(
        chain: Chain, case: Case, mine: str, other: str) -> None:
    target = _target(chain, case, other)
    by = chain.holder(mine, case.role)
    chain.rejected(case.tx(chain, other, by, case.signers(chain, mine, by), target),
                   Reason.SIGNER_NOT_ACTIVE)
    theirs = chain.holder(other, case.role)
    changed = chain.changed(case.tx(chain, other, theirs, case.signers(chain, other, theirs),
                                    target))
    _only_in(chain, changed, other, target)


@pytest.mark.parametrize(("mine", "other"), DIRECTIONS, ids=lambda code: code)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_role_holder_of_one_currency_who_is_a_member_of_the_other_has_no_power_there(
        chain: Chain, case: Case, mine: str, other: str) -> None:
    """The founders of ``mine`` (its admins and comptoir) join ``other`` as ordinary members:
    admitted, executed, refused for the role they lack there."""
    for founder in [*chain.admins(mine), chain.founders[mine].comptoir]:
        chain.join(founder, other)
    target = _target(chain, case, other)
    by = chain.holder(mine, case.role)
    chain.refused(case.tx(chain, other, by, case.signers(chain, mine, by), target),
                  {"code": "not_authorised", "account": by.account, "role": case.role})
    # Nor by naming one of the other's role holders as `by`: it did not sign.
    theirs = chain.holder(other, case.role)
    chain.refused(case.tx(chain, other, theirs, case.signers(chain, mine, by), target),
                  {"code": "not_authorised", "account": theirs.account})
    changed = chain.changed(case.tx(chain, other, theirs, case.signers(chain, other, theirs),
                                    target))
    _only_in(chain, changed, other, target)


@pytest.mark.parametrize(("mine", "other"), DIRECTIONS, ids=lambda code: code)
@pytest.mark.parametrize("case", QUORUM, ids=lambda case: case.id)
def test_admins_of_one_currency_never_count_towards_the_quorum_of_the_other(
        chain: Chain, case: Case, mine: str, other: str) -> None:
    """``other``'s role holder acts, co-signed by every admin of ``mine`` (ordinary members of
    ``other``): only ``other``'s own admins count."""
    for admin in chain.admins(mine):
        chain.join(admin, other)
    target = _target(chain, case, other)
    by = chain.holder(other, case.role)
    have = 1 if case.role == "admin" else 0
    need = chain.policy(other)["admin_quorum"]
    assert have < need
    chain.refused(case.tx(chain, other, by, [by, *chain.admins(mine)], target),
                  {"code": "quorum_not_met", "have": have, "need": need})
    changed = chain.changed(case.tx(chain, other, by, case.signers(chain, other, by), target))
    _only_in(chain, changed, other, target)


@pytest.mark.parametrize(("mine", "other"), DIRECTIONS, ids=lambda code: code)
@pytest.mark.parametrize("case", TARGETED, ids=lambda case: case.id)
def test_acting_in_its_own_currency_a_role_holder_cannot_reach_a_membership_of_the_other(
        chain: Chain, case: Case, mine: str, other: str) -> None:
    """Naming its own currency, on an account that is a member of the other only:
    ``not_member``. On an account that holds both: the action changes its membership of the
    acting currency, never its membership of the other."""
    by = chain.holder(mine, case.role)
    outsider = chain.member(other)
    chain.refused(case.tx(chain, mine, by, case.signers(chain, mine, by), outsider),
                  {"code": "not_member", "account": outsider.account})
    both = _target(chain, case, mine, other)
    theirs = chain.membership_lines(both.account)[other]
    changed = chain.changed(case.tx(chain, mine, by, case.signers(chain, mine, by), both))
    _only_in(chain, changed, mine, both)
    assert chain.membership_lines(both.account)[other] == theirs


# -- one account, two currencies --------------------------------------------------------------
def _balances(c: Chain, who: Member) -> dict[str, tuple[str, int, int, int]]:
    """Per currency: (status, nantie, credit, floor)."""
    found = c.node.store.account_row(who.account)
    assert found is not None
    return {m.currency: (m.status, m.nantie, m.credit, m.floor) for m in found[1]}


def _sums_hold(c: Chain) -> None:
    """In each currency, mutual credit sums to zero and nantie to issued − reconverted."""
    sums = c.node.store.balance_sums()
    supply = {s.code: s.issued_minor - s.reconverted_minor for s in c.node.summary.currencies}
    assert set(sums) == set(supply) == {LIEN, SOLV}
    for code, (nantie, credit) in sums.items():
        assert (nantie, credit) == (supply[code], 0), code


def test_one_account_holds_both_currencies_with_balances_limits_and_statuses_of_each(
        chain: Chain) -> None:
    camille = chain.member(LIEN, SOLV)
    chain.ok(chain.mk.issue([chain.founders[LIEN].comptoir], camille, 10_000))
    shop = chain.member(LIEN, SOLV, kind="business")
    solv_floor = chain.policy(SOLV)["credit_floor_default_minor"]
    lien_floor = chain.policy(LIEN)["credit_floor_default_minor"]
    assert _balances(chain, camille) == {LIEN: ("active", 10_000, 0, lien_floor),
                                         SOLV: ("active", 0, 0, solv_floor)}
    # A payment in one currency moves that currency only.
    chain.ok(chain.mk.pay(camille, shop, 3_000))
    chain.ok(chain.mk.pay(shop, camille, 2_000, currency=SOLV))
    assert _balances(chain, camille) == {LIEN: ("active", 7_000, 0, lien_floor),
                                         SOLV: ("active", 0, 2_000, solv_floor)}
    assert _balances(chain, shop) == {LIEN: ("active", 3_000, 0, lien_floor),
                                      SOLV: ("active", 0, -2_000, solv_floor)}
    _sums_hold(chain)
    # Money in LIEN does not pay in SOLV: with SOLV's floor at zero, Camille has 2,000 there.
    solv = chain.admins(SOLV)
    chain.ok(chain.mk.make(solv[:1], "set_limits", by=solv[0].account, currency=SOLV,
                           account=camille.account, floor=0, ceiling=50_000))
    chain.refused(chain.mk.pay(camille, shop, 2_500, currency=SOLV),
                  {"code": "insufficient_funds"})
    chain.ok(chain.mk.pay(camille, shop, 2_000, currency=SOLV))
    # Locked in LIEN by LIEN's admin, Camille no longer pays in LIEN (refused at submission:
    # she is no active member of it) but still pays in SOLV, where she is active.
    lien = chain.admins(LIEN)
    chain.ok(chain.mk.make(lien[:1], "set_status", by=lien[0].account, currency=LIEN,
                           account=camille.account, status="locked"))
    chain.rejected(chain.mk.pay(camille, shop, 100), Reason.SIGNER_NOT_ACTIVE)
    chain.ok(chain.mk.pay(shop, camille, 500, currency=SOLV),
             chain.mk.pay(camille, shop, 500, currency=SOLV))
    assert _balances(chain, camille) == {LIEN: ("locked", 7_000, 0, lien_floor),
                                         SOLV: ("active", 0, 0, 0)}
    _sums_hold(chain)


# -- the demo ---------------------------------------------------------------------------------
def _bodies(database: Path, result_like: str) -> list[dict[str, Any]]:
    """The bodies of the transactions whose result is ``LIKE result_like``."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT body FROM transactions WHERE result LIKE ?", (result_like,))
        return [json.loads(body) for (body,) in rows]


def test_the_demo_chain_has_a_second_currency_with_founders_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "demo"
    created = init_node(path, password="unused", demo=True)
    demo = json.loads((path / "demo.json").read_text())
    second = demo["second_currency"]
    assert (second["code"], second["name"]) == (SOLV, DEMO_SECOND_POLICY["name"])
    store = open_store(path)
    try:
        state = store.load_state()
        roles = {(m.account, m.currency): set(m.roles) for m in state.memberships.values()}
        holders = {code: {a for (a, c), r in roles.items() if c == code and r}
                   for code in (LIEN, SOLV)}
        assert holders[LIEN] == {created["founders"][f] for f in ("admin-1", "admin-2",
                                                                   "comptoir")}
        assert holders[SOLV] == {second["founders"][f] for f in ("admin-1", "admin-2",
                                                                  "comptoir")}
        policy = state.currencies[SOLV].policy
        assert policy["association"] == second["founders"]["association"]
        assert state.currencies[LIEN].policy["association"] == created["founders"]["association"]
        # The founders' keystores open with the demo password; none holds anything in LIEN.
        for name, account in second["founders"].items():
            data = keystore.read(path / "keys" / f"solv-{name}.json")
            assert data["account"] == account
            keystore.unseal(data, DEMO_PASSWORD)
            assert (account, LIEN) not in state.memberships
        # Its members are demo members who hold both currencies, and paid in SOLV.
        logins = {m["account"] for m in demo["members"]}
        assert len(second["members"]) >= 3 and set(second["members"]) <= logins
        for account in second["members"]:
            assert state.memberships[(account, LIEN)].status == "active"
            assert state.memberships[(account, SOLV)].status == "active"
        joined = set(second["members"])
        paid = [b for b in _bodies(path / "node.db", '{"code":"ok"%')
                if b["type"] == "transfer" and b["currency"] == SOLV]
        assert len(paid) >= 20 and all({b["from"], b["to"]} <= joined for b in paid)
        assert all(memo.is_box(b["memo"]) for b in paid if "memo" in b)
        for code, currency in state.currencies.items():
            members = [m for m in state.memberships.values() if m.currency == code]
            assert sum(m.credit for m in members) == 0
            assert sum(m.nantie for m in members) == (currency.issued_minor
                                                      - currency.reconverted_minor) > 0
        assert verify_store(store).ok
    finally:
        store.dispose()
