"""Full verification of a node's database: re-execute the chain from genesis.

Checks, block after block: the header links to the previous one; every transaction parses and
every signature verifies; re-execution includes every stored transaction and gives the stored
results; the recomputed tx_root, state_root and hash equal the stored ones; the certificate
holds signatures of more than 2/3 of the validators. At the end, the stored state tables must
equal the re-executed state record for record. The first problem is reported by name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..chain import ValidatorSet, header_for
from ..ledger import State, TxError, apply_block, check_all_invariants, signatures_valid
from ..ledger.execute import InvariantBroken
from ..ledger import Tx
from ..ledger.encoding import canonical_trusted
from ..store import RawTx, Store, StoredBlock, tx_from_row


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


def _parse_and_verify(raws: list[RawTx]) -> list[Tx | str]:
    """Each row parsed and its signatures checked; a string names what is wrong."""
    checked: list[Tx | str] = []
    for raw in raws:
        try:
            tx = tx_from_row(raw.body, raw.signatures)
        except TxError as exc:
            checked.append(f"transaction seq {raw.seq} is unreadable ({exc})")
            continue
        if tx.id != raw.id:
            checked.append(f"transaction seq {raw.seq}: body does not hash to its id {raw.id}")
        elif tx.body_bytes != raw.body:
            checked.append(f"transaction {raw.id} (seq {raw.seq}): body is not canonical")
        elif not signatures_valid(tx):
            checked.append(f"transaction {raw.id} (seq {raw.seq}) has a bad signature")
        else:
            checked.append(tx)
    return checked


def _verified_chunks(
    store: Store, pool: ThreadPoolExecutor
) -> Iterator[tuple[StoredBlock, list[RawTx], list[Tx | str]]]:
    """Blocks with their transactions, parsed and verified in the pool ahead of execution."""
    pending = []
    for block, txs in store.iter_blocks():
        pending.append((block, txs, pool.submit(_parse_and_verify, txs)))
        if len(pending) > 4:
            b, t, fut = pending.pop(0)
            yield b, t, fut.result()
    for b, t, fut in pending:
        yield b, t, fut.result()


def verify_store(store: Store, progress: Callable[[int], None] | None = None) -> VerifyReport:
    blocks = transactions = 0
    try:
        config = store.config()
        state = State(config)
        validators = ValidatorSet(config.validators)
        prev = config.genesis_root().hex()
        with ThreadPoolExecutor(2) as pool:
            for block, txs, valid in _verified_chunks(store, pool):
                _verify_block(state, validators, prev, block, txs, valid)
                prev = block.header.hash
                blocks += 1
                transactions += len(txs)
                if progress is not None:
                    progress(len(txs))
        check_all_invariants(state)
        _compare_state(state, store)
    except Problem as problem:
        return VerifyReport(False, blocks, transactions, str(problem), problem.height)
    except InvariantBroken as exc:
        return VerifyReport(False, blocks, transactions, f"invariant broken: {exc}", blocks + 1)
    return VerifyReport(True, blocks, transactions)


def _verify_block(
    state: State,
    validators: ValidatorSet,
    prev: str,
    block: StoredBlock,
    stored: list[RawTx],
    checked: list[Tx | str],
) -> None:
    h = block.header.height
    if h != state.height + 1:
        raise Problem(f"block {h}: expected height {state.height + 1}", h)
    if block.header.prev != prev:
        raise Problem(f"block {h}: prev does not link to block {h - 1}'s hash", h)
    if len(stored) != block.header.tx_count:
        raise Problem(f"block {h}: holds {len(stored)} transactions, header says "
                      f"{block.header.tx_count}", h)
    txs: list[Tx] = []
    for item in checked:
        if isinstance(item, str):
            raise Problem(f"block {h}: {item}", h)
        txs.append(item)
    try:
        outcome = apply_block(state, txs, block.header.time_ms)
    except ValueError as exc:
        raise Problem(f"block {h}: {exc}", h) from None
    if outcome.dropped:
        tx, error = outcome.dropped[0]
        raise Problem(f"block {h}: transaction {tx.id} should not be in a block ({error})", h)
    for s, result in zip(stored, outcome.results):
        if s.result != canonical_trusted(result).decode():
            raise Problem(f"block {h}: transaction {s.id} (seq {s.seq}) stored result "
                          f"{s.result} but re-execution gives {json.dumps(result)}", h)
    state.take_changes()
    header = header_for(state.config.chain_id, prev, outcome)
    for name in ("time_ms", "tx_count", "tx_root", "state_root"):
        if getattr(header, name) != getattr(block.header, name):
            raise Problem(f"block {h}: {name} differs from re-execution", h)
    stored_hash = block.stored_hash
    if stored_hash is not None and stored_hash != header.hash:
        raise Problem(f"block {h}: stored hash differs from the header's hash", h)
    if not validators.is_final(header.hash, block.signatures):
        raise Problem(f"block {h}: fewer than 2/3 of the validators signed it", h)


def _compare_state(state: State, store: Store) -> None:
    computed = set(state.all_lines())
    stored = set(store.stored_state_lines())
    if computed == stored:
        return
    altered = sorted(stored - computed) or sorted(computed - stored)
    record = altered[0].split("|")
    kinds = {"a": "account", "m": "balance of account", "c": "currency"}
    raise Problem(f"stored state differs from re-execution: {kinds[record[0]]} "
                  f"{' '.join(record[1:3])} (stored line: {altered[0]!r})")
