"""Standing orders (issue 8): the ``standing_orders`` chain table, part of the state.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "standing_orders",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("payer", sa.String(12), nullable=False),
        sa.Column("payee", sa.String(12), nullable=False),
        sa.Column("currency", sa.String(12), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("first_due_ms", sa.BigInteger(), nullable=False),
        sa.Column("next_due_ms", sa.BigInteger(), nullable=False),
        sa.Column("count_max", sa.Integer(), nullable=False),
        sa.Column("until_ms", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("last_result", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_standing_orders_payer", "standing_orders", ["payer"])
    op.create_index("ix_standing_orders_payee", "standing_orders", ["payee"])


def downgrade() -> None:
    raise NotImplementedError("a ledger's schema only moves forward")
