"""The index behind memo search: the trigrams of every searchable word of a memo (its subject,
body, caller's name, company and number, and the stored text of its custom fields).

A search of three characters or more first asks this index which memos may hold the words and
reads only those, instead of every memo the company has; the search's own conditions then
decide, so what is found is exactly what reading every memo would find.

- PostgreSQL: a pg_trgm GIN index on one expression joining the searchable columns; the search
  matches that same expression, so the planner can answer it from the index.
- SQLite: an FTS5 table with the trigram tokenizer whose content is the memos table itself,
  kept in step by triggers on every insert, delete and change of a searchable column.

Both come with the memos table (`metadata.create_all`) and with migration 0021, which writes
the same statements out. Neither is a model, so schema comparisons leave them out
(`include_name`). On SQLite the FTS table follows memos by rowid: a migration that rebuilds the
memos table (a batch alter) must create the triggers again and rebuild the index.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Table, event, literal_column, text
from sqlalchemy.sql.elements import ColumnElement

from service.memos.models import MEMOS

# Fewer characters than this make no trigram: such a search reads the company's memos.
MIN_CHARS = 3

PG_INDEX = "ix_memos_search_trgm"
FTS_TABLE = "memo_search"
# The FTS table and the tables FTS5 keeps its index in.
FTS_TABLES = frozenset(
    {FTS_TABLE, *(f"{FTS_TABLE}_{part}" for part in ("data", "idx", "docsize", "config"))}
)

# PostgreSQL: what the trigram index holds and what a search matches, written once, because
# the planner uses the index only for the very same expression.
_PG_TEXT = (
    "({t}subject || ' ' || {t}body || ' ' || {t}caller_name"
    " || ' ' || coalesce({t}caller_company, '') || ' ' || coalesce({t}caller_phone, '')"
    " || ' ' || {t}fields::text)"
)
PG_CREATE = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"CREATE INDEX {PG_INDEX} ON memos USING gin ({_PG_TEXT.format(t='')} gin_trgm_ops)",
)
PG_DROP = (f"DROP INDEX IF EXISTS {PG_INDEX}",)

SQLITE_INSERT_TRIGGER = (
    "CREATE TRIGGER memo_search_insert AFTER INSERT ON memos BEGIN"
    " INSERT INTO memo_search(rowid, subject, body, caller_name, caller_company, caller_phone,"
    " fields) VALUES (new.rowid, new.subject, new.body, new.caller_name, new.caller_company,"
    " new.caller_phone, new.fields);"
    " END"
)
SQLITE_REBUILD = "INSERT INTO memo_search(memo_search) VALUES ('rebuild')"
SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE memo_search USING fts5("
    "subject, body, caller_name, caller_company, caller_phone, fields,"
    " content='memos', content_rowid='rowid', tokenize='trigram')",
    SQLITE_INSERT_TRIGGER,
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
    # The memos already there.
    SQLITE_REBUILD,
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS memo_search_update",
    "DROP TRIGGER IF EXISTS memo_search_delete",
    "DROP TRIGGER IF EXISTS memo_search_insert",
    "DROP TABLE IF EXISTS memo_search",
)


def statements(dialect: str, *, create: bool) -> tuple[str, ...]:
    """The DDL that creates (or drops) the search index on `dialect`."""
    if dialect == "postgresql":
        return PG_CREATE if create else PG_DROP
    if dialect == "sqlite":
        return SQLITE_CREATE if create else SQLITE_DROP
    return ()


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For schema comparisons: False for the search index's own tables and index."""
    del parent_names
    if type_ == "table":
        return name not in FTS_TABLES
    if type_ == "index":
        return name != PG_INDEX
    return True


def pg_search_text() -> ColumnElement[str]:
    """The memo's searchable text as the PostgreSQL trigram index holds it."""
    return literal_column(_PG_TEXT.format(t="memos."))


def sqlite_match(query: str) -> ColumnElement[bool]:
    """SQLite: the memos the FTS5 `query` names."""
    return text(
        "memos.rowid IN (SELECT rowid FROM memo_search WHERE memo_search MATCH :memo_search)"
    ).bindparams(memo_search=query)  # type: ignore[return-value]


