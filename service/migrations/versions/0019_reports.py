"""reports: daily recaps sent, and deliveries that carry a recap rather than a memo

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "daily_recaps",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(length=320), nullable=True),
        sa.Column("sent_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("memos", sa.Integer(), nullable=False),
        sa.Column("urgent", sa.Integer(), nullable=False),
        sa.Column("unconfirmed", sa.Integer(), nullable=False),
        sa.Column("still_open", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_daily_recaps_company_id", "daily_recaps", ["company_id"])
    op.create_index(
        "ux_daily_recaps_company_day",
        "daily_recaps",
        ["company_id", "day"],
        unique=True,
        postgresql_where=sa.text("NOT test"),
        sqlite_where=sa.text("NOT test"),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("memo_id", existing_type=sa.String(length=32), nullable=True)
        batch.add_column(sa.Column("recap_id", sa.String(length=32), nullable=True))
        batch.create_index("ix_deliveries_recap_id", ["recap_id"])
        batch.create_foreign_key(
            "fk_deliveries_recap_id_daily_recaps", "daily_recaps", ["recap_id"], ["id"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE memo_id IS NULL")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("fk_deliveries_recap_id_daily_recaps", type_="foreignkey")
        batch.drop_index("ix_deliveries_recap_id")
        batch.drop_column("recap_id")
        batch.alter_column("memo_id", existing_type=sa.String(length=32), nullable=False)
    op.drop_index("ux_daily_recaps_company_day", table_name="daily_recaps")
    op.drop_index("ix_daily_recaps_company_id", table_name="daily_recaps")
    op.drop_table("daily_recaps")
