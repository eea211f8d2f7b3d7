"""A small world for example-based ledger tests: one chain, one currency, a block at a time.

``World`` builds the genesis of ``make_genesis`` at a fixed time, applies each block with
signature verification, checks every invariant after it and keeps the blocks so that a test can
replay them on a fresh state and compare the state roots. Members are derived from fixed seeds,
so a failing test shows the same account ids on every run.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import nacl.signing

from lien.ledger import (
    Account,
    BlockOutcome,
    Currency,
    Membership,
    Reason,
    Result,
    State,
    Tx,
    apply_block,
    check_all_invariants,
)
from lien.ledger.state import next_state_root
from lien.node.genesis import DEFAULT_POLICY, make_genesis
from lien.wallet import Member, TxMaker

T0 = 1_800_000_000_000
CHAIN = "lien-test"
CODE = "LIEN"
POLICY = DEFAULT_POLICY


def member(label: str, kind: str = "personal") -> Member:
    """A member whose key is derived from ``label`` (the same on every run)."""
    return Member.from_seed(hashlib.sha256(label.encode()).digest(), kind, label)


class World:
    """One chain after its genesis: admins, association and comptoir active in ``LIEN``."""

    def __init__(self, policy: dict[str, Any] | None = None, admin_count: int = 2,
                 validators: tuple[nacl.signing.SigningKey, ...] = ()) -> None:
        self.genesis = make_genesis(CHAIN, T0, policy=policy, admin_count=admin_count,
                                    validators=validators)
        self.state = State(self.genesis.config)
        self.time_ms = T0
        self.mk = TxMaker(self.genesis.config.chain_id, lambda: self.time_ms)
        self.blocks: list[tuple[list[Tx], int, bytes]] = []
        #: False once ``reload`` edited records: the blocks alone no longer give this state.
        self.replayable = True
        self._members = 0
        out = self.block(self.genesis.bootstrap)
        assert [r.reason for r in out.results] == ["ok"] * len(self.genesis.bootstrap)

    # -- who is who ------------------------------------------------------------------------------
    @property
    def admins(self) -> list[Member]:
        return self.genesis.admins

    @property
    def comptoir(self) -> Member:
        return self.genesis.comptoir

    @property
    def association(self) -> Member:
        return self.genesis.association

    @property
    def governor(self) -> Member:
        return self.genesis.governor

    # -- blocks ----------------------------------------------------------------------------------
    def block(self, txs: Sequence[Tx], advance_ms: int = 1) -> BlockOutcome:
        """Apply one block ``advance_ms`` after the previous one, then check every invariant."""
        self.time_ms += advance_ms
        out = apply_block(self.state, list(txs), self.time_ms, verify_signatures=True)
        check_all_invariants(self.state)
        self.blocks.append((list(txs), self.time_ms, out.state_root))
        return out

    def run(self, tx: Tx) -> Result:
        """The result of ``tx`` alone in a block (it must be admitted)."""
        out = self.block([tx])
        assert not out.dropped, out.dropped
        return out.results[0]

    def ok(self, tx: Tx) -> Result:
        result = self.run(tx)
        assert result.reason is Reason.OK, result
        return result

    def refuse(self, tx: Tx, reason: Reason) -> Result:
        """``tx`` is recorded with ``reason`` and changes no record; the root still advances,
        over an empty list of changes."""
        before, root = self.state.all_lines(), self.state.state_root
        result = self.run(tx)
        assert result.reason is reason, result
        assert self.state.all_lines() == before
        assert self.state.state_root == next_state_root(root, [])
        return result

    def replay(self, take_changes: bool = False) -> State:
        """The same blocks on a fresh state: every state root must be the same."""
        state = State(self.genesis.config)
        for txs, time_ms, root in self.blocks:
            out = apply_block(state, txs, time_ms, verify_signatures=True)
            assert out.state_root == root
            if take_changes:
                state.take_changes()
        assert state.all_lines() == self.state.all_lines()
        return state

    def reload(
        self,
        edit: Callable[[list[Account], list[Membership], list[Currency]], None] | None = None,
    ) -> None:
        """Rebuild the state from copies of its records, as a node does when it starts.

        ``edit`` may change the records first: the way to stand at a bound that payments cannot
        reach in a test's time (e.g. a supply near ``supply_minor_max``)."""
        old = self.state
        accounts = [copy.deepcopy(a) for a in old.accounts.values()]
        memberships = [copy.deepcopy(m) for m in old.memberships.values()]
        currencies = [copy.deepcopy(c) for c in old.currencies.values()]
        if edit is not None:
            edit(accounts, memberships, currencies)
            self.replayable = False
        state = State(old.config)
        for c in currencies:
            state.index_currency(c)
        for a in accounts:
            state.index_account(a)
        for m in memberships:
            state.index_membership(m)
        for o in old.orders.values():
            state.index_order(copy.deepcopy(o))
        state.height, state.time_ms, state.state_root = old.height, old.time_ms, old.state_root
        state.validators = old.validators
        state.seen = dict(old.seen)
        check_all_invariants(state)
        self.state = state

    # -- members and money -------------------------------------------------------------------------
    def new_member(self, kind: str = "personal", label: str = "") -> Member:
        self._members += 1
        return member(label or f"member {self._members}", kind)

    def join(self, kind: str = "personal", *, active: bool = True, nantie: int = 0,
             label: str = "") -> Member:
        """Open an account in ``LIEN``, approve it and issue ``nantie`` to it."""
        m = self.new_member(kind, label)
        self.ok(self.mk.open(m))
        if active:
            self.ok(self.mk.approve(self.admins[0], m))
        if nantie:
            self.issue(m, nantie)
        return m

    def issue(self, to: Member, amount: int) -> Result:
        issuers = [self.comptoir]
        if amount > self.policy["issue_quorum_above_minor"]:
            issuers += self.admins
        return self.ok(self.mk.issue(issuers, to, amount))

    def pay(self, payer: Member, payee: Member, amount: int, **options: Any) -> Result:
        return self.ok(self.mk.pay(payer, payee, amount, **options))

    def ask(self, payee: Member, payer: Member, amount: int, signer: Member | None = None,
            **options: Any) -> Tx:
        """``payee`` requests ``amount`` from ``payer`` (``request_payment``)."""
        fields = {"from": payer.account, "to": payee.account, "currency": CODE,
                  "amount": amount, **options}
        return self.mk.make([signer or payee], "request_payment", **fields)

    def decline(self, payer: Member, payee: Member, request: str,
                signer: Member | None = None) -> Tx:
        """``payer`` declines the request ``request`` of ``payee`` (``decline_request``)."""
        fields = {"from": payer.account, "to": payee.account, "currency": CODE,
                  "request": request}
        return self.mk.make([signer or payer], "decline_request", **fields)

    def set_status(self, target: Member, status: str, by: Member | None = None,
                   cosigners: Sequence[Member] = ()) -> Tx:
        admin = by or self.admins[0]
        return self.mk.make([admin, *cosigners], "set_status", by=admin.account, currency=CODE,
                            account=target.account, status=status)

    # -- what a member would see -----------------------------------------------------------------
    @property
    def policy(self) -> dict[str, Any]:
        return self.state.currencies[CODE].policy

    def m(self, who: Member, code: str = CODE) -> Membership:
        return self.state.memberships[(who.account, code)]

    def balance(self, who: Member) -> tuple[int, int]:
        """(nantie, credit) of ``who`` in ``LIEN``."""
        m = self.m(who)
        return m.nantie, m.credit

    def supply(self) -> int:
        c = self.state.currencies[CODE]
        return c.issued_minor - c.reconverted_minor

    def total_nantie(self) -> int:
        return sum(m.nantie for m in self.state.memberships.values() if m.currency == CODE)

    def total_credit(self) -> int:
        return sum(m.credit for m in self.state.memberships.values() if m.currency == CODE)
