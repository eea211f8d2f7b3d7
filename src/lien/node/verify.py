"""Full verification of a node's database: re-execute the chain from genesis.

Checks, block after block: the header links to the previous one; every transaction parses and
every signature verifies; re-execution includes every stored transaction and gives the stored
results; the recomputed tx_root, state_root and hash equal the stored ones; every stored
validator signature verifies, a validator of the set in force at the block's height (a block
is final with more than 2/3 of them, ``finality``; the set changes by ``set_validators`` from
the block after each change). At the end, the stored state tables must equal the re-executed
state record for record, and the stored validator changes the re-executed ones. The first
problem is reported by name.

The checks of one block's link, rows, hash, certificate and history entries are also what the
start-up check (``integrity``) applies to the latest blocks without re-executing them.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Generator, Iterator
from collections.abc import Set as AbstractSet
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass

from ..chain import Header, ValidatorSchedule, ValidatorSet, header_for
from ..ledger import (
    TX_TYPES,
    BlockOutcome,
    State,
    TxError,
    apply_block,
    check_all_invariants,
    signatures_valid,
)
from ..ledger.execute import InvariantBroken
from ..ledger import Tx
from ..ledger.transactions import Signature
from ..store import ChainStore, RawTx, StoreError, StoredBlock, tx_from_row
from ..store.store import unpack_signatures


@dataclass
class VerifyReport:
    ok: bool
    blocks: int
    transactions: int
    problem: str = ""
    height: int | None = None


class Problem(Exception):
    def __init__(self, message: str, height: int | None = None) -> None:
        super().__init__(message)
        self.height = height


Row = tuple[int, str, bytes, bytes]  #: (seq, id, body, signatures) as stored
Problems = dict[int, str]  #: seq -> what is wrong with that row (good rows are absent)


def row_problems(rows: list[Row]) -> Problems:
    """Each row parses strictly, is canonical, hashes to its id and carries valid signatures."""
    problems: Problems = {}
    for seq, tx_id, body, signatures in rows:
        try:
            tx = tx_from_row(body, signatures)
        except TxError as exc:
            problems[seq] = f"transaction seq {seq} is unreadable ({exc})"
            continue
        if tx.id != tx_id:
            problems[seq] = unhashed_message(seq, tx_id)
        elif tx.body_bytes != body:
            problems[seq] = f"transaction {tx_id} (seq {seq}): body is not canonical"
        elif not signatures_valid(tx):
            problems[seq] = f"transaction {tx_id} (seq {seq}) has a bad signature"
    return problems


def unhashed_message(seq: int, tx_id: str) -> str:
    return f"transaction seq {seq}: body does not hash to its id {tx_id}"


def checked_tx(raw: RawTx) -> Tx:
    """A row a worker has checked: rebuilt without checking it all again."""
    signatures = tuple(Signature(k, s) for k, s in unpack_signatures(raw.signatures))
    return Tx(raw.id, json.loads(raw.body), raw.body, signatures)


#: Below this many transactions, processes cost more than they save.
PROCESS_POOL_MIN_TRANSACTIONS = 4000
GROUP_TRANSACTIONS = 1000
VERIFY_WORKERS = int(os.environ.get("LIEN_VERIFY_WORKERS", os.cpu_count() or 2))


def _done(problems: Problems) -> Future[Problems]:
    future: Future[Problems] = Future()
    future.set_result(problems)
    return future


def _verified_chunks(
    store: ChainStore, pool: Executor | None, through: int
) -> Iterator[tuple[StoredBlock, list[RawTx], list[Tx | str]]]:
    """Blocks up to height ``through`` with their transactions, checked by worker processes a
    few groups ahead of execution (signature checks are most of the work: they run on every
    core). Without a pool, rows are checked here."""
    in_flight: list[tuple[list[tuple[StoredBlock, list[RawTx]]], Future[Problems]]] = []
    group: list[tuple[StoredBlock, list[RawTx]]] = []

    def submit() -> None:
        rows = [(r.seq, r.id, r.body, r.signatures) for _, raws in group for r in raws]
        future = pool.submit(row_problems, rows) if pool is not None else _done(row_problems(rows))
        in_flight.append((list(group), future))
        group.clear()

    def ready() -> Iterator[tuple[StoredBlock, list[RawTx], list[Tx | str]]]:
        blocks, future = in_flight.pop(0)
        problems = future.result()
        for block, raws in blocks:
            checked: list[Tx | str] = [
                problems.get(raw.seq) or checked_tx(raw) for raw in raws
            ]
            yield block, raws, checked

    for block, raws in store.iter_blocks(through=through):
        group.append((block, raws))
        if sum(len(r) for _, r in group) >= GROUP_TRANSACTIONS:
            submit()
            if len(in_flight) > 4:
                yield from ready()
    if group:
        submit()
    while in_flight:
        yield from ready()


def verify_store(
    store: ChainStore,
    progress: Callable[[int], None] | None = None,
    processes: bool | None = None,
    live: bool = False,
) -> VerifyReport:
    """Verify ``store`` from genesis. ``processes``: check rows in worker processes (None:
    when the chain has at least PROCESS_POOL_MIN_TRANSACTIONS transactions).

    The chain verified is the one the database holds when verification begins: its last
    block and its state records are read in one snapshot. ``live``: a node is running on
    the database (``lien serve``'s background verification) and commits blocks meanwhile, so
    the rows after that last block are not looked at (a quiet database: ``lien verify``
    looks for rows outside every block too)."""
    blocks = transactions = 0
    try:
        config = store.config()
        state = State(config)
        validators = ValidatorSchedule(config.validators)
        prev = config.genesis_root().hex()
        last, stored_lines = store.state_snapshot()
        through = last.header.height if last else 0
        total = last.first_seq + last.header.tx_count if last else 0
        pool: Executor | None = None
        if processes if processes is not None else total >= PROCESS_POOL_MIN_TRANSACTIONS:
            pool = ProcessPoolExecutor(VERIFY_WORKERS,
                                       mp_context=multiprocessing.get_context("fork"))
        postings = _Postings(store.iter_postings())
        try:
            for block, txs, valid in _verified_chunks(store, pool, through):
                stored = postings.before(transactions + len(txs))
                _verify_block(state, validators, prev, transactions, block, txs, valid, stored)
                prev = block.header.hash
                blocks += 1
                transactions += len(txs)
                if progress is not None:
                    progress(len(txs))
            if not live:
                _check_nothing_after(store, transactions, postings)
            _compare_validator_changes(store, validators, through)
        finally:
            postings.close()
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        check_all_invariants(state)
        _compare_state(state, stored_lines)
    except Problem as problem:
        return VerifyReport(False, blocks, transactions, str(problem), problem.height)
    except StoreError as exc:
        return VerifyReport(False, blocks, transactions, str(exc), blocks + 1)
    except InvariantBroken as exc:
        return VerifyReport(False, blocks, transactions, f"invariant broken: {exc}", blocks + 1)
    return VerifyReport(True, blocks, transactions)


def _check_nothing_after(store: ChainStore, end: int, postings: _Postings) -> None:
    """No transaction row, no history entry outside the blocks (seqs 0 .. end - 1)."""
    if stray := store.stray_transactions(end):
        raise Problem(stray_message(stray[0]))
    if (stray_posting := postings.next()) is not None:
        seq, account = stray_posting
        raise Problem(f"history of account {account} lists seq {seq}, which is in no block")


def stray_message(seq: int) -> str:
    return f"transaction seq {seq} is stored outside every block"


def check_link(block: StoredBlock, height: int, prev: str, first_seq: int) -> None:
    """``block`` follows the block before it: the next height, linked to that block's hash,
    its transactions numbered on from that block's."""
    h = block.header.height
    if h != height:
        raise Problem(f"block {h}: expected height {height}", h)
    if block.header.prev != prev:
        raise Problem(f"block {h}: prev does not link to block {h - 1}'s hash", h)
    if block.first_seq != first_seq:
        raise Problem(f"block {h}: first_seq is {block.first_seq}, expected {first_seq}", h)


def check_numbering(block: StoredBlock, stored: list[RawTx]) -> None:
    """The rows stored for ``block`` are numbered from its first seq, filed under its height,
    and as many as its header counts."""
    h, first_seq = block.header.height, block.first_seq
    # The rows' own seq and height are what status, history and receipts read: check them
    # first, so that a missing row is named rather than only counted.
    for i, s in enumerate(stored):
        if s.seq != first_seq + i:
            raise Problem(f"block {h}: transaction seq {first_seq + i} is missing", h)
        if s.height != h:
            raise Problem(f"block {h}: transaction {s.id} (seq {s.seq}) is stored under "
                          f"height {s.height}", h)
    if len(stored) != block.header.tx_count:
        missing = first_seq + len(stored)
        raise Problem(f"block {h}: holds {len(stored)} transactions, header says "
                      f"{block.header.tx_count} (transaction seq {missing} is missing)", h)


def check_contents(block: StoredBlock, stored: list[RawTx], checked: list[Tx | str]
                   ) -> list[Tx]:
    """Each row is readable (``checked``: its transaction, or what is wrong with it) and
    stored with the expiry its body says. Returns the transactions."""
    h = block.header.height
    txs: list[Tx] = []
    for s, item in zip(stored, checked, strict=True):
        if isinstance(item, str):
            raise Problem(f"block {h}: {item}", h)
        if s.expires != item.body["expires"]:  # what a restart's replay memory is made of
            raise Problem(f"block {h}: transaction {s.id} (seq {s.seq}) is stored with expiry "
                          f"{s.expires} but its body says {item.body['expires']}", h)
        txs.append(item)
    return txs


def check_hash(block: StoredBlock, header_hash: str) -> None:
    """The stored hash column is the hash of the header (re-executed, or as stored)."""
    if block.stored_hash is not None and block.stored_hash != header_hash:
        h = block.header.height
        raise Problem(f"block {h}: stored hash differs from the header's hash", h)


def check_certificate(validators: ValidatorSet, block: StoredBlock, header_hash: str) -> None:
    """Every stored signature is a validator's valid signature of the header, and there is at
    least one (the node's own). A certificate (more than 2/3 of them) is not required of each
    block: in a federation the latest blocks wait for the other validators' signatures, and a
    certified block makes every block before it final through the hash chain."""
    h = block.header.height
    signers = validators.signers(header_hash, block.signatures)
    if len(signers) != len(block.signatures):
        raise Problem(f"block {h}: a stored signature is not a validator's signature of it", h)
    if not signers:
        raise Problem(f"block {h}: no validator signed it", h)


def _verify_block(
    state: State,
    validators: ValidatorSchedule,
    prev: str,
    first_seq: int,
    block: StoredBlock,
    stored: list[RawTx],
    checked: list[Tx | str],
    postings: list[tuple[int, str]],
) -> None:
    h = block.header.height
    check_link(block, state.height + 1, prev, first_seq)
    check_numbering(block, stored)
    txs = check_contents(block, stored, checked)
    outcome = replay_block(state, block.header, txs)
    check_postings(h, first_seq, outcome.touched, postings)
    for s, result in zip(stored, outcome.results, strict=True):
        if s.result != result.encoded.decode():
            raise Problem(f"block {h}: transaction {s.id} (seq {s.seq}) stored result "
                          f"{s.result} but re-execution gives {result.encoded.decode()}", h)
    state.take_changes()
    header = header_for(state.config.chain_id, prev, outcome)
    check_header(block.header, header)
    check_hash(block, header.hash)
    check_certificate(validators.at(h), block, header.hash)
    if state.validators.from_height > validators.latest_from:
        validators.add(state.validators)


def replay_block(state: State, header: Header, txs: list[Tx],
                 executed_before: AbstractSet[str] = frozenset()) -> BlockOutcome:
    """Re-execute the transactions ``txs`` of the block of ``header`` on ``state`` (which
    applies it): the block's order runs must be the ones the ledger makes itself, and no
    transaction may be dropped. ``lien verify`` and catching up from peers
    (``lien.federation.catchup``) both re-execute blocks through here. ``executed_before``:
    as for ``apply_block``, the ids among ``txs`` that executed before this state's replay
    memory begins (a state loaded from a store)."""
    h = header.height
    try:
        # The ledger makes a block's order runs itself, from the state: the stored ones are
        # compared with those, never executed as given.
        outcome = apply_block(state, [tx for tx in txs if not TX_TYPES[tx.type].system],
                              header.time_ms, executed_before=executed_before)
    except ValueError as exc:
        raise Problem(f"block {h}: {exc}", h) from None
    check_runs(h, txs, outcome.txs)
    if outcome.dropped:
        tx, error = outcome.dropped[0]
        raise Problem(f"block {h}: transaction {tx.id} should not be in a block ({error})", h)
    return outcome


def check_header(expected: Header, header: Header) -> None:
    """The header of a re-executed block (``header``) is the one the block holds."""
    h = expected.height
    for name in ("time_ms", "tx_count", "tx_root", "state_root"):
        if getattr(header, name) != getattr(expected, name):
            raise Problem(f"block {h}: {name} differs from re-execution", h)


def check_runs(height: int, stored: list[Tx], executed: list[Tx]) -> None:
    """The block holds exactly the standing-order runs due at its time, first (tampering
    otherwise: a run added, removed, altered or moved)."""
    stored_runs = [tx.id for tx in stored if TX_TYPES[tx.type].system]
    runs = [tx.id for tx in executed if TX_TYPES[tx.type].system]
    if stored_runs != runs or [tx.id for tx in stored[: len(runs)]] != runs:
        raise Problem(f"block {height}: its order runs are not the standing orders due at its "
                      f"time ({len(stored_runs)} stored, {len(runs)} due)", height)


class _Postings:
    """The sorted stream of stored history entries, taken block by block."""

    def __init__(self, stream: Generator[tuple[int, str]]) -> None:
        self._stream = stream
        self._head = next(stream, None)

    def close(self) -> None:
        """End the stream's query (a live verification leaves the newer entries unread)."""
        self._stream.close()

    def next(self) -> tuple[int, str] | None:
        head, self._head = self._head, next(self._stream, None)
        return head

    def before(self, end: int) -> list[tuple[int, str]]:
        taken = []
        while self._head is not None and self._head[0] < end:
            taken.append(self.next())
        return taken  # type: ignore[return-value]


def check_postings(height: int, first_seq: int, touched: list[list[str]],
                   stored: list[tuple[int, str]]) -> None:
    """Each account's history (what statements are made of) lists exactly its transactions:
    ``touched[i]``, the accounts transaction ``first_seq + i`` concerns; ``stored``, the sorted
    (seq, account) entries of the block's seqs."""
    expected = sorted(
        (first_seq + i, account) for i, accounts in enumerate(touched) for account in accounts
    )
    if stored == expected:
        return
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    seq, account = (missing or extra)[0]
    what = "lacks" if missing else "wrongly lists"
    raise Problem(f"block {height}: history of account {account} {what} transaction seq {seq}",
                  height)


def _compare_validator_changes(store: ChainStore, validators: ValidatorSchedule,
                               through: int) -> None:
    """The stored validator changes (what receipts are built from) are the ones re-execution
    made, up to the last block verified (a running node may have added one after it)."""
    stored = [c for c in store.validator_changes() if c.from_height <= through + 1]
    executed = validators.changes()
    if stored != executed:
        wrong = next((s for s, e in zip(stored, executed, strict=False) if s != e),
                     None) or (stored + executed)[min(len(stored), len(executed))]
        raise Problem(f"stored validator changes differ from re-execution: the validator "
                      f"set from height {wrong.from_height} ({len(stored)} changes stored, "
                      f"{len(executed)} re-executed)", wrong.from_height - 1)


def _compare_state(state: State, stored_lines: list[str]) -> None:
    computed = set(state.all_lines())
    stored = set(stored_lines)
    if computed == stored:
        return
    altered = sorted(stored - computed) or sorted(computed - stored)
    record = altered[0].split("|")
    kinds = {"a": "account", "m": "balance of account", "c": "currency", "o": "standing order",
             "v": "validator set from height"}
    raise Problem(f"stored state differs from re-execution: {kinds[record[0]]} "
                  f"{' '.join(record[1:3])} (stored line: {altered[0]!r})")
