"""Tables. Chain data (blocks, transactions, postings, state) and node-local data (``node_*``:
the embedded ordering log, dropped submissions, settings) are kept apart, so that a node's
private data never mixes with what every node holds. No personal data is stored here at all:
names and e-mails belong to the association's back office, not to the ledger.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# -- chain ----------------------------------------------------------------------------------------
blocks = Table(
    "blocks",
    metadata,
    Column("height", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False, unique=True),
    Column("prev", LargeBinary(32), nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("tx_count", Integer, nullable=False),
    #: seq of the block's first transaction (its transactions are first_seq .. + tx_count - 1)
    Column("first_seq", BigInteger, nullable=False),
    Column("tx_root", LargeBinary(32), nullable=False),
    Column("state_root", LargeBinary(32), nullable=False),
    #: the finality certificate: validator (key || signature) pairs, 96 bytes each
    Column("signatures", LargeBinary, nullable=False),
    #: position of the last ordering-log entry this block consumed
    Column("log_position", BigInteger, nullable=False),
)

transactions = Table(
    "transactions",
    metadata,
    #: position in the chain, gap-free: the stable order of every history
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("id", LargeBinary(32), nullable=False, unique=True),
    Column("height", BigInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),  #: canonical JSON bytes
    Column("signatures", LargeBinary, nullable=False),  #: (key || sig) pairs
    Column("result", Text, nullable=False),  #: canonical JSON of the result
)

#: one row per (account, transaction) that touches it: the account's history index
postings = Table(
    "postings",
    metadata,
    Column("account", String(12), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("keys", Text, nullable=False),  #: comma-separated hex public keys
    Column("delegations", Text, nullable=False),  #: canonical JSON
    Column("recovery", Text, nullable=False),  #: canonical JSON or ""
)

memberships = Table(
    "memberships",
    metadata,
    Column("account", String(12), primary_key=True),
    Column("currency", String(12), primary_key=True),
    Column("status", String(8), nullable=False),
    Column("roles", String(32), nullable=False),
    Column("nantie", BigInteger, nullable=False),
    Column("credit", BigInteger, nullable=False),
    Column("floor", BigInteger, nullable=False),
    Column("ceiling", BigInteger, nullable=False),
)

currencies = Table(
    "currencies",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("policy", Text, nullable=False),
    Column("issued", BigInteger, nullable=False),
    Column("reconverted", BigInteger, nullable=False),
)

# -- node-local -----------------------------------------------------------------------------------
node_settings = Table(
    "node_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

#: the embedded ordering log: entries not yet consumed by a committed block
node_log = Table(
    "node_log",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("tx", LargeBinary, nullable=True),  #: encoded transaction; NULL for a tick
)

#: submissions accepted into the log but refused at block time (expired meanwhile, duplicate)
node_dropped = Table(
    "node_dropped",
    metadata,
    Column("id", LargeBinary(32), primary_key=True),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
)
