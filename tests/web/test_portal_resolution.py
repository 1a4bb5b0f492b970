"""The portal memo page's form: a company's user records how it handled one of its memos."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import service as audit
from service.auth.models import User
from service.companies.models import Company
from service.memos.models import Memo
from service.memos.resolutions import resolutions_of
from tests.dispatch.conftest import take_memo
from tests.factories import csrf_from, make_client_user, make_company
from tests.people import sign_in

HANDLED = {
    "response": "院長からお電話し、お詫びしました。",
    "cause": "予約入力漏れ",
    "result": "ご了承いただいた",
    "resolved": "on",
}


@pytest.fixture
def signed_in(client: TestClient, session: Session, company: Company) -> User:
    """A user of sakura-dental, signed in."""
    user = make_client_user(
        session, company_id=company.id, email="uketsuke@example.jp", display_name="受付 鈴木"
    )
    sign_in(client, user)
    return user


def fresh(session: Session, memo: Memo) -> Memo:
    found = session.get(Memo, memo.id, populate_existing=True)
    assert found is not None
    session.commit()
    return found


def test_the_memo_page_records_how_it_was_handled_and_shows_it(
    client: TestClient, session: Session, operator: User, company: Company, signed_in: User
) -> None:
    memo = take_memo(session, operator)
    page = client.get(f"/portal/memos/{memo.id}")
    assert f'action="/portal/memos/{memo.id}/resolution"' in page.text

    answer = client.post(
        f"/portal/memos/{memo.id}/resolution",
        data={**HANDLED, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/portal/memos/{memo.id}?done=resolved"
    shown = client.get(answer.headers["location"]).text
    assert 'class="resolution card"' in shown
    assert "院長からお電話し、お詫びしました。" in shown and "予約入力漏れ" in shown
    [kept] = resolutions_of(session=session, memo_id=memo.id)
    session.commit()
    assert (kept.by, kept.via, kept.recorded_by_user_id) == ("受付 鈴木", "portal", signed_in.id)
    stored = fresh(session, memo)
    assert stored.acknowledged_via == "portal"
    assert stored.resolved_at is not None
    [entry], _ = audit.list_entries(session=session, action="memo.resolved")
    assert entry.actor == signed_in.email


def test_without_a_response_the_page_comes_back_with_what_was_typed(
    client: TestClient, session: Session, operator: User, company: Company, signed_in: User
) -> None:
    memo = take_memo(session, operator)
    token = csrf_from(client.get(f"/portal/memos/{memo.id}").text)

    answer = client.post(
        f"/portal/memos/{memo.id}/resolution",
        data={**HANDLED, "response": "", "csrf_token": token},
    )

    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.text
    assert "予約入力漏れ</textarea>" in answer.text
    assert resolutions_of(session=session, memo_id=memo.id) == []


def test_another_company_memo_and_a_missing_csrf_token_record_nothing(
    client: TestClient, session: Session, operator: User, company: Company, signed_in: User
) -> None:
    make_company(session, slug="kaede-law", name="かえで法律事務所", hours=None)
    own = take_memo(session, operator)
    theirs = take_memo(session, operator, client="kaede-law", subject="他社の秘密")
    token = csrf_from(client.get(f"/portal/memos/{own.id}").text)

    other = client.post(
        f"/portal/memos/{theirs.id}/resolution", data={**HANDLED, "csrf_token": token}
    )
    forged = client.post(f"/portal/memos/{own.id}/resolution", data=HANDLED)

    assert other.status_code == 404
    assert "他社の秘密" not in other.text
    assert forged.status_code == 403
    assert resolutions_of(session=session, memo_id=theirs.id) == []
    assert resolutions_of(session=session, memo_id=own.id) == []
