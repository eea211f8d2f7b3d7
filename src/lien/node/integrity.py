"""The start-up check of ``lien serve``, and the full verification it runs in the background.

``lien verify`` re-executes the chain from genesis: it sees everything, at a cost that grows
with the history. A node must not wait for that before it serves, nor start on a database that
anyone can see is damaged. So ``lien serve`` first runs ``quick_check``: the checks below, in
this order, each a small function that raises ``Problem`` naming what failed (the block, the
row, the account), in a time that grows with the latest blocks' transactions and the number of
accounts — and, for the block rows' links only, the number of blocks, at a fraction of a
microsecond each, in the database — never with the transactions of the whole history.

    check             reads                                   sees
    header chain      every block row (one pass in the        a block row deleted, swapped or
                      database: no transaction, no hashing)   renumbered, a prev or a hash
                                                              changed, anywhere in the chain
    nothing after     the transaction index past the last     rows left by a deleted last
                      block                                   block, rows forged after it
    validator sets    the validator changes (a few rows)      a change out of order, beyond
                                                              the next block, or no set
    latest blocks     the latest blocks' headers (hashed      a header field changed; rows
                      again), certificates and transaction    swapped, altered, deleted or
                      rows                                    replaced; a result changed
    latest history    the history entries of the accounts     entries moved, deleted, or
                      these transactions concern              added to those accounts
    money totals      one sum per currency over the balances  a balance changed so that
                                                              mutual credit no longer sums to
                                                              zero, or nantie to issued -
                                                              reconverted
    lost block        the signing record and the log          the last block deleted whole

"The latest blocks" are the last ``StartupCheck.latest_blocks`` blocks, fewer if they hold
more than ``latest_transactions_max`` transactions (the last block is always read whole).
Their certificates and recomputed hashes, with every row's link to the stored hash of the row
before, mean that no older header can be replaced without the validators' keys: an older
header can only be *damaged* unseen (a field changed, its stored hash left as it was).

What only a full verification sees: older headers' fields, certificates, transaction rows and
history entries; transaction signatures; every result against re-execution; the state
commitments; the stored balances record by record (a zero-sum change of two balances); a
history entry added to an account no latest transaction concerns. ``BackgroundVerification``
runs it (``verify_store(..., live=True)``) in a child process at low priority while the node
serves, and halts the node if it fails.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ..chain import ValidatorSchedule
from ..chain import merkle
from ..ledger import TX_TYPES, ChainConfig, Currency, State, Tx, limits
from ..ledger.crypto import sha256_hex
from ..ledger.execute import InvariantBroken, check_currency
from ..ledger.state import Totals
from ..store import NodeStore, RawTx, Store, StoredBlock, StoreError
from .verify import (
    Problem,
    VerifyReport,
    check_certificate,
    check_contents,
    check_hash,
    check_link,
    check_numbering,
    check_postings,
    checked_tx,
    stray_message,
    unhashed_message,
    verify_store,
)

log = logging.getLogger("lien.node")


@dataclass(frozen=True)
class StartupCheck:
    """How far back ``quick_check`` reads transaction rows and history entries: the latest
    ``latest_blocks`` blocks, fewer when they hold more than ``latest_transactions_max``
    transactions (the last block is always read whole). The defaults keep the check well
    under a second whatever the history: a full block's worth of transactions at most."""

    latest_blocks: int = 64
    latest_transactions_max: int = limits.block_transactions_max
    #: the node's log is a federation's stream, outside its database: a block signed and not
    #: committed is rebuilt from the stream, so the "lost block" check does not apply
    shared_log: bool = False


@dataclass(frozen=True)
class CheckReport:
    ok: bool
    blocks: int  #: blocks whose links were checked (all of them when ok)
    latest_blocks: int  #: blocks whose rows and history entries were checked
    latest_transactions: int
    elapsed_s: float
    problem: str = ""
    check: str = ""  #: the check that failed
    height: int | None = None


class ChainDamaged(Exception):
    """The database holds a chain that fails a check: the node must not run on it."""


