"""follow-up: reminders and re-notifications sent for unresolved memos

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Reason names are stored as text; the follow-up ones are longer than the old.
_REASON_OLD, _REASON_NEW = 20, 26


def upgrade() -> None:
    with op.batch_alter_table("memos") as batch:
        batch.add_column(
            sa.Column("next_follow_up_at", service.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_index("ix_memos_next_follow_up_at", ["next_follow_up_at"], unique=False)
        batch.create_index("ix_memos_follow_up_due", ["follow_up_due"], unique=False)
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column(
            "reason",
            existing_type=sa.String(length=_REASON_OLD),
            type_=sa.String(length=_REASON_NEW),
            existing_nullable=False,
        )
    op.create_table(
        "follow_up_notices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("memo_id", sa.String(length=32), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("reminder", "overdue", name="noticekind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("deadline", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_by", sa.String(length=64), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["memo_id"], ["memos.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("memo_id", "kind", "number"),
    )
    with op.batch_alter_table("follow_up_notices") as batch:
        batch.create_index("ix_follow_up_notices_memo_id", ["memo_id"], unique=False)
    # Memos already open with a deadline are looked at when it comes; a reminder is only
    # ever sent before the deadline, so none of them is reminded late.
    op.execute(
        "UPDATE memos SET next_follow_up_at = follow_up_due"
        " WHERE follow_up_due IS NOT NULL AND resolved_at IS NULL"
    )


def downgrade() -> None:
    op.drop_table("follow_up_notices")
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column(
            "reason",
            existing_type=sa.String(length=_REASON_NEW),
            type_=sa.String(length=_REASON_OLD),
            existing_nullable=False,
        )
    with op.batch_alter_table("memos") as batch:
        batch.drop_index("ix_memos_follow_up_due")
        batch.drop_index("ix_memos_next_follow_up_at")
        batch.drop_column("next_follow_up_at")
