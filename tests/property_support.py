"""Helpers of tests/test_ledger_properties.py: fixed keys, a deterministic genesis, and an
independent reference model of the ledger.

The model is deliberately naive: plain dicts and sets, no indexes, no running totals, written
from DESIGN.md §5-6 and the execution rules of docs/protocol.md, not from ``execute.py``. For each
transaction it computes the *set of reasons that apply* — every refusal that is true of the
transaction in the current state. The ledger must then return ``ok`` exactly when that set is
empty, and otherwise one of its members (the order in which the ledger checks is its own
business). On ``ok`` the model applies the effect it expects, and after every block the whole
model is compared with the ledger's state: a refused transaction must have changed nothing.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from lien.ledger import (
    ChainConfig,
    Currency,
    Reason,
    State,
    Tx,
    account_id_for_key,
    limits,
)
from lien.node.genesis import DEFAULT_POLICY
from lien.wallet import Member, TxMaker

R = Reason
T0 = 1_800_000_000_000
LIEN = "LIEN"
ECO = "ECO"  # created during a run by the governor
ZED = "ZED"  # never created: an unknown currency
KINDS = ("personal", "business", "association", "comptoir")
TX_EXPIRY_MS = 10 * 60 * 1000
RECOVERY_DELAY_MS = 20_000

#: Keys are generated once, from fixed seeds: key generation and signing dominate the runtime
#: and fixed ids make a failing sequence read the same on every run.
POOL = [Member.from_seed(bytes([i]) * 32, "personal", f"m{i}") for i in range(1, 15)]
#: Keys that never open an account by themselves: tills, recovered and added keys.
SPARE = [Member.from_seed(bytes([i]) * 32, "personal", f"k{i - 49}") for i in range(50, 56)]
GOVERNOR = Member.from_seed(bytes([200]) * 32, "association", "governor")
ADMINS = [Member.from_seed(bytes([201 + i]) * 32, "association", f"admin{i}") for i in range(3)]
ASSOCIATION = Member.from_seed(bytes([210]) * 32, "association", "association")
COMPTOIR = Member.from_seed(bytes([211]) * 32, "comptoir", "comptoir")
VALIDATOR = nacl.signing.SigningKey(bytes([212]) * 32)
GENESIS_MEMBERS = [*ADMINS, ASSOCIATION, COMPTOIR]
ALL_MEMBERS = [*POOL, *SPARE, *GENESIS_MEMBERS, GOVERNOR]
BY_KEY = {m.public_key: m for m in ALL_MEMBERS}
NAMES = {m.account: m.name for m in ALL_MEMBERS}
#: A well-formed account id that no key of ours opens.
GHOST = account_id_for_key(bytes([255]) * 32)
NAMES[GHOST] = "ghost"
ID_BY_NAME = {name: account_id for account_id, name in NAMES.items()}
MEMBER_BY_NAME = {m.name: m for m in ALL_MEMBERS}

POLICY = {
    **DEFAULT_POLICY,
    "association": ASSOCIATION.account,
    "recovery_delay_ms": RECOVERY_DELAY_MS,
}
CONFIG = ChainConfig.new("lien-prop", T0, validators=(bytes(VALIDATOR.verify_key).hex(),),
                         governors=(GOVERNOR.public_key,), governor_quorum=1)
CHAIN = CONFIG.chain_id


def counter_nonces(prefix: str = "n") -> Iterator[str]:
    return (f"{prefix}{i}" for i in itertools.count())


def bootstrap_txs() -> list[Tx]:
    """Open the genesis accounts and create LIEN with 3 admins (quorum 2) and a comptoir."""
    maker = TxMaker(CHAIN, lambda: T0, nonces=counter_nonces("g"))
    txs = [maker.open(m, currency=None) for m in GENESIS_MEMBERS]
    txs.append(
        maker.make(
            [GOVERNOR], "create_currency", code=LIEN, policy=POLICY,
            admins=[a.account for a in ADMINS], issuers=[COMPTOIR.account],
        )
    )
    return txs


def first_members_txs() -> list[Tx]:
    """Block 2 of every run: two personal and two business accounts, approved and funded, so
    that money moves from the first steps on (the other pool keys are opened by the rules)."""
    maker = TxMaker(CHAIN, lambda: T0, nonces=counter_nonces("f"))
    txs = []
    for member, kind in zip(POOL[:4], ("personal", "personal", "business", "business")):
        txs.append(maker.make([member], "open_account", account=member.account,
                              key=member.public_key, kind=kind, currency=LIEN))
        txs.append(maker.approve(ADMINS[0], member))
        txs.append(maker.issue([COMPTOIR], member, 50_000))
    return txs


BOOTSTRAP = bootstrap_txs()
FIRST_MEMBERS = first_members_txs()


@dataclass(slots=True)
class Sub:
    """One submission to a block: the transaction, and whether its signature was forged."""

    tx: Tx
    forged: bool = False


def reload(state: State) -> State:
    """What a node restarting from its database gets: the records only, indexes rebuilt as
    ``lien.store.Store.load_state`` does, and the ids that have not expired yet."""
    fresh = State(state.config)
    for c in state.currencies.values():
        fresh.index_currency(
            Currency(c.code, copy.deepcopy(c.policy), c.issued_minor, c.reconverted_minor)
        )
    for a in state.accounts.values():
        fresh.index_account(copy.deepcopy(a))
    for m in state.memberships.values():
        fresh.index_membership(copy.deepcopy(m))
    fresh.height, fresh.time_ms, fresh.state_root = state.height, state.time_ms, state.state_root
    fresh.seen = {tx_id: expires for tx_id, expires in state.seen.items()
                  if expires > state.time_ms}
    return fresh


def index_differences(live: State, rebuilt: State) -> list[str]:
    """The executor maintains its indexes step by step; they must equal a rebuild."""

    def indexes(state: State) -> dict[str, Any]:
        return {
            "key_owner": state.key_owner,
            "delegate_owner": state.delegate_owner,
            "role_holders": {k: v for k, v in state.role_holders.items() if v},
            "pending_recoveries": state.pending_recoveries,
            "totals": {c: (t.nantie, t.credit) for c, t in state.totals.items()},
        }

    a, b = indexes(live), indexes(rebuilt)
    return [f"{name}: {a[name]} != {b[name]}" for name in a if a[name] != b[name]]


# -- the reference model ---------------------------------------------------------------------------
@dataclass
class MAccount:
    kind: str
    keys: set[str]
    delegations: dict[str, list[Any]] = field(default_factory=dict)  # key -> [cur, pp, tot, spent]
    recovery: tuple[str, str, int] | None = None  # (key, currency, effective_ms)


@dataclass
class MMember:
    status: str
    roles: set[str]
    floor: int
    ceiling: int
    nantie: int = 0
    credit: int = 0


@dataclass
class MCurrency:
    policy: dict[str, Any]
    issued: int = 0
    reconverted: int = 0


TRANSITIONS = {"pending": {"active", "closed"}, "active": {"locked", "closed"},
               "locked": {"active", "closed"}, "closed": set()}


@dataclass
class Expectation:
    """What the model expects of one included transaction."""

    problems: set[str]  #: empty: must be ok
    extra: dict[str, Any] = field(default_factory=dict)  #: fields of an ok result


class Model:
    def __init__(self) -> None:
        self.accounts: dict[str, MAccount] = {}
        self.members: dict[tuple[str, str], MMember] = {}
        self.currencies: dict[str, MCurrency] = {}
        self.executed: set[str] = set()  # ids of every included transaction
        self.time = T0

    # -- reading -----------------------------------------------------------------------------
    def owner(self, key: str) -> str | None:
        for account_id, account in self.accounts.items():
            if key in account.keys:
                return account_id
        return None

    def in_use(self, key: str) -> bool:
        return any(key in a.keys or key in a.delegations for a in self.accounts.values())

    def owner_signed(self, signers: Iterable[str], account_id: str) -> bool:
        account = self.accounts.get(account_id)
        return account is not None and any(k in account.keys for k in signers)

    def holders(self, code: str, role: str) -> list[str]:
        """Accounts holding ``role`` in ``code`` on a membership that is not closed."""
        return sorted(a for (a, c), m in self.members.items()
                      if c == code and role in m.roles and m.status != "closed")

    def active_admins(self, code: str) -> set[str]:
        """Only an active admin can sign: the others do not count towards a quorum."""
        return {a for (a, c), m in self.members.items()
                if c == code and "admin" in m.roles and m.status == "active"}

    def active_admins_signing(self, signers: Iterable[str], code: str) -> set[str]:
        found = set()
        for key in signers:
            account_id = self.owner(key)
            m = self.members.get((account_id or "", code))
            if m is not None and "admin" in m.roles and m.status == "active":
                found.add(account_id)
        return found

    def available(self, account_id: str, code: str) -> int:
        """The largest amount the default split lets this member pay."""
        m = self.members.get((account_id, code))
        return 0 if m is None else m.nantie + m.credit - m.floor

    # -- shared checks, each adding every reason that applies ---------------------------------
    def _account(self, account_id: str, bad: set[str]) -> MAccount | None:
        account = self.accounts.get(account_id)
        if account is None:
            bad.add(R.UNKNOWN_ACCOUNT)
        return account

    def _target(self, account_id: str, code: str, bad: set[str]) -> MMember | None:
        if account_id not in self.accounts:
            bad.add(R.UNKNOWN_ACCOUNT)
            return None
        m = self.members.get((account_id, code))
        if m is None:
            bad.add(R.NOT_MEMBER)
        return m

    def _role(self, signers: list[str], by: str, code: str, role: str, bad: set[str]) -> None:
        if code not in self.currencies:
            bad.add(R.UNKNOWN_CURRENCY)
        if by not in self.accounts:
            bad.add(R.UNKNOWN_ACCOUNT)
            return
        m = self.members.get((by, code))
        if m is None or role not in m.roles:
            bad.add(R.NOT_AUTHORISED)
        elif m.status != "active":
            bad.add(R.ACCOUNT_NOT_ACTIVE)
        if not self.owner_signed(signers, by):
            bad.add(R.NOT_AUTHORISED)

    def _quorum(self, signers: list[str], code: str, bad: set[str]) -> None:
        currency = self.currencies.get(code)
        if currency is not None:
            if len(self.active_admins_signing(signers, code)) < currency.policy["admin_quorum"]:
                bad.add(R.QUORUM_NOT_MET)

    def _new_member(self, code: str, status: str, roles: Iterable[str] = ()) -> MMember:
        policy = self.currencies[code].policy
        return MMember(status, set(roles), policy["credit_floor_default_minor"],
                       policy["credit_ceiling_default_minor"])

    # -- one predictor per transaction type: (reasons that apply, effect, extra result fields) --
    def predict(self, tx: Tx) -> tuple[set[str], Any, dict[str, Any]]:
        signers = list(tx.signer_keys)
        return getattr(self, "p_" + tx.type)(tx.body, signers)

    def p_open_account(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        if account_id_for_key(bytes.fromhex(b["key"])) != b["account"]:
            bad.add(R.ACCOUNT_ID_MISMATCH)
        if b["key"] not in signers:
            bad.add(R.NOT_AUTHORISED)
        if b["account"] in self.accounts:
            bad.add(R.ACCOUNT_EXISTS)
        if self.in_use(b["key"]):
            bad.add(R.KEY_IN_USE)
        code = b.get("currency")
        if code is not None and code not in self.currencies:
            bad.add(R.UNKNOWN_CURRENCY)

        def effect() -> None:
            self.accounts[b["account"]] = MAccount(b["kind"], {b["key"]})
            if code is not None:
                self.members[(b["account"], code)] = self._new_member(code, "pending")

        return bad, effect, {}

    def p_join_currency(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        if self._account(b["account"], bad) is not None and not self.owner_signed(
            signers, b["account"]
        ):
            bad.add(R.NOT_AUTHORISED)
        if b["currency"] not in self.currencies:
            bad.add(R.UNKNOWN_CURRENCY)
        if (b["account"], b["currency"]) in self.members:
            bad.add(R.ALREADY_MEMBER)

        def effect() -> None:
            self.members[(b["account"], b["currency"])] = self._new_member(b["currency"], "pending")

        return bad, effect, {}

    def p_set_status(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        code, new = b["currency"], b["status"]
        self._role(signers, b["by"], code, "admin", bad)
        m = self._target(b["account"], code, bad)
        if m is not None:
            if new not in TRANSITIONS[m.status]:
                bad.add(R.INVALID_TRANSITION)
            if new == "closed" and b["account"] == self.currencies[code].policy["association"]:
                bad.add(R.INVALID_TRANSITION)  # the association must stay able to hold fees
            if m.roles:  # the status of a role holder is governance: the admins' quorum
                self._quorum(signers, code, bad)
            if new == "closed" and (m.nantie or m.credit):
                bad.add(R.BALANCE_NOT_ZERO)
            # an admin that stops being active must leave enough active admins for the quorum
            admins = self.active_admins(code) - {b["account"]}
            if "admin" in m.roles and new != "active" and len(admins) < self.currencies[
                code
            ].policy["admin_quorum"]:
                bad.add(R.QUORUM_IMPOSSIBLE)

        def effect() -> None:
            assert m is not None
            m.status = new

        return bad, effect, {}

    def p_set_roles(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        code = b["currency"]
        self._role(signers, b["by"], code, "admin", bad)
        self._quorum(signers, code, bad)
        m = self._target(b["account"], code, bad)
        if m is not None:
            if m.status == "closed":
                bad.add(R.ACCOUNT_NOT_ACTIVE)
            admins = self.active_admins(code) - {b["account"]}
            if "admin" in b["roles"] and m.status == "active":
                admins.add(b["account"])
            if len(admins) < self.currencies[code].policy["admin_quorum"]:
                bad.add(R.QUORUM_IMPOSSIBLE)

        def effect() -> None:
            assert m is not None
            m.roles = set(b["roles"])

        return bad, effect, {}

    def p_set_limits(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        code, floor, ceiling = b["currency"], b["floor"], b["ceiling"]
        self._role(signers, b["by"], code, "admin", bad)
        m = self._target(b["account"], code, bad)
        if m is not None:
            # raising a limit (a lower floor, a higher ceiling) beyond the threshold needs
            # the admins' quorum; a limit left alone or tightened never does
            raised = max(-floor if floor < m.floor else 0, ceiling if ceiling > m.ceiling else 0)
            if raised > self.currencies[code].policy["limit_quorum_above_minor"]:
                self._quorum(signers, code, bad)
            if not floor <= m.credit <= ceiling:
                bad.add(R.LIMITS_EXCLUDE_BALANCE)

        def effect() -> None:
            assert m is not None
            m.floor, m.ceiling = floor, ceiling

        return bad, effect, {}

    def p_issue(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        code, amount = b["currency"], b["amount"]
        self._role(signers, b["by"], code, "issuer", bad)
        currency = self.currencies.get(code)
        if currency is not None and amount > currency.policy["issue_quorum_above_minor"]:
            self._quorum(signers, code, bad)
        m = self._target(b["to"], code, bad)
        if m is not None:
            if m.status != "active":
                bad.add(R.PAYEE_NOT_ACTIVE)
            assert currency is not None
            if currency.issued - currency.reconverted + amount > limits.supply_minor_max:
                bad.add(R.SUPPLY_LIMIT)

        def effect() -> None:
            assert m is not None and currency is not None
            currency.issued += amount
            m.nantie += amount

        return bad, effect, {}

    def p_reconvert(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        code, amount, account_id = b["currency"], b["amount"], b["account"]
        currency = self.currencies.get(code)
        if currency is None:
            bad.add(R.UNKNOWN_CURRENCY)
        m = self._target(account_id, code, bad)
        if account_id in self.accounts:
            if self.accounts[account_id].kind != "business":
                bad.add(R.WRONG_KIND)
            if not self.owner_signed(signers, account_id):
                bad.add(R.NOT_AUTHORISED)
        if m is not None:
            if m.status != "active":
                bad.add(R.ACCOUNT_NOT_ACTIVE)
            if m.nantie < amount:
                bad.add(R.INSUFFICIENT_FUNDS)
        extra: dict[str, Any] = {}
        if currency is not None:
            association = currency.policy["association"]
            fee = 0 if association == account_id else (
                amount * currency.policy["reconversion_fee_bp"] // 10_000
            )
            extra = {"fee": fee, "paid_out": amount - fee}

        def effect() -> None:
            assert m is not None and currency is not None
            m.nantie -= amount
            self.members[(association, code)].nantie += fee
            currency.reconverted += amount - fee

        return bad, effect, extra

    def split(self, payer: MMember, amount: int) -> tuple[int, int] | None:
        """DESIGN.md §5: positive credit first, then nantie, then credit down to the floor."""
        rest = amount
        use_positive_credit = min(rest, max(payer.credit, 0))
        rest -= use_positive_credit
        use_nantie = min(rest, payer.nantie)
        rest -= use_nantie
        if payer.credit - use_positive_credit - rest < payer.floor:
            return None
        return use_nantie, use_positive_credit + rest

    def p_transfer(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        code, amount = b["currency"], b["amount"]
        if code not in self.currencies:
            bad.add(R.UNKNOWN_CURRENCY)
        if b["from"] == b["to"]:
            bad.add(R.SAME_ACCOUNT)
        payer = self._target(b["from"], code, bad)
        payee = self._target(b["to"], code, bad)
        till: list[Any] | None = None
        if payer is not None:
            if not self.owner_signed(signers, b["from"]):
                delegations = self.accounts[b["from"]].delegations
                usable = [delegations[k] for k in signers
                          if k in delegations and delegations[k][0] == code]
                if not usable:
                    bad.add(R.NOT_AUTHORISED)
                else:
                    till = usable[0]
                    if amount > till[1] or till[3] + amount > till[2]:
                        bad.add(R.DELEGATION_CAP)
            if payer.status != "active":
                bad.add(R.ACCOUNT_NOT_ACTIVE)
        if payee is not None and payee.status != "active":
            bad.add(R.PAYEE_NOT_ACTIVE)
        split = None
        if payer is not None:
            if "nantie" in b:
                split = (b["nantie"], amount - b["nantie"])
                if payer.nantie < split[0]:
                    bad.add(R.INSUFFICIENT_FUNDS)
                if payer.credit - split[1] < payer.floor:
                    bad.add(R.BELOW_FLOOR)
            else:
                split = self.split(payer, amount)
                if split is None:
                    bad.add(R.INSUFFICIENT_FUNDS)
        if payee is not None and split is not None and payee.credit + split[1] > payee.ceiling:
            bad.add(R.ABOVE_CEILING)
        extra = {} if split is None else {"nantie": split[0], "credit": split[1]}

        def effect() -> None:
            assert payer is not None and payee is not None and split is not None
            if till is not None:
                till[3] += amount
            payer.nantie -= split[0]
            payer.credit -= split[1]
            payee.nantie += split[0]
            payee.credit += split[1]

        return bad, effect, extra

    def p_rotate_key(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        account = self._account(b["account"], bad)
        if account is not None:
            if not self.owner_signed(signers, b["account"]):
                bad.add(R.NOT_AUTHORISED)
            if not set(b["remove"]) <= account.keys:
                bad.add(R.UNKNOWN_KEY)
            keys = (account.keys - set(b["remove"])) | set(b["add"])
            if not keys:
                bad.add(R.LAST_KEY)
            if len(keys) > limits.owner_keys_max:
                bad.add(R.KEYS_LIMIT)
        if any(self.in_use(k) for k in b["add"]):
            bad.add(R.KEY_IN_USE)

        def effect() -> None:
            assert account is not None
            account.keys = keys

        return bad, effect, {}

    def p_recover_key(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        code = b["currency"]
        self._role(signers, b["by"], code, "admin", bad)
        self._quorum(signers, code, bad)
        self._target(b["account"], code, bad)
        if self.in_use(b["key"]):
            bad.add(R.KEY_IN_USE)
        extra: dict[str, Any] = {}
        if code in self.currencies:
            extra = {"effective_ms": self.time + self.currencies[code].policy["recovery_delay_ms"]}

        def effect() -> None:
            self.accounts[b["account"]].recovery = (b["key"], code, extra["effective_ms"])

        return bad, effect, extra

    def p_veto_recovery(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        account = self._account(b["account"], bad)
        if account is not None:
            if not self.owner_signed(signers, b["account"]):
                bad.add(R.NOT_AUTHORISED)
            if account.recovery is None:
                bad.add(R.NO_PENDING_RECOVERY)

        def effect() -> None:
            assert account is not None
            account.recovery = None

        return bad, effect, {}

    def p_delegate(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        account = self._account(b["account"], bad)
        if account is not None and not self.owner_signed(signers, b["account"]):
            bad.add(R.NOT_AUTHORISED)
        if account is not None and account.kind not in ("business", "association"):
            bad.add(R.WRONG_KIND)  # tills are for businesses (and associations)
        if b["currency"] not in self.currencies:
            bad.add(R.UNKNOWN_CURRENCY)
        if account is not None and (b["account"], b["currency"]) not in self.members:
            bad.add(R.NOT_MEMBER)
        existing = None if account is None else account.delegations.get(b["key"])
        if existing is None and self.in_use(b["key"]):
            bad.add(R.KEY_IN_USE)
        if existing is None and account is not None and (
            len(account.delegations) >= limits.delegations_max
        ):
            bad.add(R.KEYS_LIMIT)

        def effect() -> None:
            assert account is not None
            # new caps keep what the till spent; another currency starts anew
            spent = existing[3] if existing and existing[0] == b["currency"] else 0
            account.delegations[b["key"]] = [
                b["currency"], b["cap_per_payment_minor"], b["cap_total_minor"], spent
            ]

        return bad, effect, {}

    def p_revoke_delegation(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        account = self._account(b["account"], bad)
        if account is not None:
            if not self.owner_signed(signers, b["account"]):
                bad.add(R.NOT_AUTHORISED)
            if b["key"] not in account.delegations:
                bad.add(R.UNKNOWN_KEY)

        def effect() -> None:
            assert account is not None
            del account.delegations[b["key"]]

        return bad, effect, {}

    def p_create_currency(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        governors = set(signers) & set(CONFIG.governors)
        if not governors:
            bad.add(R.NOT_AUTHORISED)
        elif len(governors) < CONFIG.governor_quorum:
            bad.add(R.QUORUM_NOT_MET)
        if b["code"] in self.currencies:
            bad.add(R.CURRENCY_EXISTS)
        policy = b["policy"]
        for account_id in [*b["admins"], *b["issuers"], policy["association"]]:
            if account_id not in self.accounts:
                bad.add(R.UNKNOWN_ACCOUNT)
        if len(b["admins"]) < policy["admin_quorum"]:
            bad.add(R.QUORUM_IMPOSSIBLE)

        def effect() -> None:
            code = b["code"]
            self.currencies[code] = MCurrency(dict(policy))
            for account_id in {*b["admins"], *b["issuers"], policy["association"]}:
                roles = {"admin"} if account_id in b["admins"] else set()
                roles |= {"issuer"} if account_id in b["issuers"] else set()
                self.members[(account_id, code)] = self._new_member(code, "active", roles)

        return bad, effect, {}

    def p_set_policy(self, b: dict[str, Any], signers: list[str]):
        bad: set[str] = set()
        code, policy = b["currency"], b["policy"]
        self._role(signers, b["by"], code, "admin", bad)
        self._quorum(signers, code, bad)
        if policy["association"] not in self.accounts:
            bad.add(R.UNKNOWN_ACCOUNT)
        joined = self.members.get((policy["association"], code))
        if joined is not None and joined.status == "closed":
            bad.add(R.PAYEE_NOT_ACTIVE)
        if code in self.currencies and len(self.active_admins(code)) < policy["admin_quorum"]:
            bad.add(R.QUORUM_IMPOSSIBLE)

        def effect() -> None:
            if (policy["association"], code) not in self.members:
                # joins under the policy in force when the change executes
                self.members[(policy["association"], code)] = self._new_member(code, "active")
            self.currencies[code].policy = dict(policy)

        return bad, effect, {}

    # -- blocks ------------------------------------------------------------------------------
    def start_block(self, time_ms: int) -> None:
        """Block time moves on; recoveries that are due take effect, in account-id order."""
        self.time = time_ms
        for account_id in sorted(self.accounts):
            account = self.accounts[account_id]
            if account.recovery is not None and account.recovery[2] <= time_ms:
                key = account.recovery[0]
                account.recovery = None
                if not self.in_use(key):
                    account.keys = {key}

    def admission(self, sub: Sub, in_block: set[str]) -> set[str] | None:
        """The drop reasons that apply to a submission, or None when it enters the block."""
        tx = sub.tx
        if tx.id in self.executed or tx.id in in_block:
            # an old one may be forgotten already, and then it is simply expired
            return {R.DUPLICATE, R.EXPIRED}
        body = tx.body
        bad = set()
        if body["chain"] != CHAIN:
            bad.add(R.WRONG_CHAIN)
        if body["expires"] <= self.time:
            bad.add(R.EXPIRED)
        if body["expires"] > self.time + limits.expiry_window_ms_max:
            bad.add(R.EXPIRY_TOO_FAR)
        if sub.forged:
            bad.add(R.BAD_SIGNATURE)
        return bad or None

    # -- comparison with the ledger ------------------------------------------------------------
    def differences(self, state: State) -> list[str]:
        """Every way the ledger's state differs from the model (empty when they agree)."""
        out: list[str] = []
        if set(state.accounts) != set(self.accounts):
            out.append(f"accounts {sorted(state.accounts)} != {sorted(self.accounts)}")
        for account_id, ma in self.accounts.items():
            a = state.accounts.get(account_id)
            if a is None:
                continue
            dels = {k: [d.currency, d.cap_per_payment_minor, d.cap_total_minor, d.spent_minor]
                    for k, d in a.delegations.items()}
            rec = a.recovery and (a.recovery.key, a.recovery.currency, a.recovery.effective_ms)
            got = (a.kind, set(a.keys), dels, rec)
            want = (ma.kind, ma.keys, ma.delegations, ma.recovery)
            if got != want:
                out.append(f"account {NAMES.get(account_id, account_id)}: {got} != {want}")
        if set(state.memberships) != set(self.members):
            out.append(f"memberships {sorted(state.memberships)} != {sorted(self.members)}")
        for key, mm in self.members.items():
            m = state.memberships.get(key)
            if m is None:
                continue
            got_m = (m.status, set(m.roles), m.nantie, m.credit, m.floor, m.ceiling)
            want_m = (mm.status, mm.roles, mm.nantie, mm.credit, mm.floor, mm.ceiling)
            if got_m != want_m:
                out.append(f"membership {NAMES.get(key[0], key[0])}/{key[1]}: "
                           f"{got_m} != {want_m}")
        if set(state.currencies) != set(self.currencies):
            out.append(f"currencies {sorted(state.currencies)} != {sorted(self.currencies)}")
        for code, mc in self.currencies.items():
            c = state.currencies.get(code)
            if c is None:
                continue
            if (c.policy, c.issued_minor, c.reconverted_minor) != (
                mc.policy, mc.issued, mc.reconverted
            ):
                out.append(f"currency {code}: {c.policy, c.issued_minor, c.reconverted_minor}"
                           f" != {mc.policy, mc.issued, mc.reconverted}")
        return out
