"""reports: index calls by company and time

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 17:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A company's report and monthly statement read its calls of one period off this index,
    # instead of every call the company ever had. A plain CREATE INDEX: no table is rebuilt.
    op.create_index("ix_calls_company_started", "calls", ["company_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_company_started", table_name="calls")
