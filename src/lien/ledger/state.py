"""The ledger's state: accounts, memberships, currencies. Mutable only through the executor.

The executor works on one in-memory ``State`` (the hot state) and records which records each
block touched; the node writes exactly those records behind it, in the block's database
transaction. Every record has one canonical text line; the state commitment of a block is

    state_root(n) = sha256(state_root(n-1) || sha256(sorted lines of the records block n changed))

so two nodes that disagree on any balance disagree on the next header, and ``verify`` can
recompute every root from genesis. The validator set is one such record (``ValidatorChange``):
the genesis set, then the set of the last ``set_validators`` with the height it applies from.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from . import limits
from .crypto import sha256
from .encoding import canonical_trusted
from .fields import GENESIS, GENESIS_V2, check_fields
from .reasons import TxError


@dataclass(slots=True)
class Delegation:
    """A key that may sign transfers for a business, within caps (a till)."""

    currency: str
    cap_per_payment_minor: int
    cap_total_minor: int
    spent_minor: int = 0


@dataclass(slots=True)
class Recovery:
    """A key recovery signed by M admins, effective at ``effective_ms`` unless vetoed."""

    key: str
    currency: str
    effective_ms: int


@dataclass(slots=True)
class Account:
    id: str
    kind: str
    keys: list[str]  #: owner public keys (hex), sorted
    delegations: dict[str, Delegation] = field(default_factory=dict)
    recovery: Recovery | None = None

    def line(self) -> str:
        dels = ";".join(
            f"{k}:{d.currency}:{d.cap_per_payment_minor}:{d.cap_total_minor}:{d.spent_minor}"
            for k, d in sorted(self.delegations.items())
        )
        rec = self.recovery
        recovery = f"{rec.key}:{rec.currency}:{rec.effective_ms}" if rec else ""
        return f"a|{self.id}|{self.kind}|{','.join(self.keys)}|{dels}|{recovery}"


@dataclass(slots=True)
class Membership:
    """An account's standing and balances in one currency (minor units)."""

    account: str
    currency: str
    status: str
    roles: tuple[str, ...]
    nantie: int
    credit: int
    floor: int
    ceiling: int

    def line(self) -> str:
        return (
            f"m|{self.account}|{self.currency}|{self.status}|{','.join(self.roles)}"
            f"|{self.nantie}|{self.credit}|{self.floor}|{self.ceiling}"
        )


@dataclass(slots=True)
class Currency:
    code: str
    policy: dict[str, Any]
    issued_minor: int = 0
    reconverted_minor: int = 0

    def line(self) -> str:
        policy = canonical_trusted(self.policy).decode()
        return f"c|{self.code}|{policy}|{self.issued_minor}|{self.reconverted_minor}"


#: The periods of a standing order.
PERIODS = ("once", "weekly", "monthly")


@dataclass(slots=True)
class Order:
    """A standing order (``standing_order``): ``amount`` from ``payer`` to ``payee`` at each due
    time, under the authority the payer signed once. Its id is the creating transaction's.

    ``first_due_ms`` anchors the schedule (``lien.ledger.orders``); ``next_due_ms`` is when it
    runs next; ``count_max`` / ``until_ms`` bound it (0: no bound); ``runs`` counts the runs
    made (executed or refused); ``last_result`` is the last run's result code ("" before the
    first); ``status`` is ``active``, ``revoked`` or ``finished`` (only active orders stay in
    the hot state; the store keeps the others for the histories' pages)."""

    id: str
    payer: str
    payee: str
    currency: str
    amount: int
    period: str
    first_due_ms: int
    next_due_ms: int
    count_max: int = 0
    until_ms: int = 0
    reference: str = ""
    memo: str = ""
    runs: int = 0
    last_result: str = ""
    status: str = "active"

    def line(self) -> str:
        return (
            f"o|{self.id}|{self.payer}|{self.payee}|{self.currency}|{self.amount}|{self.period}"
            f"|{self.first_due_ms}|{self.next_due_ms}|{self.count_max}|{self.until_ms}"
            f"|{self.runs}|{self.last_result}|{self.status}|{self.reference}|{self.memo}"
        )


