"""Persistence: SQLAlchemy Core over SQLite or PostgreSQL. Imports the ledger and chain only."""

from .base import ChainStore
from .store import RawTx, Store, StoredBlock, StoredTx, StoreError, tx_from_row

__all__ = ["ChainStore", "RawTx", "tx_from_row", "Store", "StoreError", "StoredBlock", "StoredTx"]
