"""company versions say who and why; saves are compared by version

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("company_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("summary", sa.String(length=500), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("changed", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("restored_from", sa.Integer(), nullable=True))
    op.create_table(
        "company_test_sends",
        sa.Column("memo_id", sa.String(length=32), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=False),
        sa.Column("contact_key", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("sent_by", sa.String(length=320), nullable=False),
        sa.Column("sent_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"]),
        sa.ForeignKeyConstraint(["memo_id"], ["memos.id"]),
        sa.PrimaryKeyConstraint("memo_id"),
    )
    op.create_index(
        "ix_company_test_sends_company_id", "company_test_sends", ["company_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_company_test_sends_company_id", table_name="company_test_sends")
    op.drop_table("company_test_sends")
    with op.batch_alter_table("company_versions", schema=None) as batch_op:
        batch_op.drop_column("restored_from")
        batch_op.drop_column("changed")
        batch_op.drop_column("summary")