def fts_query(texts: Iterable[str]) -> str:
    """An FTS5 query for any of `texts` as a plain substring, quotes and all."""
    return " OR ".join('"' + piece.replace('"', '""') + '"' for piece in sorted(set(texts)))


def count_matches(connection: Connection, query: str, *, limit: int) -> int:
    """SQLite: how many memos the FTS5 `query` names, counting no further than `limit`."""
    found = connection.execute(
        text(
            "SELECT count(*) FROM (SELECT 1 FROM memo_search"
            " WHERE memo_search MATCH :memo_search LIMIT :limit)"
        ),
        {"memo_search": query, "limit": limit},
    ).scalar_one()
    return int(found)


def _count_each(connection: Connection, queries: list[str], *, limit: int) -> list[int]:
    """SQLite: how many memos each FTS5 query names, up to `limit`, in one statement."""
    # Built from one fixed subquery per query, numbered: the queries themselves are bound.
    one = (
        "(SELECT count(*) FROM (SELECT 1 FROM memo_search"
        " WHERE memo_search MATCH :q{n} LIMIT :limit))"
    )
    statement = "SELECT " + ", ".join(one.format(n=n) for n in range(len(queries)))
    values = {f"q{n}": query for n, query in enumerate(queries)}
    return [
        int(found)
        for found in connection.execute(text(statement), {"limit": limit, **values}).one()
    ]


# How many of a text's trigrams are counted, and how many of the rarest are asked for.
_SAMPLED = 8
_RAREST = 3
# A trigram in no more memos than this is rare enough to ask for without counting the others.
_FEW = 50


def rare_trigrams_query(connection: Connection, texts: Iterable[str], *, limit: int) -> str | None:
    """SQLite: an FTS5 query naming every memo that may hold any of `texts` through each
    text's rarest trigrams, when it names at most `limit` memos; None otherwise.

    FTS5 reads every trigram of a phrase in full, so a phrase made mostly of common ones
    (a subject most memos share, a number's digits) costs as much as reading the memos; a
    memo holding the text holds each of its trigrams, so the rarest few name it too."""
    sampled: list[list[str]] = []
    for piece in sorted(set(texts)):
        grams = list(dict.fromkeys(piece[at : at + 3] for at in range(len(piece) - 2)))
        if len(grams) > _SAMPLED:
            step = (len(grams) - 1) / (_SAMPLED - 1)
            grams = list(dict.fromkeys(grams[round(n * step)] for n in range(_SAMPLED)))
        sampled.append(grams)
    every = sorted({gram for grams in sampled for gram in grams})
    # First counted only a little way: a text with a trigram that rare needs no more.
    found = _count_each(connection, [fts_query([gram]) for gram in every], limit=_FEW + 1)
    counts = dict(zip(every, found, strict=True))
    further = sorted(
        {gram for grams in sampled if min(counts[g] for g in grams) > _FEW for gram in grams}
    )
    if further:
        found = _count_each(connection, [fts_query([gram]) for gram in further], limit=limit + 1)
        counts.update(zip(further, found, strict=True))
    parts = []
    for grams in sampled:
        rarest = sorted(grams, key=counts.__getitem__)[:_RAREST]
        # A trigram in more memos than the limit only slows the others down, unless every
        # one is that common (a number's digits), when together they may still be rare.
        # Those counted only a little way were rare or are of unknown count: only the rare.
        common = _FEW if counts[rarest[0]] <= _FEW else limit
        few = [gram for gram in rarest if counts[gram] <= common] or rarest
        parts.append(" AND ".join(fts_query([gram]) for gram in few))
    query = " OR ".join(f"({part})" for part in parts)
    if count_matches(connection, query, limit=limit + 1) > limit:
        return None
    return query


def _create(target: Table, connection: Connection, **kw: Any) -> None:
    for statement in statements(connection.dialect.name, create=True):
        connection.exec_driver_sql(statement)


def _drop(target: Table, connection: Connection, **kw: Any) -> None:
    for statement in statements(connection.dialect.name, create=False):
        connection.exec_driver_sql(statement)


event.listen(MEMOS, "after_create", _create)
event.listen(MEMOS, "before_drop", _drop)
