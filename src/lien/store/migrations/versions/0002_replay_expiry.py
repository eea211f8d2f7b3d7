"""``transactions.expires``: each transaction's expiry beside its body (issue 5, item 7; the
restart then found replay protection cheaper through the unique id index, so no index on it).

Existing rows are backfilled from their bodies once, here.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

BATCH_ROWS = 10_000


def upgrade() -> None:
    op.add_column("transactions", sa.Column("expires", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    after = -1
    while True:
        rows = conn.execute(
            sa.text("SELECT seq, body FROM transactions WHERE seq > :after ORDER BY seq "
                    "LIMIT :n"),
            {"after": after, "n": BATCH_ROWS},
        ).all()
        if not rows:
            break
        conn.execute(
            sa.text("UPDATE transactions SET expires = :expires WHERE seq = :seq"),
            [{"seq": seq, "expires": int(json.loads(bytes(body))["expires"])}
             for seq, body in rows],
        )
        after = rows[-1][0]
    with op.batch_alter_table("transactions") as batch:
        batch.alter_column("expires", existing_type=sa.BigInteger(), nullable=False)


def downgrade() -> None:
    raise NotImplementedError("a ledger's schema only moves forward")
