"""memo search: trigram indexes for substring search

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 17:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The statements of service.memos.search_index as they stood for this revision.
POSTGRESQL_UP = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_memos_search_trgm ON memos USING gin ("
    "(subject || ' ' || body || ' ' || caller_name"
    " || ' ' || coalesce(caller_company, '') || ' ' || coalesce(caller_phone, '')"
    " || ' ' || fields::text) gin_trgm_ops)",
)
POSTGRESQL_DOWN = ("DROP INDEX IF EXISTS ix_memos_search_trgm",)
SQLITE_UP = (
    "CREATE VIRTUAL TABLE memo_search USING fts5("
    "subject, body, caller_name, caller_company, caller_phone, fields,"
    " content='memos', content_rowid='rowid', tokenize='trigram')",
    "CREATE TRIGGER memo_search_insert AFTER INSERT ON memos BEGIN"
    " INSERT INTO memo_search(rowid, subject, body, caller_name, caller_company, caller_phone,"
    " fields) VALUES (new.rowid, new.subject, new.body, new.caller_name, new.caller_company,"
    " new.caller_phone, new.fields);"
    " END",
    "CREATE TRIGGER memo_search_delete AFTER DELETE ON memos BEGIN"
    " INSERT INTO memo_search(memo_search, rowid, subject, body, caller_name, caller_company,"
    " caller_phone, fields) VALUES ('delete', old.rowid, old.subject, old.body,"
    " old.caller_name, old.caller_company, old.caller_phone, old.fields);"
    " END",
    "CREATE TRIGGER memo_search_update"
    " AFTER UPDATE OF subject, body, caller_name, caller_company, caller_phone, fields"
    " ON memos BEGIN"
    " INSERT INTO memo_search(memo_search, rowid, subject, body, caller_name, caller_company,"
    " caller_phone, fields) VALUES ('delete', old.rowid, old.subject, old.body,"
    " old.caller_name, old.caller_company, old.caller_phone, old.fields);"
    " INSERT INTO memo_search(rowid, subject, body, caller_name, caller_company, caller_phone,"
    " fields) VALUES (new.rowid, new.subject, new.body, new.caller_name, new.caller_company,"
    " new.caller_phone, new.fields);"
    " END",
    "INSERT INTO memo_search(memo_search) VALUES ('rebuild')",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS memo_search_update",
    "DROP TRIGGER IF EXISTS memo_search_delete",
    "DROP TRIGGER IF EXISTS memo_search_insert",
    "DROP TABLE IF EXISTS memo_search",
)


def upgrade() -> None:
    # A search of three characters or more asks a trigram index which memos may hold the
    # words, instead of reading every memo of the company. PostgreSQL: a pg_trgm GIN index on
    # the text the search matches. SQLite: an FTS5 trigram table over the memos table itself,
    # kept in step by triggers; 'rebuild' indexes the memos already there.
    dialect = op.get_bind().dialect.name
    for statement in POSTGRESQL_UP if dialect == "postgresql" else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in POSTGRESQL_DOWN if dialect == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
