"""an acknowledgement keeps the Relay user who entered it beside the person it names

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("memos", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("acknowledged_by_user_id", sa.String(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column("acknowledged_recorded_by", sa.String(length=320), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("memos", schema=None) as batch_op:
        batch_op.drop_column("acknowledged_recorded_by")
        batch_op.drop_column("acknowledged_by_user_id")
