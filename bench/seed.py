"""The data a benchmark starts from: client companies, operators and their API tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from service.auth import service as auth
from service.auth.models import Role
from service.companies.service import save_company
from service.companies.validation import validate_document
from service.db import make_engine
from service.memos.search_index import SQLITE_INSERT_TRIGGER, SQLITE_REBUILD


@contextmanager
def search_indexed_at_the_end(session: Session) -> Iterator[None]:
    """On SQLite, memos inserted inside enter the search index in one rebuild at the end.

    Through the insert trigger, each batch of memos merges into the FTS5 index again, and a
    million memos in one transaction wrote over 100 GB of WAL without finishing; one rebuild
    writes the index once. Elsewhere, nothing changes."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    session.execute(text("DROP TRIGGER memo_search_insert"))
    yield
    session.execute(text(SQLITE_INSERT_TRIGGER))
    session.execute(text(SQLITE_REBUILD))


def company_number(index: int) -> str:
    """The company's own (050) number callers dial; distinct per index."""
    return f"+8150{10_000_000 + index:08d}"


def mobile_number(index: int) -> str:
    """A contact's Japanese mobile number; distinct per index."""
    return f"+8190{20_000_000 + index:08d}"


def company_document(
    *,
    slug: str,
    index: int,
    sms_contacts: int = 0,
    extra_contacts: int = 0,
    escalation: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A company that is always open; with `sms_contacts`, every memo goes to all of them by
    SMS (and `extra_contacts` more, reachable by SMS, are left for escalation), else (the
    usual shape) complaints go by email to two people, the rest to one."""
    name = f"ベンチ商事{index:03d}"
    document: dict[str, Any] = {
        "slug": slug,
        "name": name,
        "phone_numbers": [company_number(index)],
        "locale": "ja",
        "greeting": f"お電話ありがとうございます。{name}でございます。",
        "script": [
            {"say": "担当者が不在のため、ご用件を承ります。"},
            {"ask": "お名前とご連絡先をお伺いできますか。"},
            {"ask": "ご注文番号をお持ちですか。", "field": "order_no"},
        ],
        "fields": [{"key": "order_no", "label": "注文番号", "required": False}],
    }
    if sms_contacts:
        contacts = [
            {"key": f"c{i}", "name": f"担当{i}", "phone": mobile_number(index * 100 + i)}
            for i in range(sms_contacts + extra_contacts)
        ]
        document["contacts"] = contacts
        routed = [c["key"] for c in contacts[:sms_contacts]]
        document["routing"] = [{"notify": routed, "channels": ["sms"]}]
    else:
        document["contacts"] = [
            {"key": "director", "name": "佐藤 部長", "email": f"sato{index}@example.jp"},
            {"key": "office", "name": "受付", "email": f"office{index}@example.jp"},
        ]
        document["routing"] = [
            {
                "when": {"category": "complaint"},
                "notify": ["director", "office"],
                "channels": ["email"],
            },
            {"notify": ["office"], "channels": ["email"]},
        ]
    if escalation:
        document["escalation"] = escalation
    return document


def add_companies(database_url: str, documents: list[dict[str, Any]]) -> None:
    """Save the companies, committed."""
    engine = make_engine(database_url)
    with Session(engine, expire_on_commit=False) as session:
        for document in documents:
            save_company(session=session, config=validate_document(document), changed_by="bench")
        session.commit()
    engine.dispose()


def add_operators(database_url: str, count: int, *, prefix: str = "op") -> list[dict[str, str]]:
    """`count` operators (no password: API tokens only); their Authorization headers."""
    engine = make_engine(database_url)
    headers: list[dict[str, str]] = []
    with Session(engine, expire_on_commit=False) as session:
        for index in range(count):
            user = auth.create_user(
                session=session,
                email=f"{prefix}{index}@bench.example.jp",
                role=Role.operator,
                display_name=f"オペレーター{index}",
            )
            token = auth.create_api_token(session=session, user=user)
            headers.append({"Authorization": f"Bearer {token}"})
        session.commit()
    engine.dispose()
    return headers


def memo_body(client: str, serial: int, *, category: str = "complaint") -> dict[str, Any]:
    """A typical memo as the console posts it: a complaint, in Japanese."""
    return {
        "client": client,
        "category": category,
        "urgency": "normal",
        "caller": {
            "name": "山田 太郎",
            "phone": f"090-{1000 + serial % 9000:04d}-{serial % 10000:04d}",
            "company": "山田商事株式会社",
        },
        "subject": f"配送の遅れについて（{serial}）",
        "body": (
            "先週注文した商品がまだ届いていないとのこと。追跡番号を確認したいので、"
            "担当の方から折り返しのお電話が欲しいとのことです。午後3時以降が都合が良いそうです。"
        ),
        "fields": {"order_no": f"A-{serial:06d}"},
    }
