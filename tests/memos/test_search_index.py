"""The memo search index: made the same way by the models and by its migration, kept in step
with the memos on SQLite, and left out of schema comparisons."""

from __future__ import annotations

import importlib

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from service.memos import search_index
from service.memos.models import Memo
from tests.memos.test_search_plan import make_history

MIGRATION = importlib.import_module("service.migrations.versions.0021_memo_search_index")


def test_the_migration_makes_the_index_as_the_models_do() -> None:
    assert search_index.statements("postgresql", create=True) == MIGRATION.POSTGRESQL_UP
    assert search_index.statements("postgresql", create=False) == MIGRATION.POSTGRESQL_DOWN
    assert search_index.statements("sqlite", create=True) == MIGRATION.SQLITE_UP
    assert search_index.statements("sqlite", create=False) == MIGRATION.SQLITE_DOWN


def test_schema_comparisons_leave_the_index_out() -> None:
    assert not search_index.include_name("memo_search", "table", {})
    assert not search_index.include_name("memo_search_data", "table", {})
    assert not search_index.include_name(search_index.PG_INDEX, "index", {})
    assert search_index.include_name("memos", "table", {})
    assert search_index.include_name("ix_memos_company_created_id", "index", {})


def test_the_sqlite_index_follows_every_insert_change_and_delete(
    engine: Engine, session: Session
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps its own indexes")
    make_history(session, companies=2, per_company=30)
    memos = session.exec(select(Memo).order_by(col(Memo.created_at))).all()
    memos[0].caller_name = "佐藤 花子"
    memos[1].fields = {"order_no": "B-1"}
    memos[2].ack_code = "77777"  # a change of no searchable column
    session.add_all(memos[:3])
    session.delete(memos[3])
    session.commit()

    with engine.begin() as connection:
        # FTS5 compares every indexed row with the memos table itself (rank 1: the content).
        connection.execute(
            text("INSERT INTO memo_search(memo_search, rank) VALUES ('integrity-check', 1)")
        )
        count = connection.execute(text("SELECT count(*) FROM memo_search")).scalar_one()
        named = connection.execute(
            text("SELECT count(*) FROM memo_search WHERE memo_search MATCH :q"),
            {"q": search_index.fts_query(["佐藤 花子", "B-1"])},
        ).scalar_one()
    assert count == 59
    assert named == 2


def test_an_fts_query_takes_the_words_as_plain_text() -> None:
    assert search_index.fts_query(['say "hi"', "a OR b", "a OR b"]) == '"a OR b" OR "say ""hi"""'


def test_sqlite_asks_for_the_rarest_trigrams_of_a_text(engine: Engine, session: Session) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    make_history(session, companies=1, per_company=300)

    with engine.connect() as connection:
        one = search_index.rare_trigrams_query(connection, ["配送の遅れについて（123）"], limit=50)
        most = search_index.rare_trigrams_query(connection, ["配送の遅れ"], limit=50)
        assert one is not None
        named = search_index.count_matches(connection, one, limit=1000)

    # Trigrams every memo holds are left out, and the few asked for name the one memo.
    assert "配送の" not in one and "（12" in one
    assert named == 1
    assert most is None
