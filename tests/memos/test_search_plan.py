"""A company's memo list and search read its memos off the (company, created_at, id) index on
both backends: never a walk through every company's memos by time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlmodel import Session

from service.db import new_id
from service.memos.models import MEMOS
from service.memos.service import encode_cursor, list_memos, list_statement
from tests.factories import make_bare_company, make_user

INDEX = "ix_memos_company_created_id"
START = datetime(2026, 1, 1, tzinfo=UTC)


class Explain(Executable, ClauseElement):
    """The database's plan for a statement, instead of its rows."""

    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explain, "sqlite")
def _explain_sqlite(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN QUERY PLAN " + compiler.process(element.statement, **kw)


@compiles(Explain, "postgresql")
def _explain_postgresql(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN " + compiler.process(element.statement, **kw)


def make_history(session: Session, *, companies: int, per_company: int) -> list[str]:
    """Committed companies with `per_company` memos each, interleaved in time; their ids."""
    operator = make_user(session)
    ids = [
        make_bare_company(session, slug=f"company-{n}", name=f"会社{n}").id
        for n in range(companies)
    ]
    rows = []
    for serial in range(companies * per_company):
        taken = START + timedelta(minutes=serial)
        rows.append(
            {
                "id": new_id(),
                "company_id": ids[serial % companies],
                "company_version": 1,
                "operator_id": operator.id,
                "category": "inquiry",
                "urgency": "normal",
                "caller_name": "山田 太郎",
                "caller_phone": f"+8190{serial:08d}",
                "subject": f"配送の遅れについて（{serial}）",
                "body": "折り返しのお電話を希望。",
                "fields": {"order_no": f"A-{serial:06d}"},
                "status": "acknowledged",
                "ack_code": f"{serial:05d}",
                "created_at": taken,
                "updated_at": taken,
                "skipped": [],
            }
        )
    session.execute(insert(MEMOS), rows)
    session.commit()
    return ids


def plan(engine: Engine, statement: Any) -> str:
    """The plan's text, one line per step; statistics are gathered first."""
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
        found = connection.execute(Explain(statement)).all()
    if engine.dialect.name == "sqlite":
        return "\n".join(str(row[-1]) for row in found)
    return "\n".join(str(row[0]) for row in found)


def assert_read_off_the_index(engine: Engine, found: str) -> None:
    """SQLite walks the company's memos in the index's order, with no sort; PostgreSQL reaches
    only the company's memos through it (at a hundred memos a company it rightly sorts them
    rather than read them in order), never every company's by time or the whole table."""
    assert INDEX in found, found
    assert "ix_memos_created_at" not in found, found
    if engine.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in found, found
        assert "SCAN memos" not in found, found
    else:
        assert "Seq Scan on memos" not in found, found


@pytest.mark.parametrize(
    "query", [None, "配送", "080-9999-0001"], ids=["list", "japanese", "phone"]
)
def test_a_companys_page_is_read_off_its_index(
    engine: Engine, session: Session, query: str | None
) -> None:
    company_id = make_history(session, companies=100, per_company=100)[3]
    statement = list_statement(
        dialect=engine.dialect.name, company_id=company_id, query=query, limit=50
    )

    assert_read_off_the_index(engine, plan(engine, statement))


def test_the_next_page_starts_at_its_cursor_on_the_index(engine: Engine, session: Session) -> None:
    company_id = make_history(session, companies=100, per_company=100)[3]
    first, cursor = list_memos(session=session, company_id=company_id, limit=50)
    assert cursor == encode_cursor(first[-1][0])
    session.commit()
    statement = list_statement(
        dialect=engine.dialect.name, company_id=company_id, cursor=cursor, limit=50
    )

    assert_read_off_the_index(engine, plan(engine, statement))


def test_pages_follow_the_index_order_within_one_company(session: Session) -> None:
    ids = make_history(session, companies=3, per_company=40)

    seen = []
    cursor = None
    while True:
        page, cursor = list_memos(session=session, company_id=ids[1], cursor=cursor, limit=15)
        seen += [memo for memo, _ in page]
        if cursor is None:
            break

    assert len(seen) == 40
    assert {memo.company_id for memo in seen} == {ids[1]}
    keys = [(memo.created_at, memo.id) for memo in seen]
    assert keys == sorted(keys, reverse=True)
