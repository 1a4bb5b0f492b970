"""A company's memo list and search read its memos off the (company, created_at, id) index on
both backends: never a walk through every company's memos by time. A search of three characters
or more within one company reads only the memos the trigram index names, and finds exactly
what reading every memo finds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlmodel import Session, col, select

from service.db import new_id
from service.memos import search_index
from service.memos.models import MEMOS, Memo
from service.memos.service import encode_cursor, list_memos, list_statement
from tests.factories import make_bare_company, make_user

INDEX = "ix_memos_company_created_id"
# How each backend's plan names the trigram index when it reads it.
TRIGRAMS = {"sqlite": "SCAN memo_search VIRTUAL TABLE", "postgresql": search_index.PG_INDEX}
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
    ("query", "text_index"),
    [(None, True), ("配送", True), ("080-9999-0001", False)],
    ids=["list", "two characters", "phone without the trigram index"],
)
def test_a_companys_page_is_read_off_its_index(
    engine: Engine, session: Session, query: str | None, text_index: bool
) -> None:
    company_id = make_history(session, companies=100, per_company=100)[3]
    statement = list_statement(
        dialect=engine.dialect.name,
        company_id=company_id,
        query=query,
        limit=50,
        text_index=text_index,
    )

    found = plan(engine, statement)
    assert_read_off_the_index(engine, found)
    assert TRIGRAMS[engine.dialect.name] not in found, found


@pytest.mark.parametrize(
    "query",
    ["A-000777", "090-0000-0777", "（777）", "配送の遅れについて（777）"],
    ids=["custom field", "phone", "full width", "japanese"],
)
def test_a_search_in_one_large_company_reads_only_what_the_trigrams_name(
    engine: Engine, session: Session, query: str
) -> None:
    # One company holds nearly every memo; the words are in one of them.
    company_id = make_history(session, companies=1, per_company=3000)[0]
    statement = list_statement(
        dialect=engine.dialect.name, company_id=company_id, query=query, limit=50
    )

    found = plan(engine, statement)
    assert TRIGRAMS[engine.dialect.name] in found, found
    if engine.dialect.name == "sqlite":
        assert "SEARCH memos USING INTEGER PRIMARY KEY" in found, found
    else:
        assert "Seq Scan on memos" not in found, found
    page, _ = list_memos(session=session, company_id=company_id, query=query)
    assert [memo.subject for memo, _ in page] == ["配送の遅れについて（777）"]


def test_a_word_in_many_memos_is_read_off_the_companys_index_on_sqlite(
    engine: Engine, session: Session
) -> None:
    """Where the trigrams name more memos than are worth sorting, SQLite walks the company's
    memos newest first, as for a short word; PostgreSQL's planner makes that choice itself."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL weighs this from its statistics")
    company_id = make_history(session, companies=1, per_company=3000)[0]
    issued: list[str] = []

    def keep(*args: Any) -> None:
        issued.append(args[2])

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("service.memos.service.SQLITE_INDEX_MATCHES", 100)
            common, _ = list_memos(session=session, company_id=company_id, query="配送の遅れ")
            rare, _ = list_memos(session=session, company_id=company_id, query="（777）")
    finally:
        event.remove(engine, "before_cursor_execute", keep)

    assert len(common) == 50 and len(rare) == 1
    pages = [sql for sql in issued if "FROM memos JOIN companies" in sql]
    assert len(pages) == 2, issued
    assert "MATCH" not in pages[0]
    assert "MATCH" in pages[1]