@dataclass
class _Chain:
    """What the checks read, gathered once; the later checks use what earlier ones read."""

    store: NodeStore
    settings: StartupCheck
    config: ChainConfig
    validators: ValidatorSchedule  #: the set in force at each height (genesis and changes)
    last: StoredBlock | None
    signed_height: int  #: the height this node's validator last signed (0: no record)
    currencies: list[Currency]  #: as stored (their policies and issued/reconverted totals)
    linked: int = 0  #: blocks whose links were checked (all of them, or none)
    #: the latest blocks with their rows and transactions (read by ``_latest_blocks``)
    latest: list[tuple[StoredBlock, list[RawTx], list[Tx]]] = field(default_factory=list)

    @property
    def height(self) -> int:
        return self.last.header.height if self.last else 0

    @property
    def end(self) -> int:
        """The seq after the last block's last transaction."""
        return self.last.first_seq + self.last.header.tx_count if self.last else 0


def _header_chain(chain: _Chain) -> None:
    """Every block row follows the one before it: the next height, its ``prev`` that row's
    stored hash, its seqs numbered on (block 1: after the genesis). The database finds the
    first row that does not; ``check_link`` says what is wrong with it."""
    genesis = chain.config.genesis_root().hex()
    first = chain.store.blocks(0, 1)
    if first:
        check_link(first[0], 1, genesis, 0)
    found = chain.store.first_unlinked_block()
    if found is not None:
        height, before = found
        block, previous = chain.store.block(height), chain.store.block(before or 0)
        assert block is not None
        if previous is None:
            check_link(block, 1, genesis, 0)
        else:
            check_link(block, previous.header.height + 1, previous.stored_hash or "",
                       previous.first_seq + previous.header.tx_count)
        raise Problem(f"block {height} does not follow block {before}", height)
    chain.linked = chain.height


def _nothing_after(chain: _Chain) -> None:
    """No transaction row after the last block's (nor before the first seq)."""
    if stray := chain.store.stray_transactions(chain.end, limit=1):
        raise Problem(f"{stray_message(stray[0])} (the chain ends at block {chain.height}, "
                      f"seq {chain.end - 1})", chain.height + 1)


def _validator_sets(chain: _Chain) -> None:
    """The stored validator changes make a schedule (heights increasing, each set a set of
    distinct keys), none beyond the block after the last: the certificates of the latest
    blocks are checked against it."""
    try:
        for change in chain.store.validator_changes():
            chain.validators.add(change)
    except ValueError as exc:
        raise Problem(f"the stored validator changes are damaged: {exc}") from None
    if chain.validators.latest_from > chain.height + 1:
        raise Problem(f"a validator change applies from height {chain.validators.latest_from}, "
                      f"beyond the block after the last ({chain.height})",
                      chain.validators.latest_from)


def _latest_blocks(chain: _Chain) -> None:
    """The latest blocks' rows: numbered, filed and counted as their headers say, each body
    hashing to its id, together (ids and results, in seq order) giving the header's tx_root,
    stored with the expiry its body says; each block with its certificate."""
    for block, raws in _read_latest(chain):
        h = block.header.height
        check_hash(block, block.header.hash)
        check_numbering(block, raws)
        for raw in raws:
            if sha256_hex(raw.body) != raw.id:
                raise Problem(f"block {h}: {unhashed_message(raw.seq, raw.id)}", h)
        leaves = [merkle.leaf_hash_encoded(r.id, r.result.encode()) for r in raws]
        if merkle.root(leaves).hex() != block.header.tx_root:
            raise Problem(f"block {h}: its stored transactions, in seq order with their "
                          "results, do not give its tx_root (a row swapped, altered or "
                          "replaced)", h)
        check_certificate(chain.validators.at(h), block, block.header.hash)
        # Rows the signed header commits to: what the block executed, parsed without
        # checking again what was checked when it did.
        txs = check_contents(block, raws, [checked_tx(r) for r in raws])
        chain.latest.append((block, raws, txs))


