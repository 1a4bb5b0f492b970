"""chat and webhook deliveries keep their card and event; channels name chat platforms

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Channel and reason names are stored as text; the new ones are longer than the old.
_WIDER = {
    ("deliveries", "channel"): (13, 17),
    ("deliveries", "reason"): (18, 20),
    ("outbox_messages", "channel"): (13, 17),
}


def upgrade() -> None:
    for table in ("deliveries", "outbox_messages"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
            for (name, column), (old, new) in _WIDER.items():
                if name == table:
                    batch_op.alter_column(
                        column,
                        existing_type=sa.String(length=old),
                        type_=sa.String(length=new),
                        existing_nullable=False,
                    )


def downgrade() -> None:
    for table in ("deliveries", "outbox_messages"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("payload")
            for (name, column), (old, new) in _WIDER.items():
                if name == table:
                    batch_op.alter_column(
                        column,
                        existing_type=sa.String(length=new),
                        type_=sa.String(length=old),
                        existing_nullable=False,
                    )
