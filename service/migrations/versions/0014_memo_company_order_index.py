"""index memos by company in the order lists read them: newest first, then by id

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 15:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A company's page is read straight off this index in its keyset order, instead of
    # walking every company's memos by time or sorting all of one company's. It also serves
    # every lookup by company alone, so the index on company_id goes.
    with op.batch_alter_table("memos", schema=None) as batch_op:
        batch_op.create_index(
            "ix_memos_company_created_id", ["company_id", "created_at", "id"], unique=False
        )
        batch_op.drop_index("ix_memos_company_id")


def downgrade() -> None:
    with op.batch_alter_table("memos", schema=None) as batch_op:
        batch_op.create_index("ix_memos_company_id", ["company_id"], unique=False)
        batch_op.drop_index("ix_memos_company_created_id")