def test_a_small_companys_search_reads_its_memos_without_asking_the_index_on_sqlite(
    engine: Engine, session: Session
) -> None:
    """The index counts across every company: for a company with fewer memos than a search
    would read off it, reading them is cheaper than asking."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL weighs this from its statistics")
    ids = make_history(session, companies=30, per_company=100)
    issued: list[str] = []

    def keep(*args: Any) -> None:
        issued.append(args[2])

    event.listen(engine, "before_cursor_execute", keep)
    try:
        page, _ = list_memos(session=session, company_id=ids[7], query="（2107）")
        of_the_company = len(issued)
        bureau, _ = list_memos(session=session, query="（2107）")
    finally:
        event.remove(engine, "before_cursor_execute", keep)

    assert [memo.subject for memo, _ in page] == ["配送の遅れについて（2107）"]
    assert [memo.subject for memo, _ in bureau] == ["配送の遅れについて（2107）"]
    # Only the bureau-wide search, which has no company to read instead, asks the index.
    assert not any("memo_search" in sql for sql in issued[:of_the_company]), issued
    assert any("memo_search" in sql for sql in issued[of_the_company:]), issued


def _special_memos(session: Session, company_id: str, operator_id: str) -> None:
    """Memos whose words stress the search: full width, case, JSON escapes, LIKE wildcards."""
    rows = [
        ("ＡＢＣ商事の件", "Ｔｅｌ：０９０－１２３４－５６７８", {"メモ": "折り返し希望"}),
        ("abc trading", "100% refund, a_b \\ path", {"note": 'say "hello" ok'}),
        ("Mixed Case Subject", "body", {"count": 12345, "flag": True, "nested": {"k": "深い値"}}),
        ("件名", "本文", {"顧客番号": "Ｘ－９９"}),
    ]
    taken = START + timedelta(days=400)
    session.execute(
        insert(MEMOS),
        [
            {
                "id": new_id(),
                "company_id": company_id,
                "company_version": 1,
                "operator_id": operator_id,
                "category": "inquiry",
                "urgency": "normal",
                "caller_name": "Ken Ito",
                "caller_phone": "+819012345678" if serial == 0 else None,
                "caller_company": "株式会社テスト" if serial == 1 else None,
                "subject": subject,
                "body": body,
                "fields": fields,
                "status": "delivered",
                "ack_code": f"9{serial:04d}",
                "created_at": taken + timedelta(minutes=serial),
                "updated_at": taken,
                "skipped": [],
            }
            for serial, (subject, body, fields) in enumerate(rows)
        ],
    )
    session.commit()


QUERIES = [
    "配送",
    "配送の遅れ",
    "遅れについて（7",
    "A-000123",
    "a-000123",
    "Ａ－０００１２３",
    "order_no",
    "090-0000-0123",
    "+81 90 0000 0123",
    "０９０００００１２３",
    "0123",
    "山田 太郎",
    "（123）",
    "(123)",
    "ＡＢＣ",
    "abc",
    "ABC商事",
    "090-1234-5678",
    "100%",
    "a_b",
    "\\ path",
    '"hello"',
    "hello",
    "12345",
    "true",
    "深い値",
    "Ｘ－９９",
    "X-99",
    "mixed case",
    "株式会社テスト",
    "ken ito",
    "雨漏り",
    "折り返し",
]


@pytest.mark.parametrize("scope", ["company", "every company"])
def test_the_trigram_index_finds_exactly_what_reading_every_memo_finds(
    engine: Engine, session: Session, scope: str
) -> None:
    ids = make_history(session, companies=3, per_company=200)
    operator_id = session.exec(select(Memo.operator_id)).first()
    assert operator_id is not None
    _special_memos(session, ids[1], operator_id)
    company_id = ids[1] if scope == "company" else None

    def found(statement: Any) -> list[str]:
        return [memo.id for memo, _ in session.exec(statement).all()]

    for query in QUERIES:
        read_all = found(
            list_statement(
                dialect=engine.dialect.name,
                company_id=company_id,
                query=query,
                limit=1000,
                text_index=False,
            )
        )
        indexed = found(
            list_statement(
                dialect=engine.dialect.name, company_id=company_id, query=query, limit=1000
            )
        )
        page, _ = list_memos(session=session, company_id=company_id, query=query, limit=1000)
        assert indexed == read_all, query
        assert [memo.id for memo, _ in page] == read_all, query


def test_a_changed_or_deleted_memo_is_found_by_what_it_now_says(
    engine: Engine, session: Session
) -> None:
    company_id = make_history(session, companies=1, per_company=20)[0]
    memos = session.exec(select(Memo).order_by(col(Memo.created_at))).all()
    changed, deleted = memos[3], memos[4]
    changed.subject = "屋根の雨漏り"
    changed.fields = {"order_no": "Z-999"}
    session.add(changed)
    session.delete(deleted)
    session.commit()
    session.execute(update(Memo).where(col(Memo.id) == memos[5].id).values(body="雨漏りの再発"))
    session.commit()

    def subjects(query: str) -> list[str]:
        page, _ = list_memos(session=session, company_id=company_id, query=query)
        return [memo.subject for memo, _ in page]

    assert subjects("雨漏り") == [memos[5].subject, "屋根の雨漏り"]
    assert subjects("A-000003") == []
    assert subjects("Z-999") == ["屋根の雨漏り"]
    assert subjects("遅れについて（4）") == []


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
