"""Finding memos again: one by id, a page of a company's, the latest from a caller."""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, exists, func, literal, tuple_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, and_, col, or_, select
from sqlmodel.sql.expression import Select

from service.companies.models import Company
from service.companies.service import TEST_MEMO_IDS
from service.db import UTCDateTime
from service.errors import Invalid
from service.i18n import N_
from service.memos import search_index
from service.memos.models import Category, Memo, MemoStatus, Urgency


class MemoError(Invalid):
    """A memo refused as submitted; `field` names the part of the form at fault."""

    code = "invalid_memo"


class MemoTooLarge(MemoError):
    """A memo whose body is over the size bound."""

    status = 413
    code = "too_large"


def get_memo(*, session: Session, memo_id: str, company_id: str | None = None) -> Memo | None:
    """A memo by id; with `company_id`, only if it is that company's."""
    memo = session.get(Memo, memo_id)
    if memo is None or (company_id is not None and memo.company_id != company_id):
        return None
    return memo


def encode_cursor(memo: Memo) -> str:
    """An opaque position after `memo` in the newest-first list."""
    raw = f"{memo.created_at.isoformat()}|{memo.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; MemoError for anything encode_cursor
    could not have written, e.g. a time without a zone or one past the year 9999 in UTC."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, memo_id = raw.split("|", 1)
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None or "\x00" in memo_id:
            raise ValueError("not a cursor")
        return parsed.astimezone(UTC), memo_id
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise MemoError(
            N_("This cursor is not one a page gave."),
            field="cursor",
            status=400,
            code="bad_cursor",
        ) from None


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# What people put around the digits of a phone number: spaces, hyphens, dots, brackets.
_PHONE_PUNCTUATION = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc.()]")
_PHONE_TEXT = re.compile(r"\+?[0-9]{4,15}")


def phone_digits(text: str) -> str | None:
    """The digits to look for at the end of a stored E.164 number when `text` is written like
    a phone number (`080-9999-0001`, `+81 80 9999 0001`, full width); None otherwise.

    A domestic form's leading trunk zeros are dropped, so `08099990001` finds `+818099990001`
    whatever the company's country: the number's last digits are the same in every form."""
    folded = _PHONE_PUNCTUATION.sub("", unicodedata.normalize("NFKC", text))
    if not _PHONE_TEXT.fullmatch(folded):
        return None
    digits = folded.lstrip("+").lstrip("0")
    return digits if len(digits) >= 4 else None


def _field_values(dialect: str) -> Any:
    """The values (not the keys) of each memo's custom fields, as text, one row each."""
    if dialect == "postgresql":
        return func.json_each_text(col(Memo.fields)).table_valued("value").alias("field")
    return func.json_each(col(Memo.fields)).table_valued("value").alias("field")


class _Terms:
    """What a search looks for: the words as typed and in NFKC form, their JSON-escaped forms
    (how custom field values are stored), and a phone number's digits."""

    def __init__(self, query: str) -> None:
        self.texts = sorted({query, unicodedata.normalize("NFKC", query)})
        self.escaped = sorted({json.dumps(text)[1:-1] for text in self.texts} - set(self.texts))
        self.digits = phone_digits(query)

    @property
    def indexable(self) -> bool:
        """Whether every word is long enough for the trigram index (the others are longer)."""
        return all(len(text) >= search_index.MIN_CHARS for text in self.texts)

    @property
    def indexed_texts(self) -> list[str]:
        """Every text a matching memo holds somewhere among its indexed columns."""
        return [*self.texts, *self.escaped, *([self.digits] if self.digits else [])]


def _may_match(terms: _Terms, *, dialect: str, fts_query: str | None) -> ColumnElement[bool]:
    """The memos the trigram index names as possibly matching: every memo `_search` finds and
    maybe a few more, which `_search` then leaves out."""
    if dialect == "postgresql":
        searched = search_index.pg_search_text()
        # The patterns are written into the statement rather than bound: a prepared statement
        # run often enough gets one plan for any pattern, and only a pattern it can see tells
        # the planner whether the index (few memos hold it) or the company's newest-first
        # list (most do) is the quicker way.
        return or_(
            *(
                searched.ilike(
                    bindparam(None, _like_pattern(text), String(), literal_execute=True),
                    escape="\\",
                )
                for text in terms.indexed_texts
            )
        )
    return search_index.sqlite_match(fts_query or search_index.fts_query(terms.indexed_texts))


def _search(terms: _Terms, *, dialect: str) -> ColumnElement[bool]:
    """Memos whose words, custom field values or caller's number hold the search's terms."""
    conditions: list[ColumnElement[bool]] = []
    field = _field_values(dialect)
    fields_text = cast(col(Memo.fields), String)

    def contains(column: Any, pattern: str) -> ColumnElement[bool]:
        # SQLite's LIKE already ignores ASCII case; its ILIKE would lower() every row first.
        found: ColumnElement[bool] = (
            column.like(pattern, escape="\\")
            if dialect == "sqlite"
            else column.ilike(pattern, escape="\\")
        )
        return found

    for text in terms.texts:
        pattern = _like_pattern(text)
        # The stored JSON writes non-ASCII characters as \\uXXXX: a row whose JSON text holds
        # neither form cannot match, so only the others are taken apart value by value.
        escaped = json.dumps(text)[1:-1]
        may_hold = [contains(fields_text, pattern)]
        if escaped != text:
            may_hold.append(contains(fields_text, _like_pattern(escaped)))
        conditions += [
            contains(col(Memo.subject), pattern),
            contains(col(Memo.body), pattern),
            contains(col(Memo.caller_name), pattern),
            contains(col(Memo.caller_company), pattern),
            contains(col(Memo.caller_phone), pattern),
            and_(
                or_(*may_hold),
                exists(
                    select(literal(1))
                    .select_from(field)
                    .where(contains(cast(field.c.value, String), pattern))
                ),
            ),
        ]
    if terms.digits is not None:
        conditions.append(col(Memo.caller_phone).like(f"%{terms.digits}"))
    return or_(*conditions)