def validator_quorum(validators: int) -> int:
    """Signatures a set of ``validators`` keys needs to certify a block or change the set:
    strictly more than 2/3 of them (1 of 1, 3 of 3, 3 of 4, 4 of 5, 5 of 6, 5 of 7)."""
    return validators * 2 // 3 + 1


@dataclass(frozen=True, slots=True)
class ValidatorChange:
    """The validator set that certifies the blocks from ``from_height`` on: the genesis set
    from height 1, then the set of each ``set_validators`` executed in block
    ``from_height - 1`` (a block is certified by the set in force before it executes)."""

    from_height: int
    keys: tuple[str, ...]  #: validator public keys (hex), sorted

    def line(self) -> str:
        return f"v|{self.from_height}|{','.join(self.keys)}"


class GenesisInvalid(ValueError):
    """A genesis document this code does not accept: malformed, of an unknown protocol version,
    or (protocol 2) whose chain id is not the one derived from its content."""


def chain_id_for(document: dict[str, Any]) -> str:
    """The chain id of a protocol-2 genesis document: its ``name``, ``-``, and the first
    ``chain_id_digest_hex`` hex digits of the SHA-256 of the canonical document without its
    ``chain_id`` (so every field of the genesis, and nothing else, is in every chain id)."""
    content = {k: v for k, v in document.items() if k != "chain_id"}
    digest = sha256(canonical_trusted(content)).hex()[: limits.chain_id_digest_hex]
    return f"{document['name']}-{digest}"


@dataclass(frozen=True, slots=True)
class ChainConfig:
    """The genesis document: fixed for the life of the chain.

    Protocol 2 (what ``new`` makes): ``name`` is the human part of the chain id and
    ``chain_id`` is derived from everything else (``chain_id_for``). Every transaction body
    carries its chain id and every signature covers the body, so a signature binds the genesis:
    a transaction of one chain is ``wrong_chain`` on every other, whatever the keys. Protocol 1
    (chains made before) has no name and a chain id chosen freely; it still loads unchanged, its
    genesis root included. Construction checks the derivation (``GenesisInvalid``)."""

    chain_id: str
    genesis_time_ms: int
    validators: tuple[str, ...]  #: validator public keys (hex)
    governors: tuple[str, ...]  #: keys that may create currencies
    governor_quorum: int
    name: str | None  #: protocol 2: the chain id's human part; protocol 1: None
    protocol: int  #: the protocol version that wrote the document (1 or 2)

    def __post_init__(self) -> None:
        if not 1 <= self.protocol <= limits.PROTOCOL_VERSION:
            raise GenesisInvalid(f"protocol {self.protocol} is not one this lien reads "
                                 f"(1..{limits.PROTOCOL_VERSION})")
        if not 1 <= self.governor_quorum <= len(self.governors):
            raise GenesisInvalid(f"governor_quorum {self.governor_quorum} is not in "
                                 f"1..{len(self.governors)} (the number of governors)")
        if (self.protocol == 1) != (self.name is None):
            raise GenesisInvalid("a genesis document has a name from protocol 2 on, and only then")
        if self.protocol == 1:
            return
        derived = chain_id_for(self.to_json())
        if self.chain_id != derived:
            raise GenesisInvalid(f"its chain id {self.chain_id!r} is not the one derived from "
                                 f"its content ({derived!r}): the document was edited, or its "
                                 "chain id taken from another chain")

    @classmethod
    def new(cls, name: str, genesis_time_ms: int, validators: tuple[str, ...],
            governors: tuple[str, ...], governor_quorum: int) -> ChainConfig:
        """The genesis of a new chain (this protocol), its chain id derived from the rest:
        new keys or another time give another chain id. Raises ``GenesisInvalid``."""
        document = {"name": name, "genesis_time_ms": genesis_time_ms,
                    "validators": list(validators), "governors": list(governors),
                    "governor_quorum": governor_quorum, "protocol": limits.PROTOCOL_VERSION}
        return cls.from_json({**document, "chain_id": chain_id_for(document)})

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"chain_id": self.chain_id}
        if self.name is not None:
            document["name"] = self.name
        return {
            **document,
            "genesis_time_ms": self.genesis_time_ms,
            "validators": list(self.validators),
            "governors": list(self.governors),
            "governor_quorum": self.governor_quorum,
            "protocol": self.protocol,
        }

    @classmethod
    def from_json(cls, data: Any) -> ChainConfig:
        """Read a genesis document (``genesis.json``, the database's copy). Raises
        ``GenesisInvalid`` naming what is wrong: a missing, unexpected or bad field, a protocol
        newer than this code's, or (protocol 2) a chain id that is not derived from the rest."""
        if not isinstance(data, dict):
            raise GenesisInvalid("a genesis document is a JSON object")
        protocol = data.get("protocol")
        if isinstance(protocol, int) and protocol > limits.PROTOCOL_VERSION:
            raise GenesisInvalid(f"protocol {protocol} is newer than this lien's "
                                 f"({limits.PROTOCOL_VERSION}): upgrade lien")
        try:
            check_fields(data, GENESIS if protocol == 1 else GENESIS_V2, {})
        except TxError as exc:
            raise GenesisInvalid(exc.detail) from None
        return cls(
            chain_id=data["chain_id"],
            genesis_time_ms=data["genesis_time_ms"],
            validators=tuple(data["validators"]),
            governors=tuple(data["governors"]),
            governor_quorum=data["governor_quorum"],
            name=data.get("name"),
            protocol=data["protocol"],
        )

    def genesis_root(self) -> bytes:
        """SHA-256 of the canonical document (chain id included): block 1's ``prev``."""
        return sha256(canonical_trusted(self.to_json()))


