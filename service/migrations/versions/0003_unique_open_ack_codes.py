"""an ack code names one open memo of its company

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 23:50:00.000000
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status <> 'acknowledged'"


def upgrade() -> None:
    _recode_shared_open_codes()
    with op.batch_alter_table("memos", schema=None) as batch_op:
        batch_op.drop_index("ix_memos_company_ack_code")
        batch_op.create_index(
            "ux_memos_open_ack_code",
            ["company_id", "ack_code"],
            unique=True,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )


def downgrade() -> None:
    with op.batch_alter_table("memos", schema=None) as batch_op:
        batch_op.drop_index("ux_memos_open_ack_code")
        batch_op.create_index("ix_memos_company_ack_code", ["company_id", "ack_code"], unique=False)


def _recode_shared_open_codes() -> None:
    """Open memos of one company that drew the same code (two taken at once) cannot stay so
    under the unique index: the oldest keeps it, each other gets a fresh 8-digit code."""
    connection = op.get_bind()
    shared = connection.execute(
        sa.text(
            "SELECT id, company_id, ack_code FROM memos"
            " WHERE status <> 'acknowledged' AND (company_id, ack_code) IN ("
            "  SELECT company_id, ack_code FROM memos WHERE status <> 'acknowledged'"
            "  GROUP BY company_id, ack_code HAVING COUNT(*) > 1"
            " ) ORDER BY company_id, ack_code, created_at, id"
        )
    ).all()
    held = sa.text(
        "SELECT 1 FROM memos"
        " WHERE status <> 'acknowledged' AND company_id = :company AND ack_code = :code"
    )
    kept: set[tuple[str, str]] = set()
    for memo_id, company_id, code in shared:
        if (company_id, code) not in kept:
            kept.add((company_id, code))
            continue
        fresh = f"{secrets.randbelow(10**8):08d}"
        while connection.execute(held, {"company": company_id, "code": fresh}).first():
            fresh = f"{secrets.randbelow(10**8):08d}"
        connection.execute(
            sa.text("UPDATE memos SET ack_code = :code WHERE id = :id"),
            {"code": fresh, "id": memo_id},
        )