def list_statement(
    *,
    dialect: str,
    company_id: str | None = None,
    client_slug: str | None = None,
    status: MemoStatus | None = None,
    category: Category | None = None,
    urgency: Urgency | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    query: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    text_index: bool = True,
    fts_query: str | None = None,
) -> Select[Memo, Company]:
    """The query for one page of `list_memos` and the first memo after it; with `text_index`,
    a search of three characters or more reads only the memos the trigram index names (on
    SQLite, those `fts_query` names, by default the search's words as phrases)."""
    statement = (
        select(Memo, Company)
        .join(Company, col(Company.id) == col(Memo.company_id))
        # A company's test send is not a memo anyone has to read.
        .where(col(Memo.id).not_in(TEST_MEMO_IDS))
    )
    if company_id is not None:
        statement = statement.where(Memo.company_id == company_id)
    if client_slug:
        statement = statement.where(Company.slug == client_slug)
    if status is not None:
        statement = statement.where(Memo.status == status)
    if category is not None:
        statement = statement.where(Memo.category == category)
    if urgency is not None:
        statement = statement.where(Memo.urgency == urgency)
    if since is not None:
        statement = statement.where(col(Memo.created_at) >= since.astimezone(UTC))
    if until is not None:
        statement = statement.where(col(Memo.created_at) < until.astimezone(UTC))
    if query and query.strip():
        terms = _Terms(query.strip())
        if text_index and terms.indexable:
            statement = statement.where(_may_match(terms, dialect=dialect, fts_query=fts_query))
        statement = statement.where(_search(terms, dialect=dialect))
    if cursor:
        moment, memo_id = _decode_cursor(cursor)
        # One row comparison rather than "earlier, or as early with a lower id": both backends
        # take it as a range of the (company_id, created_at, id) index and start the page there.
        statement = statement.where(
            tuple_(col(Memo.created_at), col(Memo.id))
            < tuple_(literal(moment, UTCDateTime()), literal(memo_id))
        )
    # The order of the index on (company_id, created_at, id): a company's page is read off it.
    return statement.order_by(col(Memo.created_at).desc(), col(Memo.id).desc()).limit(limit + 1)


# SQLite reads the memos the trigram index names by rowid and sorts them, whatever company they
# are of: worth it while they are few, and never when a word is in many memos, where walking
# the company's memos newest first fills the page soon. (PostgreSQL's planner weighs this from
# its statistics.)
SQLITE_INDEX_MATCHES = 2000


def _few_may_match(*, session: Session, query: str | None, company_id: str | None) -> str | None:
    """SQLite: the FTS5 query naming the memos a search may find, when they are few enough
    for the search to read them and fewer than the company's; None otherwise."""
    if not query or not query.strip():
        return None
    terms = _Terms(query.strip())
    if not terms.indexable:
        return None
    if (
        company_id is not None
        and _memo_count(session=session, company_id=company_id, limit=SQLITE_INDEX_MATCHES + 1)
        <= SQLITE_INDEX_MATCHES
    ):
        # Reading all of a small company's memos costs less than asking the index, which
        # counts across every company.
        return None
    return search_index.rare_trigrams_query(
        session.connection(), terms.indexed_texts, limit=SQLITE_INDEX_MATCHES
    )


def _memo_count(*, session: Session, company_id: str, limit: int) -> int:
    """How many memos the company has, counting no further than `limit`."""
    mine = select(col(Memo.id)).where(col(Memo.company_id) == company_id).limit(limit).subquery()
    return int(session.exec(select(func.count()).select_from(mine)).one())


def list_memos(
    *,
    session: Session,
    company_id: str | None = None,
    client_slug: str | None = None,
    status: MemoStatus | None = None,
    category: Category | None = None,
    urgency: Urgency | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    query: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[tuple[Memo, Company]], str | None]:
    """Memos newest first, filtered; returns a page and the cursor of the next one.

    `since` is inclusive and `until` exclusive, both on the time the memo was taken."""
    dialect = session.get_bind().dialect.name
    fts_query = (
        _few_may_match(session=session, query=query, company_id=company_id)
        if dialect == "sqlite"
        else None
    )
    statement = list_statement(
        dialect=dialect,
        company_id=company_id,
        client_slug=client_slug,
        status=status,
        category=category,
        urgency=urgency,
        since=since,
        until=until,
        query=query,
        cursor=cursor,
        limit=limit,
        text_index=dialect != "sqlite" or fts_query is not None,
        fts_query=fts_query,
    )
    rows = session.exec(statement).all()
    page = [(memo, company) for memo, company in rows[:limit]]
    next_cursor = encode_cursor(page[-1][0]) if len(rows) > limit else None
    return page, next_cursor


def memos_from_caller(
    *, session: Session, phone: str, limit: int = 10
) -> list[tuple[Memo, Company]]:
    """The latest memos taken about calls from this number, across companies."""
    rows = session.exec(
        select(Memo, Company)
        .join(Company, col(Company.id) == col(Memo.company_id))
        .where(Memo.caller_phone == phone, col(Memo.id).not_in(TEST_MEMO_IDS))
        .order_by(col(Memo.created_at).desc())
        .limit(limit)
    ).all()
    return [(memo, company) for memo, company in rows]
