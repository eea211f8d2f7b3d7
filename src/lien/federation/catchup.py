"""Catching up from peers' certified blocks over HTTP (a node that is new, or was down).

The node fetches the blocks after its last one from its peers (the base URLs of node.toml's
``[federation] peers``), verifies each as ``lien verify`` does, and commits it. ``catch_up``
runs on a node's database *before* the node starts (nothing else writes to it meanwhile);
``lien join`` and ``lien catch-up`` call it too::

    GET PEER/api/v1/blocks/certified?after=H   ->  a page of whole final blocks (bounded)
      for each block, in order:
        1. its certificate: valid signatures of more than 2/3 of the genesis validators
        2. it follows this node's last block: next height, ``prev`` = that block's hash
        3. every transaction parses strictly, is canonical, and its signatures verify
        4. the served (id, result) pairs give the certified ``tx_root``
        5. re-executed on this node's state (``node.verify.replay_block``, as ``lien verify``
           does), it gives the certified header, its state commitment above all
        6. committed with its certificate and its ``log_position`` (one database transaction)

Nothing a peer serves is trusted: steps 1-4 hold it to the certificate, which no peer can
forge without the validators' keys. A peer that fails them, answers something malformed or
too large, or does not answer, is skipped and named in the report (``PeerReport.problem``),
and the next peer is asked; blocks already taken from it stay (each was certified and
re-executed on its own). Every peer of the list is asked in turn, each from where the one
before left off: the node ends at the highest certified height its peers serve. One page is
held at a time: memory is bounded by the page, whatever the history.

The node's own store is authoritative: blocks are only appended after its last one, never
rewritten. The first page asked of each peer begins *at* this node's last block, which the peer
must hold identically. Exception tree (each carries the ``report`` of what was done before)::

    CatchUpError            nothing more can be appended
      ├── UnconsumedLog     this node's own ordering log holds entries no block consumed:
      │                     the node must execute them itself first (``lien serve``)
      └── CatchUpAlarm      the node must not start; a person must look (the message says what)
            ├── ChainConflict   a certified block, at a height this node holds, that is not
            │                   this node's block (both headers in the message)
            └── Divergence      a certified block served faithfully (steps 1-4 hold) does not
                                re-execute here to its header (or breaks an invariant): this
                                node's state or code differs from the validators' (a bug, damage)
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..chain import Header, ValidatorSet, header_for
from ..chain import merkle
from ..ledger import (
    State,
    Tx,
    TxError,
    canonical,
    check_all_invariants,
    decode_tx,
    limits,
    parse_json,
    parse_tx,
    signatures_valid,
)
from ..ledger.execute import InvariantBroken
from ..node.verify import Problem, check_header, replay_block
from ..store import BlockWrite, NodeStore

log = logging.getLogger("lien.federation")

#: Where a node serves its certified blocks, under a peer's base URL.
CERTIFIED_PATH = "/api/v1/blocks/certified"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_HEADER_FIELDS = {"chain", "height", "prev", "state_root", "time_ms", "tx_count", "tx_root"}


@dataclass(frozen=True)
class CatchUpSettings:
    """Bounds of catching up (units last)."""

    #: Blocks asked for per page (a peer may serve fewer: it bounds a page's transactions).
    page_blocks: int = 50
    #: Longest wait for a peer to connect, or between two parts of its answer.
    timeout_s: float = 10.0
    #: Longest a whole page may take to arrive (a peer that trickles is skipped).
    page_s_max: float = 120.0
    #: Largest answer read from a peer: one page holds at least one whole block, at most
    #: ``block_transactions_max`` transactions and the order runs (a longer one is refused).
    page_bytes_max: int = 64 * 1024 * 1024
    #: Threads that verify the transactions' signatures.
    verify_threads: int = 2


@dataclass(frozen=True, slots=True)
class CertifiedBlock:
    """A block as a peer serves it (or an export holds it): everything needed to verify and
    re-execute it."""

    header: Header
    signatures: dict[str, bytes]  #: its certificate: validator key (hex) -> signature
    log_position: int  #: the ordering-log entry that closed it (shared by a federation)
    txs: tuple[bytes, ...]  #: each transaction's canonical envelope, in block order
    results: tuple[bytes, ...]  #: each one's recorded result, canonical JSON


@dataclass
class PeerReport:
    """What one peer gave: ``blocks`` taken from it, its ``final_height`` as it said (None
    when it did not answer), and ``problem``: why it was skipped ("" when it answered and
    everything it served verified)."""

    peer: str
    blocks: int = 0
    final_height: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass
class CatchUpReport:
    """Heights before and after, and each peer asked, in order."""

    height_before: int
    height_after: int
    peers: list[PeerReport] = field(default_factory=list)

    @property
    def blocks(self) -> int:
        return sum(p.blocks for p in self.peers)

    @property
    def answered(self) -> bool:
        """At least one peer answered and everything it served verified."""
        return any(p.ok for p in self.peers)

    def lines(self) -> list[str]:
        """The report in words, one line per peer (for the CLI and the node's log)."""
        lines = [f"height {self.height_before} -> {self.height_after}: {self.blocks} blocks "
                 "fetched, verified and committed"]
        for p in self.peers:
            said = "" if p.final_height is None else f" (final height {p.final_height})"
            what = f"{p.blocks} blocks" if p.ok else f"skipped after {p.blocks} blocks: {p.problem}"
            lines.append(f"  {p.peer}{said}: {what}")
        return lines


class CatchUpError(Exception):
    """Nothing more can be appended; ``report`` is what was done before."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.report: CatchUpReport | None = None


class UnconsumedLog(CatchUpError):
    """This node's own ordering log holds entries that no block consumed yet."""


class CatchUpAlarm(CatchUpError):
    """The node must not start: its history and the certified one disagree."""


class ChainConflict(CatchUpAlarm):
    """A certified block at a height this node holds is not this node's block."""


class Divergence(CatchUpAlarm):
    """A faithfully served certified block does not re-execute to its header here."""


class PeerRefused(Exception):
    """What a peer served does not verify, or it did not answer: it is skipped."""


# -- following the certified chain --------------------------------------------------------------
class _Follower:
    """Appends certified blocks to a store after its last block, re-executing each on the
    store's state (loaded once: the store is authoritative)."""

    def __init__(self, store: NodeStore, pool: Executor, verify_threads: int) -> None:
        self.store = store
        self.pool = pool
        self.verify_threads = verify_threads
        self.config = store.config()
        self.validators = ValidatorSet(self.config.validators)
        last = store.last_block()
        consumed = last.log_position if last else 0
        if store.log_last_position() > consumed:
            raise UnconsumedLog(
                "this node's own ordering log holds transactions that no block has consumed "
                f"(up to position {store.log_last_position()}, blocks up to {consumed}): "
                "start the node once so that it executes them, then catch up")
        self.state: State = store.load_state()
        check_all_invariants(self.state)
        self.last: Header | None = last.header if last else None
        #: Ids executed before the state was loaded are not in its replay memory: until the
        #: last of them has expired, each block looks its ids up in the store (as the node).
        self.lookup_until_ms = (self.state.time_ms + limits.expiry_window_ms_max
                                if self.state.height else 0)

    @property
    def height(self) -> int:
        """The height of the last block committed (the state may be ahead of it after a
        block that failed to re-execute)."""
        return self.last.height if self.last else 0

    @property
    def prev(self) -> str:
        return self.last.hash if self.last else self.config.genesis_root().hex()

    def certified(self, block: CertifiedBlock) -> bool:
        return (block.header.chain == self.config.chain_id
                and self.validators.is_final(block.header.hash, block.signatures))

    def check_same(self, block: CertifiedBlock, source: str) -> None:
        """``block`` is at this node's last height: it must be this node's own block."""
        assert self.last is not None and block.header.height == self.last.height
        if block.header.hash == self.last.hash:
            return
        if not self.certified(block):
            raise PeerRefused(f"served a block {self.last.height} other than this node's, "
                              "without a valid certificate")
        raise ChainConflict(
            f"{source} serves a certified block {self.last.height} that is not this node's "
            f"own block {self.last.height}; nothing was overwritten. This node's header: "
            f"{_header_text(self.last)}; the certified header: {_header_text(block.header)}")

    def append(self, block: CertifiedBlock, source: str) -> None:
        """Verify ``block`` (steps 1-5 of the module doc) and commit it."""
        header = block.header
        h = header.height
        if header.chain != self.config.chain_id:
            raise PeerRefused(f"served block {h} of another chain, {header.chain!r}")
        if h != self.height + 1:
            raise PeerRefused(f"served block {h} where block {self.height + 1} was expected")
        if not self.validators.is_final(header.hash, block.signatures):
            raise PeerRefused(f"block {h} is not certified: fewer than 2/3 of the validators' "
                              "signatures on its hash verify")
        if header.prev != self.prev:
            raise ChainConflict(
                f"{source} serves a certified block {h} whose prev is not this node's block "
                f"{h - 1}: the certified history differs from this node's; nothing was "
                f"overwritten. This node's block {h - 1}: "
                f"{_header_text(self.last) if self.last else 'genesis'}; the certified header "
                f"{h}: {_header_text(header)}")
        txs = self._transactions(block)
        leaves = [merkle.leaf_hash_encoded(tx.id, result)
                  for tx, result in zip(txs, block.results, strict=True)]
        if merkle.root(leaves).hex() != header.tx_root:
            raise PeerRefused(f"block {h}: the transactions and results served do not give its "
                              "certified tx_root")
        self._execute(block, txs, source)

    def _transactions(self, block: CertifiedBlock) -> list[Tx]:
        """The block's transactions, parsed strictly, canonical, their signatures valid."""
        h = block.header.height
        if not len(block.txs) == len(block.results) == block.header.tx_count:
            raise PeerRefused(f"block {h}: {len(block.txs)} transactions and {len(block.results)} "
                              f"results served, its header counts {block.header.tx_count}")
        txs = []
        for i, data in enumerate(block.txs):
            try:
                tx = decode_tx(data)
            except TxError as exc:
                raise PeerRefused(f"block {h}: transaction {i} does not parse ({exc})") from None
            if tx.encode() != data:
                raise PeerRefused(f"block {h}: transaction {tx.id} is not in canonical form")
            txs.append(tx)
        chunk = max(1, len(txs) // (self.verify_threads * 4))
        parts = [txs[i : i + chunk] for i in range(0, len(txs), chunk)]
        valid = self.pool.map(lambda part: [signatures_valid(tx) for tx in part], parts)
        for tx, ok in zip(txs, (ok for part in valid for ok in part), strict=True):
            if not ok:
                raise PeerRefused(f"block {h}: transaction {tx.id} has a bad signature")
        return txs

    def _execute(self, block: CertifiedBlock, txs: list[Tx], source: str) -> None:
        """Re-execute the block as ``lien verify`` does; commit it if it gives the certified
        header. The transactions and results are the certified ones (``append``): a
        difference is this node's."""
        header = block.header
        before: AbstractSet[str] = (
            self.store.executed_ids([tx.id for tx in txs])
            if header.time_ms < self.lookup_until_ms else frozenset())
        try:
            outcome = replay_block(self.state, header, txs, before)
            for tx, result, certified in zip(outcome.txs, outcome.results, block.results,
                                             strict=True):
                if result.encoded != certified:
                    raise Problem(f"block {header.height}: transaction {tx.id}: certified "
                                  f"result {certified.decode()}, re-execution gives "
                                  f"{result.encoded.decode()}", header.height)
            again = header_for(self.config.chain_id, self.prev, outcome)
            check_header(header, again)
        except (Problem, InvariantBroken) as exc:
            raise Divergence(
                f"this node does not re-execute the certified block {header.height} served by "
                f"{source} to its header ({exc}): its state or its code differs from the "
                f"validators'; nothing was committed. The certified header: "
                f"{_header_text(header)}") from None
        self.store.commit_block(BlockWrite(
            header, block.signatures, outcome.txs, [r.encoded for r in outcome.results],
            outcome.touched, self.state.take_changes(), block.log_position))
        self.last = header


def _header_text(header: Header) -> str:
    return f"{header.encode().decode()} (hash {header.hash})"


# -- from peers -----------------------------------------------------------------------------------
def catch_up(
    store: NodeStore,
    peers: Sequence[str],
    *,
    settings: CatchUpSettings | None = None,
    transport: httpx.BaseTransport | None = None,
    progress: Callable[[int], None] | None = None,
) -> CatchUpReport:
    """Append to ``store`` the certified blocks its ``peers`` serve after its last block,
    each verified and re-executed (module doc); return what was done. Run it on a node's
    database before the node starts: nothing else may write to it meanwhile.

    ``peers``: base URLs (``http://host:port``), asked in order. ``transport``: httpx's, for
    tests. ``progress``: called with each committed block's height. Raises ``CatchUpAlarm``
    (``ChainConflict``, ``Divergence``) — the node must not start — or ``UnconsumedLog``;
    a peer that fails is only named in the report (``CatchUpReport.answered``: did any
    peer serve what verified?)."""
    settings = settings or CatchUpSettings()
    timeout = httpx.Timeout(settings.timeout_s)
    with ThreadPoolExecutor(settings.verify_threads, "lien-catch-up") as pool:
        follower = _Follower(store, pool, settings.verify_threads)
        report = CatchUpReport(follower.height, follower.height)
        with httpx.Client(timeout=timeout, transport=transport) as client:
            try:
                for peer in peers:
                    outcome = PeerReport(peer)
                    report.peers.append(outcome)
                    pages = _pages(client, peer, follower, settings, outcome)
                    _take(follower, pages, peer, outcome, progress)
            except CatchUpError as exc:
                report.height_after = follower.height
                exc.report = report
                raise
    report.height_after = follower.height
    return report


def _take(follower: _Follower, pages: Iterator[list[CertifiedBlock]], source: str,
          outcome: PeerReport, progress: Callable[[int], None] | None) -> None:
    """Append the blocks of ``pages`` (the first begins at the follower's last block, which
    must be its own); a refusal ends this source, named in ``outcome``."""
    try:
        first = True
        for page in pages:
            if first and page and follower.last is not None \
                    and page[0].header.height == follower.last.height:
                follower.check_same(page[0], source)
                page = page[1:]
            first = False
            for block in page:
                follower.append(block, source)
                outcome.blocks += 1
                if progress is not None:
                    progress(block.header.height)
    except PeerRefused as exc:
        outcome.problem = str(exc) or "refused"
        log.warning("peer %s skipped: %s", source, outcome.problem)


def _pages(client: httpx.Client, peer: str, follower: _Follower, settings: CatchUpSettings,
           outcome: PeerReport) -> Iterator[list[CertifiedBlock]]:
    """The peer's pages of certified blocks, from the follower's last block on (included, to
    be compared), each asked once the one before has been taken."""
    after = max(follower.height - 1, 0)
    while True:
        data = get_json(client, f"{peer.rstrip('/')}{CERTIFIED_PATH}",
                    {"after": after, "limit": settings.page_blocks}, settings)
        blocks, following, final = _page_from_json(data)
        outcome.final_height = final
        yield blocks
        if not blocks or following is None or follower.height <= after:
            return
        after = follower.height


def get_json(client: httpx.Client, url: str, params: dict[str, int],
             settings: CatchUpSettings) -> Any:
    """GET ``url``: its strict JSON answer, read up to ``page_bytes_max`` bytes within
    ``page_s_max`` seconds (``PeerRefused`` otherwise: the peer is skipped)."""
    deadline = time.monotonic() + settings.page_s_max
    try:
        with client.stream("GET", url, params=params) as response:
            if response.status_code != 200:
                raise PeerRefused(f"GET {url} answered HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > settings.page_bytes_max:
                    raise PeerRefused(f"GET {url}: answer longer than {settings.page_bytes_max} "
                                      "bytes")
                if time.monotonic() > deadline:
                    raise PeerRefused(f"GET {url}: answer slower than {settings.page_s_max} s")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise PeerRefused(f"GET {url}: {type(exc).__name__}: {exc}") from None
    try:
        return parse_json(b"".join(chunks))
    except TxError as exc:
        raise PeerRefused(f"GET {url}: the answer is not strict JSON ({exc.detail})") from None


def _page_from_json(data: Any) -> tuple[list[CertifiedBlock], int | None, int]:
    """(blocks, next, final_height) of a page, checked for shape (``PeerRefused``)."""
    try:
        if not isinstance(data, dict) or not {"items", "next", "final_height"} <= set(data):
            raise ValueError("a page is {items, next, final_height}")
        items, following, final = data["items"], data["next"], data["final_height"]
        if not isinstance(items, list):
            raise ValueError("items is not a list")
        if following is not None:
            _natural(following, "next")
        return [_block_from_json(item) for item in items], following, _natural(final,
                                                                              "final_height")
    except ValueError as exc:
        raise PeerRefused(f"served a malformed page: {exc}") from None


def _natural(value: Any, name: str) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} is not an integer >= 0")
    return value


def _block_from_json(item: Any) -> CertifiedBlock:
    """A served block (protocol §12, GET /blocks/certified), checked for shape only."""
    if not isinstance(item, dict):
        raise ValueError("a block is an object")
    header = header_from_json(item.get("header"))
    if item.get("hash") != header.hash:
        raise ValueError(f"block {header.height}: its hash is not its header's")
    transactions = item.get("transactions")
    if not isinstance(transactions, list) or not all(
            isinstance(t, dict) and set(t) == {"tx", "result"} and isinstance(t["tx"], str)
            and isinstance(t["result"], str) for t in transactions):
        raise ValueError(f"block {header.height}: transactions are not [{{tx, result}}]")
    return CertifiedBlock(
        header, signatures_from_json(item.get("signatures")),
        _natural(item.get("log_position"), "log_position"),
        tuple(t["tx"].encode() for t in transactions),
        tuple(t["result"].encode() for t in transactions))


def header_from_json(data: Any) -> Header:
    """A header as served or exported, its fields checked for type (``ValueError``)."""
    if not isinstance(data, dict) or set(data) != _HEADER_FIELDS:
        raise ValueError(f"a header has exactly the fields {sorted(_HEADER_FIELDS)}")
    if not isinstance(data["chain"], str):
        raise ValueError("header chain is not a string")
    for name in ("height", "time_ms", "tx_count"):
        _natural(data[name], f"header {name}")
    for name in ("prev", "tx_root", "state_root"):
        if not isinstance(data[name], str) or not _HEX64.fullmatch(data[name]):
            raise ValueError(f"header {name} is not 64 lower-case hex digits")
    return Header.from_json(data)


def signatures_from_json(data: Any) -> dict[str, bytes]:
    """A certificate as served or exported: ``[{key, sig}]``, no key twice (``ValueError``)."""
    if not isinstance(data, list) or len(data) > limits.validators_max:
        raise ValueError(f"signatures are a list of at most {limits.validators_max}")
    signatures: dict[str, bytes] = {}
    for entry in data:
        if (not isinstance(entry, dict) or set(entry) != {"key", "sig"}
                or not isinstance(entry["key"], str) or not _HEX64.fullmatch(entry["key"])
                or not isinstance(entry["sig"], str) or not _HEX128.fullmatch(entry["sig"])):
            raise ValueError("a signature is {key: 64 hex, sig: 128 hex}")
        if entry["key"] in signatures:
            raise ValueError("two signatures by one key")
        signatures[entry["key"]] = bytes.fromhex(entry["sig"])
    return signatures


# -- from an export -------------------------------------------------------------------------------
def catch_up_from_export(
    store: NodeStore,
    lines: Iterable[bytes],
    source: str,
    *,
    settings: CatchUpSettings | None = None,
    progress: Callable[[int], None] | None = None,
) -> CatchUpReport:
    """Append the blocks of a ``lien export`` (its lines after the genesis line) to ``store``
    with the same checks as from a peer (``source`` names the file in the report). The blocks
    this store holds already are compared, not appended; a line that does not verify ends
    the import (``report.peers[0].problem``)."""
    settings = settings or CatchUpSettings()
    with ThreadPoolExecutor(settings.verify_threads, "lien-catch-up") as pool:
        follower = _Follower(store, pool, settings.verify_threads)
        report = CatchUpReport(follower.height, follower.height, [PeerReport(source)])
        try:
            _take(follower, _export_pages(lines, follower), source, report.peers[0], progress)
        except CatchUpError as exc:
            report.height_after = follower.height
            exc.report = report
            raise
    report.height_after = follower.height
    return report


def _export_pages(lines: Iterable[bytes], follower: _Follower
                  ) -> Iterator[list[CertifiedBlock]]:
    """One block per page, from this store's last block on (the ones before are skipped)."""
    for number, line in enumerate(lines, start=2):
        try:
            block = export_block(parse_json(line))
        except (TxError, ValueError) as exc:
            raise PeerRefused(f"line {number} is not a block of `lien export` ({exc})") from None
        if follower.last is None or block.header.height >= follower.last.height:
            yield [block]


def export_block(data: Any) -> CertifiedBlock:
    """A block line of ``lien export``: each transaction's envelope rebuilt from its body and
    signatures (its id, which the certified tx_root commits to, must be the exported one)."""
    if not isinstance(data, dict):
        raise ValueError("a block line is an object")
    header = header_from_json(data.get("header"))
    if "log_position" not in data:
        raise ValueError(f"block {header.height} has no log_position (an export made before "
                         "lien wrote them cannot be imported: export again)")
    transactions = data.get("transactions")
    if not isinstance(transactions, list):
        raise ValueError(f"block {header.height}: transactions are not a list")
    txs, results = [], []
    for t in transactions:
        if not isinstance(t, dict) or not {"id", "body", "signatures", "result"} <= set(t):
            raise ValueError(f"block {header.height}: a transaction is "
                             "{seq, id, body, signatures, result}")
        try:
            tx = parse_tx({"body": t["body"], "signatures": t["signatures"]})
            result = canonical(t["result"])
        except TxError as exc:
            raise ValueError(f"block {header.height}: {exc}") from None
        if tx.id != t["id"]:
            raise ValueError(f"block {header.height}: transaction {t['id']} is not its body's")
        txs.append(tx.encode())
        results.append(result)
    return CertifiedBlock(header, signatures_from_json(data.get("signatures")),
                          _natural(data["log_position"], "log_position"), tuple(txs),
                          tuple(results))


def export_genesis(line: bytes) -> Any:
    """The genesis document of an export's first line (``ValueError`` if it is none)."""
    try:
        data = parse_json(line)
    except TxError as exc:
        raise ValueError(f"the first line is not JSON ({exc.detail})") from None
    if not isinstance(data, dict) or set(data) != {"genesis"}:
        raise ValueError("the first line of an export is {\"genesis\": ...}")
    return data["genesis"]


__all__ = [
    "CERTIFIED_PATH", "CatchUpAlarm", "CatchUpError", "CatchUpReport", "CatchUpSettings",
    "CertifiedBlock", "ChainConflict", "Divergence", "PeerRefused", "PeerReport",
    "UnconsumedLog", "catch_up", "catch_up_from_export", "export_block", "export_genesis",
    "get_json", "header_from_json", "signatures_from_json",
]
