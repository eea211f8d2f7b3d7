"""Persistence: SQLAlchemy Core over SQLite or PostgreSQL. Imports the ledger and chain only.

Three homes of data (``schema``, ``personal``): the chain, this node's own data, and personal
data; one interface each (``base``); schema versions by Alembic (``migrate``)."""

from .base import BlockWrite, ChainStore, LocalStore, NodeStore, PersonalStore
from .personal import PersonalData, Profile
from .store import RawTx, Store, StoredBlock, StoredTx, StoreError, tx_from_row

__all__ = [
    "BlockWrite", "ChainStore", "LocalStore", "NodeStore", "PersonalData", "PersonalStore", "Profile", "RawTx",
    "Store", "StoreError", "StoredBlock", "StoredTx", "tx_from_row",
]