def _read_latest(chain: _Chain) -> list[tuple[StoredBlock, list[RawTx]]]:
    if chain.last is None:
        return []
    window = chain.settings.latest_blocks
    blocks = chain.store.blocks(max(0, chain.height - window), window)
    first, transactions = chain.height + 1, 0
    for block in reversed(blocks):
        transactions += block.header.tx_count
        if first <= chain.height and transactions > chain.settings.latest_transactions_max:
            break  # (the last block is read whole, whatever its size)
        first = block.header.height
    return list(chain.store.iter_blocks(after=first - 1, through=chain.height))


#: The accounts a transaction concerns depend on the state only through the currencies'
#: policies (a reconvert's fee goes to the association of the day), which only these change.
_POLICY_CHANGES = frozenset({"create_currency", "set_policy"})


def _latest_history(chain: _Chain) -> None:
    """The history entries of the accounts the latest blocks' transactions concern: each
    transaction is in the history of exactly the accounts it concerns, and no entry of those
    accounts names a seq after the last block. (An entry added to the history of an account
    that no latest transaction concerns is left to ``verify``: finding it would read every
    account's history.)"""
    if not chain.latest:
        return
    today, none = _state_with(chain.config, chain.currencies), State(chain.config)
    last_change = max((r.seq for _, raws, txs in chain.latest
                       for r, tx in zip(raws, txs, strict=True) if _changes_policy(r, tx)),
                      default=-1)
    # (seq, the accounts it concerns, whether a policy changed after it): the accounts are
    # then only those its body names; the others it concerned are taken as stored.
    concerns: list[list[tuple[int, list[str], bool]]] = []
    for _, raws, txs in chain.latest:
        block_concerns = []
        for raw, tx in zip(raws, txs, strict=True):
            changed_after = raw.seq < last_change
            named = TX_TYPES[tx.type].accounts(none if changed_after else today, tx)
            block_concerns.append((raw.seq, named, changed_after))
        concerns.append(block_concerns)
    accounts = sorted({a for block in concerns for _, named, _ in block for a in named})
    stored = chain.store.postings_of(accounts, chain.latest[0][0].first_seq)
    if stored and stored[-1][0] >= chain.end:
        seq, account = next(p for p in stored if p[0] >= chain.end)
        raise Problem(f"history of account {account} lists seq {seq}, which is in no block",
                      chain.height + 1)
    by_seq: dict[int, list[tuple[int, str]]] = {}
    for entry in stored:
        by_seq.setdefault(entry[0], []).append(entry)
    for (block, _, _), block_concerns in zip(chain.latest, concerns, strict=True):
        touched = [sorted({*named, *(a for _, a in by_seq.get(seq, []))}) if at_least
                   else named for seq, named, at_least in block_concerns]
        end = block.first_seq + block.header.tx_count
        entries = [e for seq in range(block.first_seq, end) for e in by_seq.get(seq, [])]
        check_postings(block.header.height, block.first_seq, touched, entries)


def _changes_policy(raw: RawTx, tx: Tx) -> bool:
    return tx.type in _POLICY_CHANGES and json.loads(raw.result).get("code") == "ok"


def _state_with(config: ChainConfig, currencies: list[Currency]) -> State:
    """A state holding only ``currencies`` (no account, no balance)."""
    state = State(config)
    for currency in currencies:
        state.index_currency(currency)
    return state


def _money_totals(chain: _Chain) -> None:
    """Per currency: mutual credit sums to zero, nantie to issued - reconverted (the
    ledger's own rule, ``check_currency``, on sums the database computes)."""
    state = _state_with(chain.config, chain.currencies)
    sums = chain.store.balance_sums()
    for code in sorted(sums):
        if code not in state.currencies:
            raise Problem(f"balances are stored in {code}, a currency the state does not hold")
        nantie, credit = sums[code]
        state.totals[code] = Totals(nantie, credit)
    for code in sorted(state.currencies):
        try:
            check_currency(state, code)
        except InvariantBroken as exc:
            raise Problem(f"stored balances break a money invariant: {exc}") from None