@dataclass(slots=True)
class Totals:
    """Running sums per currency, kept by every balance move and checked after every block."""

    nantie: int = 0
    credit: int = 0


class State:
    """The hot state. Only ``lien.ledger.execute`` mutates it."""

    def __init__(self, config: ChainConfig) -> None:
        self.config = config
        self.accounts: dict[str, Account] = {}
        self.memberships: dict[tuple[str, str], Membership] = {}
        self.currencies: dict[str, Currency] = {}
        self.totals: dict[str, Totals] = {}
        #: owner key -> account; delegated key -> account (a key serves one account only)
        self.key_owner: dict[str, str] = {}
        self.delegate_owner: dict[str, str] = {}
        #: (currency, role) -> accounts holding it
        self.role_holders: dict[tuple[str, str], set[str]] = {}
        #: executed transaction ids not yet expired -> expires (replay protection)
        self.seen: dict[str, int] = {}
        #: heap of (expires, id) over ``seen``, to forget expired ids cheaply
        self.seen_expiries: list[tuple[int, str]] = []
        self.pending_recoveries: set[str] = set()
        #: active standing orders by id; the ids each payer has active; a heap of
        #: (next_due_ms, id) over them (stale entries are skipped: ``next_order_due``)
        self.orders: dict[str, Order] = {}
        self.orders_of: dict[str, set[str]] = {}
        self.orders_due: list[tuple[int, str]] = []
        self.height = 0
        self.time_ms = config.genesis_time_ms
        self.state_root = config.genesis_root()
        #: the validator set of the next block (the latest change, or the genesis set)
        self.validators = ValidatorChange(1, tuple(sorted(config.validators)))
        self.dirty_validators = False
        self.dirty_accounts: set[str] = set()
        self.dirty_memberships: set[tuple[str, str]] = set()
        self.dirty_currencies: set[str] = set()
        #: orders changed (made, run, revoked, ended) since the store last took them
        self.dirty_orders: dict[str, Order] = {}

    # -- indexes, rebuilt when a node loads its state -----------------------------------------
    def index_account(self, account: Account) -> None:
        self.accounts[account.id] = account
        for key in account.keys:
            self.key_owner[key] = account.id
        for key in account.delegations:
            self.delegate_owner[key] = account.id
        if account.recovery is not None:
            self.pending_recoveries.add(account.id)

    def index_membership(self, m: Membership) -> None:
        self.memberships[(m.account, m.currency)] = m
        totals = self.totals.setdefault(m.currency, Totals())
        totals.nantie += m.nantie
        totals.credit += m.credit
        for role in m.roles:
            self.role_holders.setdefault((m.currency, role), set()).add(m.account)

    def index_currency(self, c: Currency) -> None:
        self.currencies[c.code] = c
        self.totals.setdefault(c.code, Totals())

    def index_order(self, order: Order) -> None:
        """Add an active order (loading the state, or a ``standing_order`` executing)."""
        self.orders[order.id] = order
        self.orders_of.setdefault(order.payer, set()).add(order.id)
        heapq.heappush(self.orders_due, (order.next_due_ms, order.id))

    def unindex_order(self, order: Order, status: str) -> None:
        """An order leaves the hot state (revoked or finished): kept as a change to write."""
        order.status = status
        del self.orders[order.id]
        ids = self.orders_of[order.payer]
        ids.discard(order.id)
        if not ids:
            del self.orders_of[order.payer]
        self.dirty_orders[order.id] = order

    def next_order_due(self) -> tuple[int, str] | None:
        """(next_due_ms, id) of the active order due first, ties by id; None when there is
        none. Drops the heap's stale entries (orders revoked, ended or moved since)."""
        heap = self.orders_due
        while heap:
            due, order_id = heap[0]
            order = self.orders.get(order_id)
            if order is not None and order.next_due_ms == due:
                return due, order_id
            heapq.heappop(heap)
        return None

    # -- commitment ----------------------------------------------------------------------------
    def change_lines(self) -> list[str]:
        lines = [self.accounts[a].line() for a in self.dirty_accounts]
        lines += [self.memberships[k].line() for k in self.dirty_memberships]
        lines += [self.currencies[c].line() for c in self.dirty_currencies]
        lines += [o.line() for o in self.dirty_orders.values()]
        if self.dirty_validators:
            lines.append(self.validators.line())
        lines.sort()
        return lines

    def all_lines(self) -> list[str]:
        lines = [a.line() for a in self.accounts.values()]
        lines += [m.line() for m in self.memberships.values()]
        lines += [c.line() for c in self.currencies.values()]
        lines += [o.line() for o in self.orders.values()]
        lines.append(self.validators.line())
        lines.sort()
        return lines

    def take_changes(self) -> Changes:
        """The records changed since the last call (to write behind), clearing the marks."""
        changes = (
            [self.accounts[a] for a in sorted(self.dirty_accounts)],
            [self.memberships[k] for k in sorted(self.dirty_memberships)],
            [self.currencies[c] for c in sorted(self.dirty_currencies)],
            [self.dirty_orders[o] for o in sorted(self.dirty_orders)],
            [self.validators] if self.dirty_validators else [],
        )
        self.dirty_accounts.clear()
        self.dirty_memberships.clear()
        self.dirty_currencies.clear()
        self.dirty_orders.clear()
        self.dirty_validators = False
        return changes


#: What ``take_changes`` returns: the accounts, memberships, currencies, standing orders and
#: validator set (none or one) changed since the last call.
Changes = tuple[list[Account], list[Membership], list[Currency], list[Order],
                list[ValidatorChange]]


def next_state_root(previous: bytes, lines: list[str]) -> bytes:
    return sha256(previous + sha256("\n".join(lines).encode()))
