"""The members' wallet (issue 8): logins, sessions, contacts, notifications, and a business's
directory entry in its profile (``lien.store.personal``), all keyed by account, erasable.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in (
        sa.Column("trading_name", sa.Text(), nullable=True),
        sa.Column("siret", sa.String(14), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("town", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("directory", sa.Boolean(), nullable=False, server_default=sa.false()),
    ):
        op.add_column("personal_profiles", column)
    op.create_table(
        "personal_logins",
        sa.Column("account", sa.String(12), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("login_hash", sa.Text(), nullable=False),
        sa.Column("kdf", sa.Text(), nullable=False),
        sa.Column("backup", sa.Text(), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("account"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "personal_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("account", sa.String(12), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_personal_sessions_account", "personal_sessions", ["account"])
    op.create_table(
        "personal_contacts",
        sa.Column("account", sa.String(12), nullable=False),
        sa.Column("contact", sa.String(12), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "contact"),
    )
    op.create_table(
        "personal_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("read", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_personal_notifications_account_id", "personal_notifications",
                    ["account", "id"])


def downgrade() -> None:
    raise NotImplementedError("a ledger's schema only moves forward")
