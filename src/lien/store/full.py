"""A write that failed for lack of space: recognised here, in one place, for every driver.

A full disk (or an exceeded quota) is not a bug nor a damaged database: nothing of the failed
write is kept (it was one database transaction, rolled back; or a file replaced only once it
is complete), and the very same write succeeds once space is freed. The store and the signing
record translate such failures into ``StoreFull``; the node answers ``disk_full`` meanwhile and
retries by itself (``lien.node.node``). Every other error keeps its meaning (the node halts).

What counts as "out of space":

* SQLite: ``SQLITE_FULL`` (a write got ``ENOSPC``), ``SQLITE_IOERR_WRITE`` (a write refused
  otherwise, as by a quota: ``EDQUOT``) and ``SQLITE_IOERR_SHMSIZE`` (the WAL index could not
  grow). Not the ``fsync`` errors: after a failed ``fsync`` the kernel may have dropped the pages
  it could not write, and PostgreSQL's lesson ("fsyncgate") is that retrying is then unsafe —
  those still halt the node.
* PostgreSQL: SQLSTATE ``53100`` (``disk_full``).
* A file (the signing record): ``OSError`` with ``ENOSPC`` or ``EDQUOT``.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError

#: SQLite's extended result codes of a write that found no room (see the module doc)
SQLITE_OUT_OF_SPACE = frozenset({
    13,  # SQLITE_FULL
    778,  # SQLITE_IOERR_WRITE
    4874,  # SQLITE_IOERR_SHMSIZE
})
#: PostgreSQL's SQLSTATE disk_full (class 53: insufficient resources)
POSTGRES_DISK_FULL = "53100"
ERRNO_OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


class StoreFull(Exception):
    """A write failed for lack of space; nothing of it was written, and the same write may be
    tried again once space is freed."""


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from or while handling, says the disk (or the
    quota) is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _says_full(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _says_full(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        return exc.orig is not None and _says_full(exc.orig)
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) in SQLITE_OUT_OF_SPACE
    if getattr(exc, "sqlstate", None) == POSTGRES_DISK_FULL:  # psycopg's errors
        return True
    return isinstance(exc, OSError) and exc.errno in ERRNO_OUT_OF_SPACE


@contextmanager
def raising_store_full(what: str) -> Iterator[None]:
    """Translate a failure of the write ``what`` for lack of space into ``StoreFull``."""
    try:
        yield
    except Exception as exc:
        if not out_of_space(exc):
            raise
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        raise StoreFull(f"the disk is full: {what} could not be written ({cause})") from exc


__all__ = ["StoreFull", "out_of_space", "raising_store_full"]
