"""an append-only audit trail: sign-ins, company saves, user and token changes, exports

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db

# As written here, not imported: a migration stays what it was when it was made.
APPEND_ONLY_SQL = {
    "sqlite": [
        "CREATE TRIGGER audit_entries_never_updated BEFORE UPDATE ON audit_entries "
        "BEGIN SELECT RAISE(ABORT, 'audit entries are never changed'); END",
        "CREATE TRIGGER audit_entries_never_deleted BEFORE DELETE ON audit_entries "
        "BEGIN SELECT RAISE(ABORT, 'audit entries are never deleted'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit entries are never changed or deleted'; END $$",
        "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries "
        "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()",
    ],
}
DROP_APPEND_ONLY_SQL = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS audit_entries_never_updated",
        "DROP TRIGGER IF EXISTS audit_entries_never_deleted",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries",
        "DROP FUNCTION IF EXISTS audit_entries_append_only()",
    ],
}

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=400), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_entries_action", "audit_entries", ["action"])
    op.create_index("ix_audit_entries_at_id", "audit_entries", ["at", "id"])
    op.create_index("ix_audit_entries_actor_at", "audit_entries", ["actor", "at"])
    op.create_index("ix_audit_entries_company_at", "audit_entries", ["company_id", "at"])
    for statement in APPEND_ONLY_SQL[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_APPEND_ONLY_SQL[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_table("audit_entries")
