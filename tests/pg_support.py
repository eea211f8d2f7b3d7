"""A fresh PostgreSQL database (the server at 127.0.0.1:5432, trusted), dropped after use;
stores opened with ``pg_store`` are disposed before."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg

from lien.store import Store

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


OPENED: list[Store] = []


def pg_store(url: str) -> Store:
    store = Store(url)
    OPENED.append(store)
    return store


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database."""
    name = f"lien_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        while OPENED:
            OPENED.pop().dispose()
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
