"""Stateful property tests of the ledger core (DESIGN.md §5): random sequences of every
transaction type, valid and invalid, grouped into blocks of random sizes and times.

After every block:

* the money rules, computed here from the raw records: per currency, mutual credit sums to 0
  and nantie sums to issued − reconverted; no nantie below 0; every credit within its limits;
  every floor ≤ 0 ≤ ceiling; a closed membership holds nothing; and ``check_all_invariants``
  agrees;
* every currency keeps at least ``admin_quorum`` active admins (it can still be governed);
* the reference model of tests/property_support.py predicted every admission drop, every
  result code (``ok`` exactly when no refusal applies) and every effect, and its whole state
  equals the ledger's (so a refused transaction changed nothing);
* the executor's indexes (key owners, tills, role holders, pending recoveries, running totals)
  equal those rebuilt from the records, as a restarting node rebuilds them;
* (``OrdersMachine``) standing orders made, revoked and run as blocks move time by up to a
  year: the same money rules, the runs exactly the orders due, and a replay with the same roots;
* a shadow state fed only the included transactions, without signature checks but with the
  core's own invariant check, and restarted from its records every third block, reaches the
  same results and the same state root;
* admission's signer rule (``lien.ledger.signers``), asked on the state the block starts from,
  refused no transaction that then executed ``ok`` before anything changed that state.

At the end of each run the whole log is replayed from genesis through the wire encoding, with
``take_changes()`` after each block as the node's write-behind does: every root and the final
``all_lines()`` must be identical.

The main state runs with ``check=False`` so that the assertions of this file, not the core's
own check, are what catches a broken rule; ``test_the_machine_catches_*`` prove they do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)

import lien.ledger.types.common as common
import lien.ledger.types.transfer as transfer
from lien.ledger import (
    InvariantBroken,
    Reason,
    Result,
    Signature,
    State,
    Tx,
    TxError,
    apply_block,
    check_all_invariants,
    decode_tx,
    sign_body,
)
from lien.ledger.signers import check_signer
from lien.ledger.types.join_currency import JoinCurrency
from lien.ledger.types.reconvert import Reconvert
from lien.wallet import Member, TxMaker

from ledger_support import World
from property_support import (
    ADMINS,
    BOOTSTRAP,
    BY_KEY,
    CHAIN,
    COMPTOIR,
    CONFIG,
    ECO,
    FIRST_MEMBERS,
    GOVERNOR,
    ID_BY_NAME,
    KINDS,
    LIEN,
    MEMBER_BY_NAME,
    NAMES,
    POLICY,
    POOL,
    SPARE,
    T0,
    TX_EXPIRY_MS,
    ZED,
    MAccount,
    Model,
    Sub,
    counter_nonces,
    index_differences,
    reload,
)

MISSING = MAccount("none", set())

settings.register_profile(
    "lien-ledger-properties",
    database=None,  # CI runs from a fresh clone: nothing to remember between runs
    derandomize=False,
    deadline=None,
    max_examples=100,  # about 20 s on the 2-core reference machine, with the mutants below
    stateful_step_count=80,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("lien-ledger-properties")

#: every account name a rule may pick: genesis accounts, the pool (opened or not), a ghost
KNOWN_NAMES = sorted(ID_BY_NAME.keys() - {GOVERNOR.name})
POOL_NAMES = [m.name for m in POOL]
SPARE_NAMES = [m.name for m in SPARE]
#: block time steps: mostly short, sometimes past a recovery delay, sometimes past every expiry
TIME_STEPS = (1, 0, 1_000, 3_000, 25_000, TX_EXPIRY_MS + 1)


def name(account_id: str) -> str:
    return NAMES.get(account_id, account_id)


def assert_money_rules(state: State) -> None:
    """DESIGN.md §5, recomputed from the records themselves (not from the running totals)."""
    for code, currency in state.currencies.items():
        members = [m for (_, c), m in state.memberships.items() if c == code]
        credit = sum(m.credit for m in members)
        assert credit == 0, f"mutual credit of {code} sums to {credit}"
        nantie = sum(m.nantie for m in members)
        supply = currency.issued_minor - currency.reconverted_minor
        assert nantie == supply, f"nantie of {code} sums to {nantie}, supply is {supply}"
        for m in members:
            where = f"{name(m.account)}/{code}"
            assert m.nantie >= 0, f"negative nantie {m.nantie} on {where}"
            assert m.floor <= 0 <= m.ceiling, f"limits {m.floor}..{m.ceiling} on {where}"
            assert m.floor <= m.credit <= m.ceiling, (
                f"credit {m.credit} outside {m.floor}..{m.ceiling} on {where}"
            )
            if m.status == "closed":  # closed only when empty, and nothing comes in after
                assert m.nantie == m.credit == 0, f"closed {where} holds {m.nantie}/{m.credit}"
    check_all_invariants(state)


@functools.lru_cache(maxsize=None)
def _sampled(options: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(options)


def choice(options: Any) -> st.SearchStrategy[Any]:
    """``st.sampled_from``, built once per distinct list of options (it is drawn thousands
    of times: building and validating strategies is most of the cost of a step)."""
    return _sampled(tuple(options))


PERCENT = st.integers(0, 99)


def assert_governable(state: State) -> None:
    """Every currency keeps enough active admins to reach its quorum: locking, closing,
    demoting admins and raising the quorum are refused when they would break this."""
    for code, currency in state.currencies.items():
        active = [a for (a, c), m in state.memberships.items()
                  if c == code and "admin" in m.roles and m.status == "active"]
        quorum = currency.policy["admin_quorum"]
        assert len(active) >= quorum, f"{code}: {len(active)} active admins, quorum {quorum}"


def chance(data: st.DataObject, percent: int) -> bool:
    """True with about ``percent``% probability; shrinks towards False."""
    return data.draw(PERCENT) >= 100 - percent


def tx_rule(submit: Callable[[LedgerMachine, st.DataObject], None]) -> Any:
    """A rule that submits transactions, then (about one time in eight) cuts the block: blocks
    get random sizes whichever rules Hypothesis favours."""

    @rule(data=st.data())
    @functools.wraps(submit)
    def step(self: LedgerMachine, data: st.DataObject) -> None:
        submit(self, data)
        if chance(data, 12):
            self.commit_block(data.draw(choice(TIME_STEPS), label="block, time step"))

    return step


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = State(CONFIG)
        self.shadow = State(CONFIG)
        self.model = Model()
        self.time = T0
        self.maker = TxMaker(CHAIN, lambda: self.time, nonces=counter_nonces())
        #: (submitted transactions, block time, state root, results) of every block
        self.log: list[tuple[list[Tx], int, bytes, list[dict[str, Any]]]] = []
        self.submitted: list[Sub] = []  # everything ever submitted, for resubmission
        self.withheld: list[Sub] = []  # valid twins of forged transactions, never sent yet
        self.pending: list[Sub] = [Sub(tx) for tx in BOOTSTRAP]
        self.clean = True
        self.commit_block(1)
        self.pending = [Sub(tx) for tx in FIRST_MEMBERS]
        self.commit_block(1)
        assert all(r.reason is Reason.OK for _, _, _, results in self.log for r in results)

    # -- choosing (by name, so that a failing example reads as a story) --------------------------
    def names(self, account_ids: Any) -> list[str]:
        return sorted(name(a) for a in account_ids)

    def pick_account(self, data: st.DataObject, label: str = "account") -> str:
        """Mostly an existing account, sometimes one that does not exist (or not yet)."""
        existing = self.names(self.model.accounts)
        if chance(data, 8):
            existing = KNOWN_NAMES
        return ID_BY_NAME[data.draw(choice(existing), label=label)]

    def pick_member(self, data: st.DataObject, code: str, label: str, active: bool = False,
                    other_than: str = "") -> str:
        """Mostly a (preferably active) member of ``code``, else any account."""
        members = self.names(a for (a, c), m in self.model.members.items()
                             if c == code and (m.status == "active" or not active)
                             and a != other_than)
        if members and not chance(data, 15):
            return ID_BY_NAME[data.draw(choice(members), label=label)]
        return self.pick_account(data, label)

    def pick_currency(self, data: st.DataObject) -> str:
        """LIEN mostly, ECO once it exists, and sometimes a currency that does not exist."""
        if chance(data, 6):
            code = data.draw(choice([ZED, ECO]), label="currency")
        elif ECO in self.model.currencies and chance(data, 35):
            code = ECO
        else:
            code = LIEN
        return code

    def pick_holder(self, data: st.DataObject, code: str, role: str) -> str:
        holders = self.names(self.model.holders(code, role)) if code in self.model.currencies else []
        if not holders or chance(data, 8):
            return self.pick_account(data, "by")
        return ID_BY_NAME[data.draw(choice(holders), label="by")]

    def pick_key(self, data: st.DataObject, label: str = "key") -> str:
        """Mostly a spare key (free unless a till or a recovery took it), else a pool key."""
        names = POOL_NAMES if chance(data, 25) else SPARE_NAMES
        return MEMBER_BY_NAME[data.draw(choice(names), label=label)].public_key

    def signers_for(self, data: st.DataObject, account_id: str) -> list[Member]:
        """An owner key of the account, or (sometimes, or when it has none) a wrong key."""
        account = self.model.accounts.get(account_id)
        if account is None or chance(data, 6):
            wrong = data.draw(choice(sorted(MEMBER_BY_NAME)), label="wrong signer")
            return [MEMBER_BY_NAME[wrong]]
        keys = sorted(account.keys)
        return [BY_KEY[keys[data.draw(st.integers(0, len(keys) - 1), label="signing key")]]]

    def admin_signers(self, data: st.DataObject, code: str, by: str) -> list[Member]:
        """``by``'s key plus none, some or all of the other admins (quorum met or not)."""
        signers = self.signers_for(data, by)
        others = []
        if code in self.model.currencies:
            others = [a for a in self.names(self.model.holders(code, "admin")) if a != name(by)]
        if others:
            extra = data.draw(st.lists(choice(others), max_size=3, unique=True),
                              label="co-signing admins")
            for admin in extra:
                member = BY_KEY[min(self.model.accounts[ID_BY_NAME[admin]].keys)]
                if member not in signers:
                    signers.append(member)
        return signers

    def submit(self, tx: Tx, forged: bool = False) -> None:
        sub = Sub(tx, forged)
        self.pending.append(sub)
        self.submitted.append(sub)

    def make(self, signers: list[Member], type_: str, **fields: Any) -> None:
        self.submit(self.maker.make(signers, type_, **fields))

    # -- the block ---------------------------------------------------------------------------------
    @rule(step=choice(TIME_STEPS))
    def commit(self, step: int) -> None:
        self.commit_block(step)

    def commit_block(self, step: int) -> None:
        self.clean = False
        time_ms = self.time + step
        subs, self.pending = self.pending, []
        txs = [s.tx for s in subs]
        admission = {tx.id: signer_refusal(self.state, tx) for tx in txs}
        recoveries_due = any(
            account.recovery is not None and account.recovery.effective_ms <= time_ms
            for account in (self.state.accounts[a] for a in self.state.pending_recoveries))
        outcome = apply_block(self.state, txs, time_ms, verify_signatures=True, check=False)
        assert_money_rules(self.state)
        assert_governable(self.state)
        self.check_against_model(subs, outcome, time_ms)
        self.check_signer_rule(admission, outcome, unchanged=not recoveries_due)

        differences = index_differences(self.state, reload(self.state))
        assert not differences, "indexes differ from a rebuild:\n" + "\n".join(differences)

        if len(self.log) % 3 == 0:  # the shadow node restarts from its records now and then
            self.shadow = reload(self.shadow)
        shadow = apply_block(self.shadow, outcome.txs, time_ms, verify_signatures=False)
        assert not shadow.dropped
        assert shadow.results == outcome.results
        assert shadow.state_root == outcome.state_root == self.state.state_root

        self.log.append((txs, time_ms, outcome.state_root, outcome.results))
        self.time = time_ms
        self.clean = True

    def check_against_model(self, subs: list[Sub], outcome: Any, time_ms: int) -> None:
        model = self.model
        model.start_block(time_ms)
        included = iter(zip(outcome.txs, outcome.results, strict=True))
        dropped = iter(outcome.dropped)
        in_block: set[str] = set()
        for sub in subs:
            expected_drop = model.admission(sub, in_block)
            if expected_drop is not None:
                tx, error = next(dropped, (None, None))
                assert tx is sub.tx, f"{sub.tx.type} should be dropped ({expected_drop})"
                assert error.reason in expected_drop, (error.reason, expected_drop)
                event(f"dropped: {error.reason}")
                continue
            in_block.add(sub.tx.id)
            tx, result = next(included, (None, None))
            assert tx is sub.tx, f"{sub.tx.type} should be included, not dropped"
            problems, effect, extra = model.predict(tx)
            event(f"{tx.type}: {result.reason}")
            what = f"{tx.type} {tx.body}: ledger says {result}"
            if problems:
                assert result.reason in problems, f"model expects one of {problems}; {what}"
            else:
                assert result.to_json() == {"code": "ok", **extra}, f"model expects ok {extra}; {what}"
                effect()
        assert next(included, None) is None and next(dropped, None) is None
        model.executed |= in_block
        differences = model.differences(self.state)
        assert not differences, "model and ledger differ:\n" + "\n".join(differences)

    def check_signer_rule(self, admission: dict[str, Reason | None], outcome: Any,
                          unchanged: bool) -> None:
        """What admission refuses could only be refused: until a transaction of the block
        changes the state (an ``ok``; a due recovery, before the first), none it refused on
        the block's starting state executes ``ok``."""
        for tx, result in zip(outcome.txs, outcome.results, strict=True):
            refusal = admission[tx.id]
            if refusal is not None:
                event(f"signer rule: {refusal.value}")
            if result.reason is Reason.OK:
                assert not (unchanged and refusal is not None), (
                    f"admission refuses ({refusal}) {tx.type} {tx.body}, which executes ok")
                unchanged = False

    def teardown(self) -> None:
        if not self.clean:
            return  # a step failed: that failure is the report
        if self.pending:
            self.commit_block(1)
        self.replay_from_genesis()

    def replay_from_genesis(self) -> None:
        fresh = State(CONFIG)
        for height, (txs, time_ms, root, results) in enumerate(self.log, start=1):
            wire = [decode_tx(tx.encode()) for tx in txs]
            outcome = apply_block(fresh, wire, time_ms, verify_signatures=True)
            fresh.take_changes()  # what the node's write-behind does after each block
            assert outcome.results == results, f"block {height}: other results on replay"
            assert outcome.state_root == root, f"block {height}: other state root on replay"
        assert fresh.all_lines() == self.state.all_lines()
        check_all_invariants(fresh)

    # -- accounts and memberships -------------------------------------------------------------------
    @tx_rule
    def onboard(self, data: st.DataObject) -> None:
        """The usual way in: open (or join) and an active admin approves, in one block."""
        newcomers = {code: [n for n in POOL_NAMES if (ID_BY_NAME[n], code) not in
                            self.model.members] for code in self.model.currencies}
        codes = [code for code in (LIEN, ECO) if newcomers.get(code)]
        if not codes:
            return  # everyone is in: the other rules have plenty to do
        code = codes[0] if len(codes) == 1 or chance(data, 70) else codes[1]
        member = MEMBER_BY_NAME[data.draw(choice(newcomers[code]), label="member")]
        kind = data.draw(choice(["personal", "business", *KINDS]), label="kind")
        if member.account in self.model.accounts:
            self.make(self.signers_for(data, member.account), "join_currency",
                      account=member.account, currency=code)
        else:
            self.make([member], "open_account", account=member.account,
                      key=member.public_key, kind=kind, currency=code)
        admins = [a for a in self.model.holders(code, "admin")
                  if self.model.members[(a, code)].status == "active"]
        if admins:
            admin = data.draw(choice(self.names(admins)), label="approved by")
            by = ID_BY_NAME[admin]
            self.make(self.signers_for(data, by), "set_status", by=by, currency=code,
                      account=member.account, status="active")

    @tx_rule
    def onboard_too(self, data: st.DataObject) -> None:
        self.onboard(data)

    @tx_rule
    def open_account(self, data: st.DataObject) -> None:
        member = MEMBER_BY_NAME[data.draw(choice(POOL_NAMES), label="member")]
        kind = data.draw(choice(KINDS), label="kind")
        currency = data.draw(choice([LIEN, None, ECO, ZED]), label="currency")
        account, signer = member.account, member
        if chance(data, 20):
            account = self.pick_account(data, "not the key's account")
        if chance(data, 20):
            signer = MEMBER_BY_NAME[data.draw(choice(sorted(MEMBER_BY_NAME)),
                                              label="not the opening key")]
        fields = {"account": account, "key": member.public_key, "kind": kind}
        if currency:
            fields["currency"] = currency
        self.make([signer], "open_account", **fields)

    @tx_rule
    def join_currency(self, data: st.DataObject) -> None:
        account = self.pick_account(data)
        self.make(self.signers_for(data, account), "join_currency", account=account,
                  currency=self.pick_currency(data))

    @tx_rule
    def set_status(self, data: st.DataObject) -> None:
        code = self.pick_currency(data)
        by = self.pick_holder(data, code, "admin")
        status = data.draw(choice(["active", "locked", "closed", "pending"]),
                           label="status")
        self.make(self.signers_for(data, by), "set_status", by=by, currency=code,
                  account=self.pick_member(data, code, "account"), status=status)

    @tx_rule
    def set_roles(self, data: st.DataObject) -> None:
        code = self.pick_currency(data)
        by = self.pick_holder(data, code, "admin")
        roles = list(data.draw(choice([(), ("issuer",), ("admin",), ("admin", "issuer")]),
                               label="roles"))
        self.make(self.admin_signers(data, code, by), "set_roles", by=by, currency=code,
                  account=self.pick_member(data, code, "account"), roles=roles)

    @tx_rule
    def set_limits(self, data: st.DataObject) -> None:
        code = self.pick_currency(data)
        by = self.pick_holder(data, code, "admin")
        account = self.pick_member(data, code, "account")
        m = self.model.members.get((account, code))
        if m is not None and chance(data, 25):  # as tight as the balance allows, or tighter
            floor, ceiling = min(0, m.credit), max(0, m.credit)
            if chance(data, 50):
                floor, ceiling = (floor + 1, ceiling) if floor < 0 else (floor, max(0, ceiling - 1))
        else:
            floor = data.draw(choice([-20_000, 0, -100_000, -100_001, -300_000]),
                              label="floor")
            ceiling = data.draw(choice([200_000, 0, 5_000, 100_000, 100_001, 300_000]),
                                label="ceiling")
        self.make(self.admin_signers(data, code, by), "set_limits", by=by, currency=code,
                  account=account, floor=floor, ceiling=ceiling)

    # -- money ---------------------------------------------------------------------------------------
    @tx_rule
    def issue(self, data: st.DataObject) -> None:
        code = self.pick_currency(data)
        by = self.pick_holder(data, code, "issuer")
        signers = self.signers_for(data, by)
        if chance(data, 50):
            signers += [m for m in self.admin_signers(data, code, by)[1:] if m not in signers]
        amount = data.draw(st.one_of(
            st.integers(1, 50_000),  # small: the issuer alone
            st.integers(1, 50_000),
            choice([500_000, 500_001]),  # at the quorum threshold
            st.integers(500_001, 2_000_000),  # above it: the admins' quorum too
        ), label="amount")
        self.make(signers, "issue", by=by, currency=code,
                  to=self.pick_member(data, code, "to", active=True), amount=amount,
                  deposit_ref="dépôt")

    @tx_rule
    def issue_too(self, data: st.DataObject) -> None:
        self.issue(data)

    @tx_rule
    def reconvert(self, data: st.DataObject) -> None:
        code = self.pick_currency(data)
        businesses = self.names(a for (a, c), m in self.model.members.items()
                                if c == code and self.model.accounts[a].kind == "business")
        if businesses and not chance(data, 25):
            account = ID_BY_NAME[data.draw(choice(businesses), label="business")]
        else:
            account = self.pick_member(data, code, "account")  # mostly not a business
        m = self.model.members.get((account, code))
        nantie = m.nantie if m is not None else 0
        amount = data.draw(st.one_of(
            choice([max(1, nantie), max(1, nantie // 2), nantie + 1]),
            st.integers(1, 20_000),
        ), label="amount")
        self.make(self.signers_for(data, account), "reconvert", account=account, currency=code,
                  amount=amount, payout_ref="virement")

    def payment_fields(self, data: st.DataObject, payer: str, code: str) -> dict[str, Any]:
        """Amount and split: within means, exactly all, one too many, or anything."""
        m = self.model.members.get((payer, code))
        available = self.model.available(payer, code)
        amount = data.draw(st.one_of(
            st.integers(1, max(1, available // 2)),
            st.integers(1, max(1, available)),
            choice([max(1, available), available + 1]),
            st.integers(1, 400_000),
        ), label="amount")
        fields: dict[str, Any] = {"amount": amount}
        if chance(data, 35):  # the payer chooses the split
            nantie = m.nantie if m is not None else 0
            fields["nantie"] = data.draw(st.one_of(
                choice([min(amount, nantie), min(amount, nantie + 1), 0, amount]),
                st.integers(0, amount),
            ), label="nantie part")
        if chance(data, 15):
            fields["memo"] = "café ☕"
            fields["reference"] = "facture 12"
            fields["invoice_minor"] = amount
        return fields

    @tx_rule
    def transfer(self, data: st.DataObject) -> None:
        code = self.pick_currency(data)
        payer = self.pick_member(data, code, "payer", active=True)
        payee = self.pick_member(data, code, "payee", active=True, other_than=payer)
        fields = self.payment_fields(data, payer, code)
        self.make(self.signers_for(data, payer), "transfer", **{"from": payer}, to=payee,
                  currency=code, **fields)

    @tx_rule
    def transfer_too(self, data: st.DataObject) -> None:
        self.transfer(data)

    @tx_rule
    def transfer_again(self, data: st.DataObject) -> None:
        self.transfer(data)

    @tx_rule
    def transfer_once_more(self, data: st.DataObject) -> None:
        self.transfer(data)

    @precondition(lambda self: any(a.delegations for a in self.model.accounts.values()))
    @tx_rule
    def till_payment(self, data: st.DataObject) -> None:
        """A payment signed by a delegated key (a cashier's till), within its caps or not."""
        tills = sorted((name(a), name(BY_KEY[k].account)) for a, acc in self.model.accounts.items()
                       for k in acc.delegations)
        if not chance(data, 10):
            payer_name, till_name = data.draw(choice(tills), label="business, till")
            payer, key = ID_BY_NAME[payer_name], MEMBER_BY_NAME[till_name].public_key
            code, per_payment, total, spent = self.model.accounts[payer].delegations[key]
            if chance(data, 15):
                code = self.pick_currency(data)  # the till is for another currency
            fields = self.payment_fields(data, payer, code)
            if chance(data, 50):
                fields.pop("nantie", None)
                fields["amount"] = data.draw(choice(
                    [per_payment, per_payment + 1, max(1, total - spent), total - spent + 1]
                ), label="amount at the caps")
            signer = BY_KEY[key]
        else:
            code = self.pick_currency(data)
            payer = self.pick_member(data, code, "payer")
            fields = self.payment_fields(data, payer, code)
            signer = BY_KEY[self.pick_key(data, "not a till")]
        self.make([signer], "transfer", **{"from": payer},
                  to=self.pick_member(data, code, "payee", active=True, other_than=payer),
                  currency=code, **fields)

    # -- keys ----------------------------------------------------------------------------------------
    @tx_rule
    def delegate(self, data: st.DataObject) -> None:
        businesses = self.names(a for a, acc in self.model.accounts.items()
                                if acc.kind == "business")
        if businesses and not chance(data, 25):
            account = ID_BY_NAME[data.draw(choice(businesses), label="business")]
        else:
            account = self.pick_account(data)
        self.make(self.signers_for(data, account), "delegate", account=account,
                  currency=self.pick_currency(data), key=self.pick_key(data, "till"),
                  cap_total_minor=(total := data.draw(st.integers(1, 60_000), label="in total")),
                  cap_per_payment_minor=data.draw(st.integers(1, min(total, 20_000)),
                                                  label="per payment"))

    @tx_rule
    def revoke_delegation(self, data: st.DataObject) -> None:
        tills = sorted((name(a), name(BY_KEY[k].account)) for a, acc in self.model.accounts.items()
                       for k in acc.delegations)
        if tills and not chance(data, 20):
            account_name, till_name = data.draw(choice(tills), label="business, till")
            account, key = ID_BY_NAME[account_name], MEMBER_BY_NAME[till_name].public_key
        else:
            account, key = self.pick_account(data), self.pick_key(data, "till")
        self.make(self.signers_for(data, account), "revoke_delegation", account=account, key=key)

    @tx_rule
    def rotate_key(self, data: st.DataObject) -> None:
        account = self.pick_account(data)
        own = self.names(BY_KEY[k].account for k in self.model.accounts.get(account, MISSING).keys)
        add = data.draw(st.lists(choice(SPARE_NAMES + POOL_NAMES), max_size=2,
                                 unique=True), label="add keys of")
        remove = data.draw(st.lists(choice(own + POOL_NAMES[:2]), max_size=2,
                                    unique=True), label="remove keys of")
        self.make(self.signers_for(data, account), "rotate_key", account=account,
                  add=[MEMBER_BY_NAME[n].public_key for n in add],
                  remove=[MEMBER_BY_NAME[n].public_key for n in remove])

    @tx_rule
    def recover_key(self, data: st.DataObject) -> None:
        code = self.pick_currency(data)
        by = self.pick_holder(data, code, "admin")
        self.make(self.admin_signers(data, code, by), "recover_key", by=by, currency=code,
                  account=self.pick_member(data, code, "account"),
                  key=self.pick_key(data, "new key"))

    @precondition(lambda self: any(a.recovery for a in self.model.accounts.values()))
    @tx_rule
    def veto_recovery(self, data: st.DataObject) -> None:
        pending = self.names(a for a, acc in self.model.accounts.items()
                             if acc.recovery is not None)
        if pending and not chance(data, 20):
            account = ID_BY_NAME[data.draw(choice(pending), label="account")]
        else:
            account = self.pick_account(data)
        self.make(self.signers_for(data, account), "veto_recovery", account=account)

    # -- governance --------------------------------------------------------------------------------
    @precondition(lambda self: ECO not in self.model.currencies)
    @tx_rule
    def create_currency(self, data: st.DataObject) -> None:
        existing = self.names(self.model.accounts)
        admins = data.draw(st.lists(choice(existing), min_size=1, max_size=3,
                                    unique=True), label="admins")
        issuers = data.draw(st.lists(choice(existing), max_size=2, unique=True),
                            label="issuers")
        policy = {
            **POLICY,
            "association": self.pick_account(data, "association"),
            "admin_quorum": data.draw(st.integers(1, 2), label="admin quorum"),
            "reconversion_fee_bp": data.draw(choice([0, 250, 10_000]), label="fee"),
        }
        signer = GOVERNOR
        if chance(data, 15):
            signer = MEMBER_BY_NAME[data.draw(choice(sorted(MEMBER_BY_NAME)),
                                              label="not the governor")]
        code = ECO if not chance(data, 10) else LIEN  # LIEN: currency_exists
        self.make([signer], "create_currency", code=code, policy=policy,
                  admins=[ID_BY_NAME[a] for a in admins], issuers=[ID_BY_NAME[i] for i in issuers])

    @tx_rule
    def set_policy(self, data: st.DataObject) -> None:
        code = self.pick_currency(data)
        by = self.pick_holder(data, code, "admin")
        current = self.model.currencies[code].policy if code in self.model.currencies else POLICY
        association = current["association"]
        if chance(data, 30):
            association = self.pick_account(data, "association")
        policy = {
            **current,
            "association": association,
            "admin_quorum": data.draw(choice([2, 1, 3, 4]), label="admin quorum"),
            "reconversion_fee_bp": data.draw(choice([500, 0, 1, 9_999, 10_000]),
                                             label="fee"),
            "issue_quorum_above_minor": data.draw(choice([500_000, 0, 1_000]),
                                                  label="issue quorum above"),
            "credit_floor_default_minor": data.draw(choice([-20_000, 0, -1]),
                                                    label="default floor"),
            "credit_ceiling_default_minor": data.draw(choice([200_000, 0, 1]),
                                                      label="default ceiling"),
            "recovery_delay_ms": data.draw(choice([20_000, 0, 1_000]),
                                           label="recovery delay"),
        }
        self.make(self.admin_signers(data, code, by), "set_policy", by=by, currency=code,
                  policy=policy)

    # -- what never enters a block -----------------------------------------------------------------
    @tx_rule
    def junk(self, data: st.DataObject) -> None:
        what = data.draw(choice(["resubmit", "forged", "stale", "too_far",
                                          "other_chain"]), label="junk")
        if what == "resubmit":
            candidates = self.submitted + self.withheld
            if candidates:
                sub = candidates[data.draw(st.integers(0, len(candidates) - 1), label="which")]
                if sub in self.withheld:
                    self.withheld.remove(sub)
                self.submit(sub.tx, sub.forged)
            return
        payer = MEMBER_BY_NAME[data.draw(choice(POOL_NAMES), label="payer")]
        payee = MEMBER_BY_NAME[data.draw(choice(POOL_NAMES), label="payee")]
        body = self.maker.body("transfer", **{"from": payer.account}, to=payee.account,
                               currency=LIEN, amount=data.draw(st.integers(1, 1_000)))
        if what == "stale":
            body["expires"] = self.time - data.draw(choice([0, 1, TX_EXPIRY_MS]))
        elif what == "too_far":
            body["expires"] = self.time + 24 * 3600 * 1000 + TX_EXPIRY_MS + 1
        elif what == "other_chain":
            body["chain"] = "another-chain"
        tx = sign_body(body, [payer.key])
        if what == "forged":
            self.withheld.append(Sub(tx))
            sig = bytearray(tx.signatures[0].sig)
            sig[data.draw(st.integers(0, 63))] ^= 1 << data.draw(st.integers(0, 7))
            tx = Tx(tx.id, tx.body, tx.body_bytes, (Signature(payer.public_key, bytes(sig)),))
        self.submit(tx, forged=what == "forged")


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = PROFILE


def signer_refusal(state: State, tx: Tx) -> Reason | None:
    try:
        check_signer(state, tx)
    except TxError as error:
        return error.reason
    return None


# -- the checks can fail ------------------------------------------------------------------------------
def _funded_state() -> tuple[State, list[str]]:
    state = State(CONFIG)
    apply_block(state, BOOTSTRAP, T0 + 1)
    maker = TxMaker(CHAIN, lambda: T0 + 1, nonces=counter_nonces())
    a, b = POOL[0], POOL[1]
    outcome = apply_block(state, [
        maker.open(a), maker.open(b), maker.approve(ADMINS[0], a), maker.approve(ADMINS[0], b),
        maker.issue([COMPTOIR], a, 10_000), maker.pay(a, b, 15_000),
    ], T0 + 2)
    assert [r.reason for r in outcome.results] == ["ok"] * 6
    check_all_invariants(state)
    assert_money_rules(state)
    return state, [a.account, b.account]


def _corrupt_nantie(state: State, a: str, b: str) -> None:
    state.memberships[(a, LIEN)].nantie += 1  # a balance changed without the totals


def _corrupt_credit_sum(state: State, a: str, b: str) -> None:
    state.memberships[(a, LIEN)].credit += 7  # totals follow, but credit no longer sums to 0
    state.totals[LIEN].credit += 7


def _corrupt_supply(state: State, a: str, b: str) -> None:
    state.currencies[LIEN].issued_minor += 1


def _corrupt_negative_nantie(state: State, a: str, b: str) -> None:
    state.memberships[(a, LIEN)].nantie -= 20_000  # sums unchanged, one balance below 0
    state.memberships[(b, LIEN)].nantie += 20_000


def _corrupt_below_floor(state: State, a: str, b: str) -> None:
    state.memberships[(a, LIEN)].credit -= 50_000  # sums unchanged, one credit below its floor
    state.memberships[(b, LIEN)].credit += 50_000


def _corrupt_floor_above_zero(state: State, a: str, b: str) -> None:
    m = state.memberships[(b, LIEN)]
    m.floor = 1
    m.credit, m.ceiling = 1, max(m.ceiling, 1)
    state.memberships[(a, LIEN)].credit -= 1


@pytest.mark.parametrize("corrupt", [
    _corrupt_nantie, _corrupt_credit_sum, _corrupt_supply, _corrupt_negative_nantie,
    _corrupt_below_floor, _corrupt_floor_above_zero,
])
def test_a_corrupted_state_is_caught(corrupt: Any) -> None:
    state, (a, b) = _funded_state()
    corrupt(state, a, b)
    with pytest.raises(InvariantBroken):
        check_all_invariants(state)
    with pytest.raises(AssertionError):
        assert_money_rules(state)


MUTANT_SETTINGS = settings(
    PROFILE, max_examples=100, phases=[Phase.generate], print_blob=False
)


def test_the_machine_catches_a_payment_below_the_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A default split that forgets the floor (whichever check sees it first)."""

    def split_without_floor(payer: Any, amount: int) -> tuple[int, int]:
        nantie = min(amount - min(amount, max(payer.credit, 0)), payer.nantie)
        return nantie, amount - nantie

    monkeypatch.setattr(transfer, "default_split", split_without_floor)
    with pytest.raises(AssertionError, match="outside|model expects"):
        run_state_machine_as_test(LedgerMachine, settings=MUTANT_SETTINGS)


def test_the_machine_catches_a_fee_counted_as_reconverted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same results, same balances, but the fee also counted as destroyed: supply drifts from
    the balances, and the money rules of this file (checked before the model) must say so."""
    reconvert = Reconvert.execute

    def reconvert_counting_the_fee(self: Reconvert, state: State, tx: Tx) -> Result:
        result = reconvert(self, state, tx)
        state.currencies[tx.body["currency"]].reconverted_minor += int(result.value("fee"))
        return result

    monkeypatch.setattr(Reconvert, "execute", reconvert_counting_the_fee)
    with pytest.raises(AssertionError, match="sums to"):
        run_state_machine_as_test(LedgerMachine, settings=MUTANT_SETTINGS)


def test_the_machine_catches_an_admission_rule_that_refuses_what_executes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Joining a currency asked of its active members (it never is one yet): the ledger and
    the model agree on every result, only the signer check of this file can catch it."""
    monkeypatch.setattr(JoinCurrency, "signers", "member")
    with pytest.raises(AssertionError, match="admission refuses"):
        run_state_machine_as_test(LedgerMachine, settings=MUTANT_SETTINGS)


def test_the_machine_catches_a_missing_quorum(monkeypatch: pytest.MonkeyPatch) -> None:
    """M-of-N never enforced keeps every sum right: only the reference model can catch it."""
    monkeypatch.setattr(common, "check_quorum", lambda state, tx, code: None)
    with pytest.raises(AssertionError, match="model expects one of"):
        run_state_machine_as_test(LedgerMachine, settings=MUTANT_SETTINGS)


# ================================================================================================
# Standing orders: random orders, revocations, payments and blocks far apart in time
# ================================================================================================
DAY = 86_400_000
#: how far an empty block moves time: nothing, a moment, a day, a week, a month, a year
ORDER_TIME_STEPS = (0, 1, 1_000, DAY, 7 * DAY, 31 * DAY, 366 * DAY)
ORDER_AMOUNTS = (1, 700, 2_500, 10_000, 40_000)
ORDER_FIRST_DUE = (-1_000, 0, 1, 1_000, DAY, 30 * DAY)


class OrdersMachine(RuleBasedStateMachine):
    """Members make (valid and invalid) standing orders, revoke them (as payer, payee or a
    stranger), pay each other and receive nantie, while blocks move time by up to a year, so
    that orders run, fail for lack of funds, skip missed periods and finish. After every block:
    the money rules (mutual credit sums to 0, nantie to issued − reconverted, none negative);
    the runs of the block are exactly the active orders that were due, first in the block, each
    counted once; no active order is left due. At the end, a replay from genesis gives the same
    state roots and the same records."""

    def __init__(self) -> None:
        super().__init__()
        self.w = World()
        self.members = [self.w.join(nantie=n) for n in (20_000, 5_000, 0)]
        self.members.append(self.w.join("business", nantie=1_000))
        self.pending: list[Tx] = []
        self.made: list[str] = []  #: ids of every standing_order submitted
        self.clean = True

    def pick(self, data: st.DataObject, label: str) -> Member:
        return self.members[data.draw(st.integers(0, len(self.members) - 1), label=label)]

    @rule(data=st.data())
    def standing_order(self, data: st.DataObject) -> None:
        payer, payee = self.pick(data, "payer"), self.pick(data, "payee")
        period = data.draw(choice(("once", "weekly", "monthly")), label="period")
        bounds: dict[str, int] = {}
        if period != "once" and chance(data, 40):
            bounds["count_max"] = data.draw(st.integers(1, 4), label="count_max")
        first = self.w.time_ms + 1 + data.draw(choice(ORDER_FIRST_DUE), label="first due")
        if period != "once" and chance(data, 30):
            bounds["until_ms"] = first + data.draw(choice((0, 20 * DAY, 100 * DAY)), label="until")
        tx = self.w.mk.standing_order(payer, payee, data.draw(choice(ORDER_AMOUNTS), label="amount"),
                                      max(first, 0), period, **bounds)
        self.made.append(tx.id)
        self.pending.append(tx)

    @precondition(lambda self: bool(self.made))
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        order = data.draw(choice(self.made), label="order")
        self.pending.append(self.w.mk.revoke_order(self.pick(data, "by"), order))

    @rule(data=st.data())
    def pay(self, data: st.DataObject) -> None:
        payer, payee = self.pick(data, "payer"), self.pick(data, "payee")
        self.pending.append(self.w.mk.pay(payer, payee, data.draw(choice(ORDER_AMOUNTS))))

    @rule(data=st.data())
    def issue(self, data: st.DataObject) -> None:
        self.pending.append(self.w.mk.issue([self.w.comptoir], self.pick(data, "to"), 3_000))

    @rule(step=choice(ORDER_TIME_STEPS))
    def commit(self, step: int) -> None:
        self.clean = False
        if self.pending:  # the transactions, before they expire; then time moves on
            txs, self.pending = self.pending, []
            self.block(txs, 1)
        self.block([], step)
        self.clean = True

    def block(self, txs: list[Tx], step: int) -> None:
        time_ms = self.w.time_ms + step
        due = {o.id: o.runs for o in self.w.state.orders.values() if o.next_due_ms <= time_ms}
        out = self.w.block(txs, step)
        assert_money_rules(self.w.state)
        runs = [tx for tx in out.txs if tx.type == "order_run"]
        assert out.txs[: len(runs)] == runs, "the runs come first in the block"
        assert sorted(r.body["order"] for r in runs) == sorted(due), "runs are the orders due"
        for tx, result in zip(out.txs, out.results, strict=True):
            if tx.type != "order_run":
                continue
            event(f"order_run: {result.reason}")
            assert tx.body["run"] == due[tx.body["order"]] + 1
            if result.reason is Reason.OK:
                paid = result.to_json()
                assert paid["nantie"] + paid["credit"] == tx.body["amount"]
        for order in self.w.state.orders.values():
            assert order.status == "active" and order.next_due_ms > time_ms, order
            assert not order.count_max or order.runs < order.count_max, order

    def teardown(self) -> None:
        if self.clean:
            self.w.replay(take_changes=True)


def test_standing_orders_keep_the_money_rules_and_replay_the_same() -> None:
    run_state_machine_as_test(OrdersMachine, settings=settings(
        PROFILE, max_examples=60, stateful_step_count=40))


def test_the_orders_machine_catches_a_run_charged_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A schedule that never moves past the block (a refused run retried, missed periods
    charged in bulk): the order stays due, which the machine sees after the block."""
    import lien.ledger.orders as orders

    real = orders.next_due
    monkeypatch.setattr(orders, "next_due", lambda order, time_ms: (
        None if real(order, time_ms) is None else order.next_due_ms))
    with pytest.raises(AssertionError, match=r"runs are the orders due|Order\("):
        run_state_machine_as_test(OrdersMachine, settings=MUTANT_SETTINGS)
