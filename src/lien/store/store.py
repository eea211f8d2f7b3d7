"""The store: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL.

One writer (the node's loop) and any number of readers. ``commit_block`` writes a block, its
transactions with results, the history postings, every state record the block changed (the
chain part, ``_write_chain``), the dropped ids and the consumption of the ordering-log entries
(the node-local part, ``_write_local``) — all in **one** database transaction: after a crash
the database holds a block entirely or not at all.

The schema is versioned (``migrate``): ``create`` builds it with the migrations, ``upgrade``
brings an older database to this code's revision and refuses a newer one.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, func, make_url, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..chain import Header
from ..ledger import (
    Account,
    ChainConfig,
    Currency,
    Delegation,
    GenesisInvalid,
    Membership,
    State,
    Tx,
    Reason,
    TxError,
    parse_json,
)
from ..ledger.encoding import canonical_trusted
from ..ledger.state import Changes, Order, Recovery, ValidatorChange
from ..ledger.transactions import Signature, envelope_bytes, tx_from_parts
from . import migrate
from . import schema as t
from .base import BlockWrite
from .full import raising_store_full
from .personal import PersonalData


#: Ids looked up in one ``executed_ids`` query (well under SQLite's 32,766 parameters).
executed_ids_per_query = 5000
#: PostgreSQL advisory lock a node holds on its database while it runs (``Store.claim``)
NODE_LOCK = migrate.UPGRADE_LOCK + 1
#: Transactions ``iter_blocks`` reads at once (at least one block's, whatever its size).
iter_transactions_max = 10_000
#: Accounts whose history entries one ``postings_of`` query reads.
postings_accounts_per_query = 5000


class StoreError(Exception):
    """The database does not hold what the node expects (not initialised, wrong chain)."""


def pack_signatures(signatures: Sequence[Signature] | dict[str, bytes]) -> bytes:
    pairs = signatures.items() if isinstance(signatures, dict) else (
        (s.key, s.sig) for s in signatures
    )
    return b"".join(bytes.fromhex(key) + sig for key, sig in pairs)


def unpack_signatures(data: bytes) -> list[tuple[str, bytes]]:
    return [(data[i : i + 32].hex(), data[i + 32 : i + 96]) for i in range(0, len(data), 96)]


def tx_from_row(body: bytes, signatures: bytes) -> Tx:
    """Rebuild a transaction from its stored form (re-parsed: stored bytes are not trusted)."""
    if len(signatures) % 96:
        raise TxError(Reason.MALFORMED, "stored signatures are not (key, signature) pairs")
    return tx_from_parts(
        parse_json(body), tuple(Signature(k, s) for k, s in unpack_signatures(signatures))
    )


@dataclass(frozen=True, slots=True)
class StoredBlock:
    header: Header
    signatures: dict[str, bytes]
    first_seq: int
    log_position: int
    stored_hash: str | None = None  #: the hash column as stored (verify compares it)


@dataclass(frozen=True, slots=True)
class StoredTx:
    seq: int
    height: int
    tx: Tx
    result: dict[str, Any]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # durable on power loss, not only on kill -9
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def make_engine(url: str, read_only: bool = False) -> Engine:
    """``read_only``: SQLite opens the file read-only — such a reader never checkpoints the
    write-ahead log, not even as the last connection to close: it leaves the files as the
    node wrote them (the background verification of a node that may be killed meanwhile)."""
    if url.startswith("sqlite"):
        if read_only:
            url = f"sqlite:///file:{make_url(url).database}?mode=ro&uri=true"
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=8)


class Store:
    """Chain, state and node-local tables of one node, over one engine (``NodeStore``)."""

    def __init__(self, url: str, read_only: bool = False) -> None:
        """``read_only``: for a reader that must leave the database as it is (``make_engine``);
        only the chain's read methods are then available."""
        self.url = url
        self.engine = make_engine(url, read_only)
        self._insert = (sqlite if self.engine.dialect.name == "sqlite" else postgresql).insert
        self._chain_id: str | None = None
        #: the driver's placeholder, for the few statements sent to it directly
        self._mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        #: SQLite: one read-only connection per thread for the point lookups of admission
        #: (``executed_ids``), outside the pool — a pooled checkout costs 4× the query
        database = self.engine.url.database
        self._sqlite_file = (database if self.engine.dialect.name == "sqlite" and database
                             and database != ":memory:" and not read_only else None)
        self._readers = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        #: The node's two writers (the admit loop appending to the log, the block loop
        #: committing blocks) take turns here: SQLite allows one writer at a time, and its own
        #: busy handler waits by sleeping in growing steps, long after the lock is free.
        self._write_lock = threading.Lock()
        self._claim: Connection | None = None  #: PostgreSQL: the connection of ``claim``

    @property
    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = self.config().chain_id
        return self._chain_id

    def _insert_rows(
        self, conn: Connection, table: Any, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Plain multi-row INSERT through the driver: the hot path of every block (the
        compiled-statement machinery costs more than SQLite itself at thousands of rows)."""
        mark = self._mark
        sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
               f"VALUES ({', '.join([mark] * len(columns))})")
        conn.exec_driver_sql(sql, list(rows))

    # -- setup -----------------------------------------------------------------------------------
    def create(self, config: ChainConfig) -> None:
        """Build the schema (every revision) in an empty database and record the genesis."""
        self._migrate(create=True)
        with self.engine.begin() as conn:
            if conn.execute(select(t.node_settings)).first() is not None:
                raise StoreError("this database already holds a chain")
            conn.execute(
                t.node_settings.insert(),
                [{"name": "genesis", "value": canonical_trusted(config.to_json()).decode()}],
            )

    def upgrade(self) -> tuple[str | None, str]:
        """Bring an existing node's database to this code's schema (a node does it on start);
        returns (revision before, revision now). Raises ``StoreError`` for a database without
        a chain or of a newer, unknown revision."""
        return self._migrate(create=False)

    def _migrate(self, create: bool) -> tuple[str | None, str]:
        try:
            return migrate.upgrade(self.engine, create=create)
        except migrate.SchemaError as exc:
            where = self.engine.url.render_as_string(hide_password=True)
            raise StoreError(f"{where}: {exc}") from exc

    @property
    def personal(self) -> PersonalData:
        """The personal-data home in this node's database (see ``personal``)."""
        return PersonalData(self.engine)

    def config(self) -> ChainConfig:
        try:
            with self.engine.connect() as conn:
                value = conn.execute(
                    select(t.node_settings.c.value).where(t.node_settings.c.name == "genesis")
                ).scalar()
        except Exception as exc:  # the tables do not exist
            raise StoreError(f"no chain in {self.url}: run `lien init`") from exc
        if value is None:
            raise StoreError(f"no chain in {self.url}: run `lien init`")
        try:
            return ChainConfig.from_json(json.loads(value))
        except GenesisInvalid as exc:
            raise StoreError(f"the genesis document in {self.url} is not valid: {exc}") from None

    def claim(self) -> None:
        """Take the database for one node (this process) until ``release`` or ``dispose``;
        ``StoreError`` when another node holds it. On PostgreSQL a session advisory lock on a
        connection kept for the purpose: two node directories pointing at one database would
        each write their own block at the next height. (SQLite's database lives in the node
        directory, which the node's signing record already holds.)"""
        if self.engine.dialect.name == "sqlite" or self._claim is not None:
            return
        conn = self.engine.connect()
        held = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": NODE_LOCK}).scalar()
        conn.commit()  # the lock is the session's: no transaction stays open
        if not held:
            conn.close()
            where = self.engine.url.render_as_string(hide_password=True)
            raise StoreError(f"{where}: another node writes to this database; stop it first "
                             "(one node per database)")
        self._claim = conn

    def release(self) -> None:
        """Give back what ``claim`` took."""
        if self._claim is not None:
            conn, self._claim = self._claim, None
            with contextlib.suppress(DBAPIError):  # a lost connection has released it already
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": NODE_LOCK})
                conn.commit()
            conn.close()

    def dispose(self) -> None:
        self.release()
        with self._readers_lock:
            for reader in self._reader_connections:
                reader.close()
            self._reader_connections.clear()
            self._readers = threading.local()
        self.engine.dispose()

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only SQLite connection (closed by ``dispose``)."""
        reader: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if reader is None:
            reader = sqlite3.connect(f"file:{self._sqlite_file}?mode=ro", uri=True,
                                     check_same_thread=False)
            reader.execute("PRAGMA busy_timeout=10000")
            with self._readers_lock:
                self._reader_connections.append(reader)
            self._readers.connection = reader
        return reader

    # -- the hot state ---------------------------------------------------------------------------
    def load_state(self) -> State:
        """The state as of the last committed block (indexes rebuilt in memory).

        A restart costs the size of the state, not the length of history: the records are read
        through the driver, and the replay memory starts empty — the ids executed before are
        looked up, block by block, in the transactions' id index (``executed_ids``)."""
        state = State(self.config())
        with self.engine.connect() as conn:
            self._load_records(conn, state)
            last = self._last_block(conn)
            if last is not None:
                state.height = last.header.height
                state.time_ms = last.header.time_ms
                state.state_root = bytes.fromhex(last.header.state_root)
        return state

    def overview(self) -> tuple[list[Currency], int]:
        """The currencies and the number of accounts: what the node's read model shows while
        the state itself is still loading (two small queries, whatever the state's size)."""
        with self.engine.connect() as conn:
            currencies = _currencies(conn)
            (accounts,) = _driver_rows(conn, "SELECT count(*) FROM accounts")[0]
        return currencies, int(accounts)

    def executed_ids(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that a committed block holds (one query on the unique id index)."""
        found: set[str] = set()
        if not ids:
            return found
        if self._sqlite_file is not None and len(ids) <= executed_ids_per_query:
            marks = ", ".join("?" * len(ids))
            rows = self._reader().execute(
                f"SELECT id FROM transactions WHERE id IN ({marks})",
                [bytes.fromhex(i) for i in ids]).fetchall()
            return {bytes(tx_id).hex() for (tx_id,) in rows}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), executed_ids_per_query):
                chunk = [bytes.fromhex(i) for i in ids[start : start + executed_ids_per_query]]
                marks = ", ".join([self._mark] * len(chunk))
                for (tx_id,) in _driver_rows(
                    conn, f"SELECT id FROM transactions WHERE id IN ({marks})", tuple(chunk)
                ):
                    found.add(bytes(tx_id).hex())
        return found

    def _load_records(self, conn: Connection, state: State) -> None:
        for currency in _currencies(conn):
            state.index_currency(currency)
        index_account = state.index_account
        for row in _driver_rows(conn, "SELECT id, kind, keys, delegations, recovery FROM accounts"):
            index_account(_account_from_values(*row))
        index_membership = state.index_membership
        for row in _driver_rows(
            conn, "SELECT account, currency, status, roles, nantie, credit, floor, ceiling "
            "FROM memberships"
        ):
            index_membership(_membership_from_values(*row))
        index_order = state.index_order
        for row in _driver_rows(
            conn, f"SELECT {', '.join(_ORDER_COLUMNS)} FROM standing_orders "
            "WHERE status = 'active'"
        ):
            index_order(Order(*row))
        last_change = _driver_rows(
            conn, "SELECT from_height, keys FROM validator_sets ORDER BY from_height DESC LIMIT 1")
        if last_change:
            state.validators = _validator_change(*last_change[0])

    def validator_changes(self) -> list[ValidatorChange]:
        """Every change of the validator set, oldest first (the genesis set is not one)."""
        with self.engine.connect() as conn:
            rows = _driver_rows(conn, "SELECT from_height, keys FROM validator_sets "
                                      "ORDER BY from_height")
        return [_validator_change(*row) for row in rows]

    def orders_of(self, account: str, limit: int = 200) -> list[Order]:
        """The standing orders ``account`` pays or is paid by (active, revoked, finished), the
        newest due first: what the member's pages list."""
        c = t.standing_orders.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*[c[name] for name in _ORDER_COLUMNS])
                .where((c.payer == account) | (c.payee == account))
                .order_by(c.next_due_ms.desc(), c.id).limit(limit)
            ).all()
        return [Order(*row) for row in rows]

    # -- writing ---------------------------------------------------------------------------------
    def commit_block(self, block: BlockWrite) -> int:
        """Write one block atomically; returns the seq of its first transaction. Raises
        ``StoreFull`` (nothing written) when the disk is full: the same block may be committed
        again later."""
        with (raising_store_full(f"block {block.header.height}"), self._write_lock,
              self.engine.begin() as conn):
            first_seq = self._write_chain(conn, block)
            self._write_local(conn, block.log_position, block.dropped)
        return first_seq

    def set_signatures(self, certificates: Sequence[tuple[int, str, dict[str, bytes]]]
                       ) -> None:
        if not certificates:
            return
        with (raising_store_full(f"certificates up to block {certificates[-1][0]}"),
              self._write_lock, self.engine.begin() as conn):
            for height, block_hash, signatures in certificates:
                updated = conn.execute(
                    update(t.blocks)
                    .where(t.blocks.c.height == height,
                           t.blocks.c.hash == bytes.fromhex(block_hash))
                    .values(signatures=pack_signatures(signatures))).rowcount
                if updated != 1:  # the whole transaction rolls back
                    raise StoreError(f"no block {block_hash} at height {height}")

    def _write_chain(self, conn: Connection, block: BlockWrite) -> int:
        """The chain part of a block: its header and certificate, transactions with results,
        history postings and state records."""
        header = block.header
        first_seq = self._next_seq(conn)
        conn.execute(
            t.blocks.insert(),
            {
                "height": header.height,
                "hash": bytes.fromhex(header.hash),
                "prev": bytes.fromhex(header.prev),
                "time_ms": header.time_ms,
                "tx_count": header.tx_count,
                "first_seq": first_seq,
                "tx_root": bytes.fromhex(header.tx_root),
                "state_root": bytes.fromhex(header.state_root),
                "signatures": pack_signatures(block.signatures),
                "log_position": block.log_position,
            },
        )
        if block.txs:
            self._insert_rows(
                conn, t.transactions,
                ("seq", "id", "height", "body", "signatures", "result", "expires"),
                [
                    (first_seq + i, bytes.fromhex(tx.id), header.height, tx.body_bytes,
                     pack_signatures(tx.signatures), result.decode(), tx.body["expires"])
                    for i, (tx, result) in enumerate(zip(block.txs, block.results, strict=True))
                ],
            )
            postings = [
                (account, first_seq + i)
                for i, accounts in enumerate(block.touched)
                for account in accounts
            ]
            if postings:
                self._insert_rows(conn, t.postings, ("account", "seq"), postings)
        self._write_state(conn, block.changes)
        return first_seq

    def _write_local(
        self, conn: Connection, log_position: int, dropped: Sequence[tuple[str, str, str]]
    ) -> None:
        """The node-local part of a block: remember the submissions it dropped (so that their
        status can be answered) and delete the log entries it consumed."""
        if dropped:
            conn.execute(
                self._insert(t.node_dropped).on_conflict_do_nothing(),
                [{"id": bytes.fromhex(i), "reason": r, "detail": d} for i, r, d in dropped],
            )
        conn.execute(delete(t.node_log).where(t.node_log.c.position <= log_position))

    def _next_seq(self, conn: Connection) -> int:
        last = conn.execute(
            select(t.blocks.c.first_seq + t.blocks.c.tx_count)
            .order_by(t.blocks.c.height.desc())
            .limit(1)
        ).scalar()
        return last if last is not None else 0

    def _write_state(self, conn: Connection, changes: Changes) -> None:
        accounts, memberships, currencies, orders, validators = changes
        if validators:
            stmt = self._insert(t.validator_sets)
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["from_height"],
                                           set_={"keys": stmt.excluded["keys"]}),
                [{"from_height": v.from_height, "keys": ",".join(v.keys)} for v in validators],
            )
        if orders:
            stmt = self._insert(t.standing_orders)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["id"],
                    set_={c: stmt.excluded[c] for c in _ORDER_STATE},
                ),
                [_order_row(o) for o in orders],
            )
        if accounts:
            stmt = self._insert(t.accounts)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["id"],
                    set_={c: stmt.excluded[c] for c in ("kind", "keys", "delegations", "recovery")},
                ),
                [_account_row(a) for a in accounts],
            )
        if memberships:
            stmt = self._insert(t.memberships)
            cols = ("status", "roles", "nantie", "credit", "floor", "ceiling")
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["account", "currency"],
                    set_={c: stmt.excluded[c] for c in cols},
                ),
                [
                    {
                        "account": m.account, "currency": m.currency, "status": m.status,
                        "roles": ",".join(m.roles), "nantie": m.nantie, "credit": m.credit,
                        "floor": m.floor, "ceiling": m.ceiling,
                    }
                    for m in memberships
                ],
            )
        if currencies:
            stmt = self._insert(t.currencies)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["code"],
                    set_={c: stmt.excluded[c] for c in ("policy", "issued", "reconverted")},
                ),
                [
                    {
                        "code": c.code, "policy": canonical_trusted(c.policy).decode(),
                        "issued": c.issued_minor, "reconverted": c.reconverted_minor,
                    }
                    for c in currencies
                ],
            )

    # -- the embedded ordering log ---------------------------------------------------------------
    def log_append(self, entries: Sequence[tuple[int, int, bytes | None]]) -> None:
        """Durably append (position, time_ms, encoded tx or None for a tick) entries; raises
        ``StoreFull`` (nothing appended) when the disk is full."""
        with (raising_store_full("the ordering log"), self._write_lock,
              self.engine.begin() as conn):
            self._insert_rows(conn, t.node_log, ("position", "time_ms", "tx"), entries)

    def log_read(self, after: int, limit: int) -> list[tuple[int, int, bytes | None]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.node_log).where(t.node_log.c.position > after).order_by(
                    t.node_log.c.position
                ).limit(limit)
            )
            return [(r.position, r.time_ms, r.tx) for r in rows]

    def log_last_position(self) -> int:
        with self.engine.connect() as conn:
            in_log = conn.execute(select(func.max(t.node_log.c.position))).scalar()
            last = self._last_block(conn)
        consumed = last.log_position if last else 0
        return max(in_log or 0, consumed)

    # -- queries ---------------------------------------------------------------------------------
    def _last_block(self, conn: Connection) -> StoredBlock | None:
        row = conn.execute(select(t.blocks).order_by(t.blocks.c.height.desc()).limit(1)).first()
        return self._block(row) if row else None

    def _block(self, row: Any) -> StoredBlock:
        return _block_from_row(row, self.chain_id)

    def last_block(self) -> StoredBlock | None:
        with self.engine.connect() as conn:
            return self._last_block(conn)

    def block(self, height: int) -> StoredBlock | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.blocks).where(t.blocks.c.height == height)).first()
        return self._block(row) if row else None

    def blocks(self, after: int = 0, limit: int = 100) -> list[StoredBlock]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.blocks).where(t.blocks.c.height > after)
                .order_by(t.blocks.c.height).limit(limit)
            )
            return [self._block(r) for r in rows]

    def block_txs(self, block: StoredBlock) -> list[StoredTx]:
        with self.engine.connect() as conn:
            return self._txs_between(conn, block.first_seq, block.first_seq + block.header.tx_count)

    def _txs_between(self, conn: Connection, start: int, end: int) -> list[StoredTx]:
        rows = conn.execute(
            select(t.transactions)
            .where(t.transactions.c.seq >= start, t.transactions.c.seq < end)
            .order_by(t.transactions.c.seq)
        )
        return [_stored_tx(r) for r in rows]

    def transaction(self, tx_id: str) -> StoredTx | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.transactions).where(t.transactions.c.id == bytes.fromhex(tx_id))
            ).first()
        return _stored_tx(row) if row else None

    def dropped(self, tx_id: str) -> tuple[str, str] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.node_dropped).where(t.node_dropped.c.id == bytes.fromhex(tx_id))
            ).first()
        return (row.reason, row.detail) if row else None

    def history(
        self, account: str, before: int | None = None, limit: int = 50
    ) -> list[StoredTx]:
        """An account's transactions, newest first; ``before`` is the cursor (a seq)."""
        query = select(t.postings.c.seq).where(t.postings.c.account == account)
        if before is not None:
            query = query.where(t.postings.c.seq < before)
        query = query.order_by(t.postings.c.seq.desc()).limit(limit)
        with self.engine.connect() as conn:
            seqs = [row.seq for row in conn.execute(query)]
            if not seqs:
                return []
            rows = conn.execute(
                select(t.transactions).where(t.transactions.c.seq.in_(seqs))
                .order_by(t.transactions.c.seq.desc())
            )
            return [_stored_tx(r) for r in rows]

    def account_row(self, account_id: str) -> tuple[Account, list[Membership]] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.accounts).where(t.accounts.c.id == account_id)).first()
            if row is None:
                return None
            members = conn.execute(
                select(t.memberships).where(t.memberships.c.account == account_id)
                .order_by(t.memberships.c.currency)
            )
            return _account_from_row(row), [_membership_from_row(m) for m in members]

    def iter_blocks(self, batch: int = 200, after: int = 0, through: int | None = None
                    ) -> Iterator[tuple[StoredBlock, list[RawTx]]]:
        """The blocks above height ``after`` (up to ``through``, else the last) with their
        transactions, as stored (for ``verify``, ``export`` and the start-up check). Read
        ``batch`` blocks at a time, fewer when they hold more than ``iter_transactions_max``
        transactions: memory stays bounded whatever the blocks' size."""
        while through is None or after < through:
            chunk = self.blocks(after, batch if through is None else min(batch, through - after))
            if not chunk:
                return
            transactions = 0
            for i, block in enumerate(chunk):
                transactions += block.header.tx_count
                if i and transactions > iter_transactions_max:
                    chunk = chunk[:i]
                    break
            with self.engine.connect() as conn:
                start = chunk[0].first_seq
                end = chunk[-1].first_seq + chunk[-1].header.tx_count
                mark = self._mark
                rows = conn.exec_driver_sql(
                    "SELECT seq, height, id, body, signatures, result, expires FROM transactions "
                    f"WHERE seq >= {mark} AND seq < {mark} ORDER BY seq", (start, end),
                )
                try:
                    txs = [RawTx(seq, height, bytes(tx_id).hex(), bytes(body), bytes(sigs), result,
                                 expires)
                           for seq, height, tx_id, body, sigs, result, expires in rows]
                except DBAPIError as exc:  # a damaged value (not UTF-8, wrong type): name it
                    raise StoreError(
                        f"blocks {chunk[0].header.height}..{chunk[-1].header.height}: a stored "
                        f"transaction cannot be read ({exc.orig})"
                    ) from exc
            offset = 0
            for block in chunk:
                count = block.header.tx_count
                yield block, txs[offset : offset + count]
                offset += count
            after = chunk[-1].header.height

    def stray_transactions(self, end: int, limit: int = 10) -> list[int]:
        """Seqs of transaction rows outside 0..end-1, i.e. in no block (``verify``)."""
        seq = t.transactions.c.seq
        with self.engine.connect() as conn:  # two ranges of the index (an OR scans it all)
            return [r.seq for where in (seq < 0, seq >= end)
                    for r in conn.execute(select(seq).where(where).order_by(seq).limit(limit))
                    ][:limit]

    def iter_postings(self, batch: int = 10_000) -> Generator[tuple[int, str]]:
        """Every history entry (seq, account), in (seq, account) order: one sorted scan that
        ``verify`` walks alongside the blocks."""
        with self.engine.connect() as conn, conn.execution_options(
            yield_per=batch
        ).exec_driver_sql("SELECT seq, account FROM postings ORDER BY seq, account") as result:
            for seq, account in result:  # (closed with the stream: a server-side cursor)
                yield seq, account

    def stored_state_lines(self) -> list[str]:
        """The stored state as commitment lines (to compare with a re-executed state): the
        records only, without the replay memory ``load_state`` also rebuilds."""
        return self.state_snapshot()[1]

    def state_snapshot(self) -> tuple[StoredBlock | None, list[str]]:
        """The last block and the stored state as of it (``stored_state_lines``), read in one
        database snapshot: a node may commit blocks meanwhile (``verify`` of a running node)."""
        state = State(self.config())
        with self._snapshot() as conn:
            last = self._last_block(conn)
            self._load_records(conn, state)
        return last, state.all_lines()

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A connection whose reads all see the database as of the first one."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN")  # pysqlite opens none before a read
            else:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            try:
                yield conn
            finally:
                conn.rollback()

    def balance_sums(self) -> dict[str, tuple[int, int]]:
        """Per currency, the sums of every member's (nantie, credit): one aggregate query, for
        the start-up check of the money invariants without loading the state."""
        with self.engine.connect() as conn:
            rows = _driver_rows(conn, "SELECT currency, sum(nantie), sum(credit) "
                                      "FROM memberships GROUP BY currency")
        return {code: (int(nantie), int(credit)) for code, nantie, credit in rows}

    def first_unlinked_block(self) -> tuple[int, int | None] | None:
        """The lowest block above 1 whose row does not follow the row of the height before —
        that row missing, or its stored hash not the block's ``prev``, or the block's first
        seq not numbered on from it — with the height of the closest row before it. One pass
        over the blocks' primary key in the database (the start-up check: every block, in
        well under a microsecond each); None when every row follows."""
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql(
                "SELECT b.height, (SELECT max(height) FROM blocks WHERE height < b.height) "
                "FROM blocks b LEFT JOIN blocks p ON p.height = b.height - 1 "
                "WHERE b.height > 1 AND (p.height IS NULL OR b.prev != p.hash "
                "OR b.first_seq != p.first_seq + p.tx_count) ORDER BY b.height LIMIT 1"
            ).first()
        return None if row is None else (int(row[0]), None if row[1] is None else int(row[1]))

    def postings_of(self, accounts: Sequence[str], start: int) -> list[tuple[int, str]]:
        """The history entries (seq, account) of ``accounts`` from seq ``start`` on, sorted:
        one index range per account (entries are keyed by account, then seq)."""
        found: list[tuple[int, str]] = []
        with self.engine.connect() as conn:
            for i in range(0, len(accounts), postings_accounts_per_query):
                chunk = tuple(accounts[i : i + postings_accounts_per_query])
                marks = ", ".join([self._mark] * len(chunk))
                found += _driver_rows(
                    conn, f"SELECT seq, account FROM postings WHERE account IN ({marks}) "
                          f"AND seq >= {self._mark}", (*chunk, start))
        return sorted((int(seq), account) for seq, account in found)

    def checkpoint(self) -> None:
        """Fold SQLite's write-ahead log into the database file (before measuring its size)."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def size_bytes(self) -> int:
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                pages = conn.execute(text("PRAGMA page_count")).scalar() or 0
                size = conn.execute(text("PRAGMA page_size")).scalar() or 0
                return int(pages) * int(size)
        with self.engine.connect() as conn:
            size_query = text("SELECT pg_database_size(current_database())")
            return int(conn.execute(size_query).scalar_one())


def _account_row(a: Account) -> dict[str, Any]:
    delegations = {
        k: [d.currency, d.cap_per_payment_minor, d.cap_total_minor, d.spent_minor]
        for k, d in a.delegations.items()
    }
    recovery = (
        canonical_trusted([a.recovery.key, a.recovery.currency, a.recovery.effective_ms]).decode()
        if a.recovery
        else ""
    )
    return {
        "id": a.id,
        "kind": a.kind,
        "keys": ",".join(a.keys),
        "delegations": canonical_trusted(delegations).decode(),
        "recovery": recovery,
    }


#: The columns of ``standing_orders`` in the order of ``Order``'s fields.
_ORDER_COLUMNS = ("id", "payer", "payee", "currency", "amount", "period", "first_due_ms",
                  "next_due_ms", "count_max", "until_ms", "reference", "memo", "runs",
                  "last_result", "status")
#: What changes after an order is made.
_ORDER_STATE = ("next_due_ms", "runs", "last_result", "status")


def _order_row(o: Order) -> dict[str, Any]:
    return {name: getattr(o, name) for name in _ORDER_COLUMNS}


def _validator_change(from_height: int, keys: str) -> ValidatorChange:
    return ValidatorChange(int(from_height), tuple(keys.split(",")))


def _membership_from_row(row: Any) -> Membership:
    return _membership_from_values(row.account, row.currency, row.status, row.roles, row.nantie,
                                   row.credit, row.floor, row.ceiling)


def _membership_from_values(account: str, currency: str, status: str, roles: str, nantie: int,
                            credit: int, floor: int, ceiling: int) -> Membership:
    return Membership(account, currency, status, tuple(roles.split(",")) if roles else (),
                      nantie, credit, floor, ceiling)


def _currencies(conn: Connection) -> list[Currency]:
    return [
        Currency(code, json.loads(policy), issued, reconverted)
        for code, policy, issued, reconverted in _driver_rows(
            conn, "SELECT code, policy, issued, reconverted FROM currencies")
    ]


def _driver_rows(conn: Connection, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Rows as the driver's own tuples, fetched at once: for the large reads of a restart,
    SQLAlchemy's per-row result objects would cost more than the database does."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _account_from_row(row: Any) -> Account:
    return _account_from_values(row.id, row.kind, row.keys, row.delegations, row.recovery)


def _account_from_values(
    account_id: str, kind: str, keys: str, delegations: str, recovery: str
) -> Account:
    # Most accounts have no delegation and no recovery: skip the JSON parser for them.
    return Account(
        account_id, kind, keys.split(",") if keys else [],
        {k: Delegation(*v) for k, v in json.loads(delegations).items()}
        if delegations != "{}" else {},
        Recovery(*json.loads(recovery)) if recovery else None,
    )


def _block_from_row(row: Any, chain_id: str) -> StoredBlock:
    header = Header(
        chain=chain_id,
        height=row.height,
        prev=row.prev.hex(),
        time_ms=row.time_ms,
        tx_count=row.tx_count,
        tx_root=row.tx_root.hex(),
        state_root=row.state_root.hex(),
    )
    return StoredBlock(header, dict(unpack_signatures(row.signatures)), row.first_seq,
                       row.log_position, row.hash.hex())


@dataclass(frozen=True, slots=True)
class RawTx:
    """A transaction row as stored, unparsed: what ``verify`` checks byte by byte."""

    seq: int
    height: int
    id: str
    body: bytes
    signatures: bytes
    result: str
    expires: int  #: the column ``load_state`` rebuilds the replay memory from

    def envelope(self) -> bytes:
        """The transaction's canonical envelope, from the stored bytes as they are (what the
        replication API serves: a peer hashes and verifies exactly these bytes)."""
        return envelope_bytes(self.body, unpack_signatures(self.signatures))


def _stored_tx(row: Any) -> StoredTx:
    return StoredTx(row.seq, row.height, tx_from_row(row.body, row.signatures),
                    json.loads(row.result))
