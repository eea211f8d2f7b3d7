"""Tables of the ledger, in two of the store's three homes, each on its own ``MetaData``:

* ``chain`` — what every node of the chain holds and can re-verify from genesis: blocks,
  transactions with their results, the history postings and the state records;
* ``local`` — this node's own working data (``node_*``): its settings, the embedded ordering
  log, the submissions it dropped. Another node holds different rows here.

The third home, personal data (names, e-mails, sessions: erasable per member), is
``lien.store.personal``. Nothing on the chain refers to it, so erasing a member there leaves the
chain verifiable. The schema of all three is versioned by the migrations in
``lien.store.migrations``; a change here needs a new revision there (a test compares them).
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

chain = MetaData()
local = MetaData()

# -- chain ----------------------------------------------------------------------------------------
blocks = Table(
    "blocks",
    chain,
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
    chain,
    #: position in the chain, gap-free: the stable order of every history
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("id", LargeBinary(32), nullable=False, unique=True),
    Column("height", BigInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),  #: canonical JSON bytes
    Column("signatures", LargeBinary, nullable=False),  #: (key || sig) pairs
    Column("result", Text, nullable=False),  #: canonical JSON of the result
    #: the body's ``expires``, kept apart from the body (checked by ``verify``); replay
    #: protection after a restart asks the unique ``id`` index, so no index on it is kept
    Column("expires", BigInteger, nullable=False),
)

#: one row per (account, transaction) that touches it: the account's history index
postings = Table(
    "postings",
    chain,
    Column("account", String(12), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

accounts = Table(
    "accounts",
    chain,
    Column("id", String(12), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("keys", Text, nullable=False),  #: comma-separated hex public keys
    Column("delegations", Text, nullable=False),  #: canonical JSON
    Column("recovery", Text, nullable=False),  #: canonical JSON or ""
)

memberships = Table(
    "memberships",
    chain,
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
    chain,
    Column("code", String(12), primary_key=True),
    Column("policy", Text, nullable=False),
    Column("issued", BigInteger, nullable=False),
    Column("reconverted", BigInteger, nullable=False),
)

#: standing orders (``lien.ledger.state.Order``): the active ones are part of the hot state;
#: revoked and finished ones stay for the members' pages
standing_orders = Table(
    "standing_orders",
    chain,
    Column("id", String(64), primary_key=True),
    Column("payer", String(12), nullable=False, index=True),
    Column("payee", String(12), nullable=False, index=True),
    Column("currency", String(12), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("period", String(8), nullable=False),
    Column("first_due_ms", BigInteger, nullable=False),
    Column("next_due_ms", BigInteger, nullable=False),
    Column("count_max", Integer, nullable=False),
    Column("until_ms", BigInteger, nullable=False),
    Column("reference", Text, nullable=False),
    Column("memo", Text, nullable=False),
    Column("runs", Integer, nullable=False),
    Column("last_result", String(32), nullable=False),
    Column("status", String(16), nullable=False),
)

#: the validator set's changes (``lien.ledger.state.ValidatorChange``): the set of each
#: ``set_validators`` and the height it certifies from (the genesis set, from height 1, is in
#: the genesis document). The last row is part of the state; every row, what receipts and
#: ``verify`` follow from genesis.
validator_sets = Table(
    "validator_sets",
    chain,
    Column("from_height", BigInteger, primary_key=True, autoincrement=False),
    Column("keys", Text, nullable=False),  #: comma-separated hex public keys, sorted
)

# -- node-local -----------------------------------------------------------------------------------
node_settings = Table(
    "node_settings",
    local,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

#: the embedded ordering log: entries not yet consumed by a committed block
node_log = Table(
    "node_log",
    local,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("tx", LargeBinary, nullable=True),  #: encoded transaction; NULL for a tick
)

#: submissions accepted into the log but refused at block time (expired meanwhile, duplicate)
node_dropped = Table(
    "node_dropped",
    local,
    Column("id", LargeBinary(32), primary_key=True),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
)
