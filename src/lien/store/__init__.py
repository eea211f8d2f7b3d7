"""Persistence: SQLAlchemy Core over SQLite or PostgreSQL. Imports the ledger and chain only.

Three homes of data (``schema``, ``personal``): the chain, this node's own data, and personal
data; one interface each (``base``); schema versions by Alembic (``migrate``)."""

from .base import BlockWrite, ChainStore, LocalStore, NodeStore, PersonalStore
from .full import StoreFull, out_of_space, raising_store_full
from .personal import (
    Contact,
    EmailTaken,
    Login,
    Notification,
    PersonalData,
    Profile,
    Session,
)
from .store import RawTx, Store, StoredBlock, StoredTx, StoreError, tx_from_row

__all__ = [
    "BlockWrite", "ChainStore", "Contact", "EmailTaken", "LocalStore", "Login", "NodeStore",
    "Notification", "PersonalData", "PersonalStore", "Profile", "RawTx", "Session",
    "Store", "StoreError", "StoreFull", "StoredBlock", "StoredTx", "out_of_space",
    "raising_store_full", "tx_from_row",
]
