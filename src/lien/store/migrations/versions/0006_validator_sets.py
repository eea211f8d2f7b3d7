"""Validator-set changes (issue 7, finality): the ``validator_sets`` chain table.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A chain made before holds no change: its validator set is its genesis document's.
    op.create_table(
        "validator_sets",
        sa.Column("from_height", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("keys", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("from_height"),
    )


def downgrade() -> None:
    raise NotImplementedError("a ledger's schema only moves forward")
