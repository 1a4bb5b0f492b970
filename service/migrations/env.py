"""Alembic environment: runs against the engine handed over by `service.migrate`."""

from typing import Any, Literal

from alembic import context
from sqlmodel.sql.sqltypes import AutoString

from service.memos.search_index import include_name
from service.models import metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write SQLModel's string columns as plain SQLAlchemy ones in new migrations."""
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
    # The memo search index (an FTS5 table, a trigram index) is no model: its migration keeps it.
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
