"""The executor: ``apply_block(state, txs, time_ms)`` — deterministic, no I/O, no clock.

First the state's own work at the block's start: key recoveries whose delay has passed take
effect, and the standing orders due at the block's time run (``order_runs``): each run is a
*system transaction* (``order_run``) the ledger makes from its state, placed first in the
block, executed and recorded like any other. Then a pipeline of two stages per transaction:

1. *admission* (``admit``): chain id, expiry against the block time, duplicate id, and — when
   asked — signatures (``check_signatures``). A transaction that fails admission is *dropped*:
   it never enters a block. A system transaction coming from outside is dropped
   (``system_transaction``).
2. *execution*: the transaction's unit in the registry (``lien.ledger.types.TX_TYPES`` unless
   the caller passes another) first names the accounts it concerns (``TxType.accounts``, on the
   state just before it executes: the keys of their histories), then runs ``execute``. Its
   checks read the state and raise ``Refused`` on the first that fails; only when all pass does
   it mutate, so a refused transaction changes nothing. Every included transaction gets a
   ``Result`` (``ok`` or its refusal), recorded in the block.

After the block, ``check_invariants`` asserts the money rules of DESIGN.md §5 on every touched
record and on each currency's totals; a broken invariant raises ``InvariantBroken`` — a bug or
tampering, never an expected outcome — and the node stops.
"""

from __future__ import annotations

import heapq
from collections.abc import Set as AbstractSet
from collections.abc import Sequence
from dataclasses import dataclass

from . import limits
from .reasons import Reason, TxError
from .results import Refused, Result
from . import orders
from .state import Membership, Order, State, next_state_root
from .transactions import Tx, check_freshness, check_signatures, system_tx
from .types import TX_TYPES, Registry, common


class InvariantBroken(AssertionError):
    """A money invariant does not hold: the node must stop (bug or tampering)."""


# -- the block ---------------------------------------------------------------------------------
@dataclass(slots=True)
class BlockOutcome:
    """What one block did: the included transactions with their results (``results[i]`` is
    ``txs[i]``'s), what was dropped, the state commitment after it, and the accounts each
    transaction concerns (the keys of their histories, taken as the transaction executes)."""

    height: int
    time_ms: int
    txs: list[Tx]
    results: list[Result]
    dropped: list[tuple[Tx, TxError]]
    state_root: bytes
    touched: list[list[str]]


def admit(state: State, tx: Tx, time_ms: int, in_block: set[str], verify: bool,
          executed_before: AbstractSet[str] = frozenset(), types: Registry = TX_TYPES) -> None:
    """Raise TxError when ``tx`` may not enter this block (it is then dropped, not recorded).

    Freshness first: an expired id is ``expired`` whether or not it is still remembered, so
    the answer never depends on when remembered ids were last pruned."""
    if types[tx.type].system:
        raise TxError(Reason.SYSTEM_TRANSACTION, f"{tx.type} is made by the ledger itself")
    check_freshness(tx, state.config.chain_id, time_ms)
    if tx.id in state.seen or tx.id in in_block or tx.id in executed_before:
        raise TxError(Reason.DUPLICATE, tx.id)
    if verify:
        check_signatures(tx)


def _apply_due_recoveries(state: State) -> None:
    for account_id in sorted(state.pending_recoveries):
        account = state.accounts[account_id]
        recovery = account.recovery
        if recovery is not None and recovery.effective_ms <= state.time_ms:
            if common.key_in_use(state, recovery.key):
                # The key was taken meanwhile (e.g. by a new account): the recovery lapses.
                account.recovery = None
            else:
                account.recovery = None
                common.set_keys(state, account, [recovery.key])
            state.pending_recoveries.discard(account_id)
            state.dirty_accounts.add(account_id)


def _take_marks(
    state: State,
) -> tuple[set[str], set[tuple[str, str]], set[str], dict[str, Order], bool]:
    marks = (set(state.dirty_accounts), set(state.dirty_memberships),
             set(state.dirty_currencies), dict(state.dirty_orders), state.dirty_validators)
    state.dirty_accounts.clear()
    state.dirty_memberships.clear()
    state.dirty_currencies.clear()
    state.dirty_orders.clear()
    state.dirty_validators = False
    return marks


def order_runs(state: State, time_ms: int) -> list[tuple[Tx, Order]]:
    """The runs of the standing orders due at ``time_ms`` — at most
    ``order_runs_per_block_max``, in (due time, order id) order; the rest wait for the next
    block — each with its order, already moved to its next due time (or ended).

    A run's body derives from the state alone (order id, run number, the payment; ``expires``
    is the block time, ``nonce`` the run number), so its id is the same on every node."""
    runs: list[tuple[Tx, Order]] = []
    while len(runs) < limits.order_runs_per_block_max:
        due = state.next_order_due()
        if due is None or due[0] > time_ms:
            break
        heapq.heappop(state.orders_due)
        order = state.orders[due[1]]
        order.runs += 1
        body: dict[str, object] = {
            "chain": state.config.chain_id, "type": "order_run", "expires": time_ms,
            "nonce": str(order.runs), "order": order.id, "run": order.runs,
            "from": order.payer, "to": order.payee, "currency": order.currency,
            "amount": order.amount,
        }
        if order.reference:
            body["reference"] = order.reference
        if order.memo:
            body["memo"] = order.memo
        runs.append((system_tx(body), order))
        following = orders.next_due(order, time_ms)
        if following is None:
            state.unindex_order(order, "finished")
        else:
            order.next_due_ms = following
            heapq.heappush(state.orders_due, (following, order.id))
            state.dirty_orders[order.id] = order
    return runs


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
    types: Registry = TX_TYPES,
    executed_before: AbstractSet[str] = frozenset(),
) -> BlockOutcome:
    """Execute one block. ``time_ms`` comes from the ordered log and never goes backwards.

    ``types`` is the registry of transaction types: the protocol's unless a test passes one
    extended with toy types (the transactions must have been parsed with the same registry).

    ``executed_before``: ids among ``txs`` that executed in blocks this state's replay memory
    (``seen``) does not hold — a node restarted from its database looks its candidates up in
    its store's id index instead of loading a day of ids into memory. Same answer, since an
    id is a duplicate exactly when it executed before and has not expired."""
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
    run_unit = types["order_run"]
    for run, order in order_runs(state, time_ms):
        included.append(run)
        touched.append(run_unit.accounts(state, run))
        try:
            result = run_unit.execute(state, run)
        except Refused as refusal:
            result = refusal.result
        results.append(result)
        order.last_result = result.reason.value
    runs = len(included)
    for tx in txs:
        try:
            admit(state, tx, time_ms, in_block, verify_signatures, executed_before, types)
        except TxError as refusal:
            dropped.append((tx, refusal))
            continue
        in_block.add(tx.id)
        included.append(tx)
        unit = types[tx.type]
        touched.append(unit.accounts(state, tx))
        try:
            results.append(unit.execute(state, tx))
        except Refused as refusal:
            results.append(refusal.result)
    for tx in included[runs:]:
        state.seen[tx.id] = tx.body["expires"]
        heapq.heappush(state.seen_expiries, (tx.body["expires"], tx.id))
    _forget_expired(state)
    if check:
        check_invariants(state)
    state.state_root = next_state_root(state.state_root, state.change_lines())
    state.dirty_accounts |= carried[0]
    state.dirty_memberships |= carried[1]
    state.dirty_currencies |= carried[2]
    state.dirty_orders.update(carried[3])
    state.dirty_validators |= carried[4]
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