def _lost_block(chain: _Chain) -> None:
    """One block behind the signing record is the crash between signing a block and
    committing it: the log then still holds that block's entries (they leave it in the
    block's own commit). With nothing left in the log, the block was deleted."""
    if chain.signed_height != chain.height + 1 or chain.settings.shared_log:
        return
    consumed = chain.last.log_position if chain.last else 0
    if chain.store.log_last_position() <= consumed:
        h = chain.signed_height
        raise Problem(f"this validator signed block {h}, but the database ends at block "
                      f"{h - 1} and its log holds nothing to rebuild block {h} from: the last "
                      "block was deleted", h)


Check = Callable[[_Chain], None]

#: The checks, in order: each one may rely on those before it having passed.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("header chain", _header_chain),
    ("nothing after", _nothing_after),
    ("validator sets", _validator_sets),
    ("latest blocks", _latest_blocks),
    ("latest history", _latest_history),
    ("money totals", _money_totals),
    ("lost block", _lost_block),
)


def quick_check(store: NodeStore, settings: StartupCheck | None = None,
                signed_height: int = 0) -> CheckReport:
    """Run ``CHECKS`` on ``store``; the report names the first problem. ``signed_height``:
    the last height this node's validator signed (its signing record)."""
    started = time.perf_counter()
    config = store.config()
    chain = _Chain(store, settings or StartupCheck(), config,
                   ValidatorSchedule(config.validators),
                   store.last_block(), signed_height, store.overview()[0])
    name = ""
    try:
        for name, check in CHECKS:
            check(chain)
    except (Problem, StoreError) as exc:
        return CheckReport(False, chain.linked, len(chain.latest), _count(chain),
                           time.perf_counter() - started, str(exc), name,
                           exc.height if isinstance(exc, Problem) else None)
    return CheckReport(True, chain.linked, len(chain.latest), _count(chain),
                       time.perf_counter() - started)


def _count(chain: _Chain) -> int:
    return sum(len(raws) for _, raws, _ in chain.latest)


class BackgroundVerification:
    """A full verification (``verify_store(..., live=True)``) of a running node's database, in
    a child process at low priority: it neither delays the start nor takes the node's core
    while the node is busy. ``on_result`` hears its report; a failure first calls ``halt``
    with ``ChainDamaged`` (``lien serve``: ``Node.halt``, after which the API answers 503
    ``node_halted``). ``stop`` ends the child; it ends by itself too when this process dies.

    The child is a new interpreter in its own session: no node thread is copied into it, and
    a Ctrl-C in the terminal reaches only ``lien serve``, which stops it. It prints its
    report as one JSON line."""

    def __init__(self, database_url: str, halt: Callable[[BaseException], None],
                 on_result: Callable[[VerifyReport], None] = lambda report: None) -> None:
        self.database_url = database_url
        self.halt = halt
        self.on_result = on_result
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", "from lien.node.integrity import verify_in_child; "
             "verify_in_child()", self.database_url, str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True)
        self._watcher = threading.Thread(target=self._wait, args=(self._process,),
                                         name="lien-verify-watch", daemon=True)
        self._watcher.start()

    def _wait(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with process.stdout:
            said = process.stdout.read()
        code = process.wait()
        if self._stopping.is_set():
            return
        try:
            report = VerifyReport(**json.loads(said))
        except (ValueError, TypeError):  # it failed before a verdict (its error is logged)
            log.warning("the background verification ended without a verdict (exit %s)", code)
            return
        if not report.ok:
            self.halt(ChainDamaged(f"background verification failed: {report.problem}"))
        self.on_result(report)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
            self._process.wait(timeout_s)
        if self._watcher is not None:
            self._watcher.join(timeout_s)


class _Orphaned(Exception):
    """The process that started this verification is gone."""


def verify_in_child() -> None:
    """The child's side of ``BackgroundVerification`` (arguments: the database URL, the pid
    of the node's process): verify, print the report as JSON, unless the node is gone."""
    database_url, parent = sys.argv[1], int(sys.argv[2])
    os.nice(10)

    def progress(transactions: int) -> None:
        if os.getppid() != parent:  # ``kill -9`` of the node: nobody to report to
            raise _Orphaned

    store = Store(database_url, read_only=True)
    try:
        report = verify_store(store, progress, processes=False, live=True)
    except _Orphaned:
        return
    finally:
        store.dispose()
    print(json.dumps(asdict(report)), flush=True)
