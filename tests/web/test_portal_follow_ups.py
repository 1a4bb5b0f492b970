"""The portal puts the company's overdue follow-ups first and lists them alone on ?overdue=1."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.memos.models import Memo
from tests.dispatch.conftest import take_memo
from tests.factories import make_client_user, make_company
from tests.people import sign_in


def acked(session: Session, memo: Memo) -> Memo:
    result = acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.link)
    assert result is not None
    session.commit()
    return result.memo


def overdue_section(html: str) -> str:
    found = re.search(r'<section class="overdue".*?</section>', html, re.S)
    return found.group(0) if found else ""


def memo_links(html: str) -> list[str]:
    return re.findall(r'href="/portal/memos/([0-9a-f]{32})"', html)


def test_overdue_memos_come_first_and_alone_with_the_filter(
    client: TestClient, session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    other = make_company(session, slug="kaede-law", name="かえで法律事務所", hours=None)
    late = acked(session, take_memo(session, operator, subject="期限切れの苦情"))
    clock.advance(timedelta(hours=1))
    later = acked(session, take_memo(session, operator, subject="もう一件の苦情"))
    clock.advance(timedelta(minutes=1))
    inquiry = acked(session, take_memo(session, operator, category="inquiry", subject="問い合わせ"))
    acked(session, take_memo(session, operator, client="kaede-law", subject="他社の苦情"))
    clock.advance(timedelta(hours=71, minutes=29))  # only the first is past its 72 hours
    user = make_client_user(session, company_id=company.id, email="uketsuke@example.jp")
    sign_in(client, user)

    page = client.get("/portal")

    assert page.status_code == 200
    section = overdue_section(page.text)
    assert memo_links(section) == [late.id]
    assert "期限切れの苦情" in section and "他社の苦情" not in page.text
    # At the top, and the whole list still follows, newest first.
    assert memo_links(page.text) == [late.id, inquiry.id, later.id, late.id]

    clock.advance(timedelta(hours=1))
    only = client.get("/portal?overdue=1")

    assert only.status_code == 200
    assert memo_links(only.text) == [late.id, later.id]
    assert "問い合わせ" not in only.text
    assert other.id not in only.text


def test_without_overdue_memos_the_portal_shows_no_section(
    client: TestClient, session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    acked(session, take_memo(session, operator))
    user = make_client_user(session, company_id=company.id, email="uketsuke@example.jp")
    sign_in(client, user)

    page = client.get("/portal")

    assert overdue_section(page.text) == ""
    assert 'href="/portal?overdue=1"' in page.text
    empty = client.get("/portal?overdue=1")
    assert empty.status_code == 200
    assert memo_links(empty.text) == []
    assert overdue_section(empty.text) != ""
