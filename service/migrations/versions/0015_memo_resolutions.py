"""follow-through: how a company handled a memo, when it was resolved, when it is due

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("memos") as batch:
        batch.add_column(
            sa.Column("resolved_at", service.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("follow_up_due", service.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "memo_resolutions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("memo_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("recorded_by_user_id", sa.String(length=32), nullable=True),
        sa.Column("recorded_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(["memo_id"], ["memos.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("memo_id", "number"),
    )


def downgrade() -> None:
    op.drop_table("memo_resolutions")
    with op.batch_alter_table("memos") as batch:
        batch.drop_column("follow_up_due")
        batch.drop_column("resolved_at")
