"""The third home of data: what the association knows about its members as people — names,
e-mails, later the wallet's sessions — as opposed to what the chain knows about accounts.

Kept apart from the chain on purpose: no chain table refers to these, every table here is keyed
by the member's ``account`` id, and ``erase_member`` deletes a member's rows from **every**
table of this ``MetaData`` (a table added later is erased without changing that method). The
chain stays verifiable after an erasure: it never held any of it.

The tables live in the node's database (same engine, own ``MetaData``, names prefixed
``personal_``) and are created and upgraded by the same migrations as the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, Text, delete, select

metadata = MetaData()

#: one row per member who gave the association their name (the wallet's sign-up)
profiles = Table(
    "personal_profiles",
    metadata,
    Column("account", String(12), primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Profile:
    """A member as a person: ``account`` links it to the chain, nothing links back."""

    account: str
    name: str
    email: str | None
    updated_ms: int


class PersonalData:
    """The personal tables over an engine (the node's own, see ``Store.personal``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def set_profile(self, profile: Profile) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(profiles).where(profiles.c.account == profile.account))
            conn.execute(profiles.insert(), {
                "account": profile.account, "name": profile.name, "email": profile.email,
                "updated_ms": profile.updated_ms,
            })

    def profile(self, account: str) -> Profile | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(profiles).where(profiles.c.account == account)).first()
        return Profile(row.account, row.name, row.email, row.updated_ms) if row else None

    def erase_member(self, account: str) -> int:
        """Delete everything personal about one member, in one transaction; returns the number
        of rows deleted. Every table of this home has an ``account`` column (a test checks)."""
        erased = 0
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:
                erased += conn.execute(delete(table).where(table.c.account == account)).rowcount
        return erased
