"""The staff memo page: each account of how the company handled a memo, and the form staff use
to record one for the company (audited as theirs)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import service as audit
from service.auth.models import User
from service.companies.models import Company
from service.memos.models import Memo
from service.memos.resolutions import resolutions_of
from tests.dispatch.conftest import take_memo
from tests.factories import csrf_from
from tests.people import sign_in

HANDLED = {
    "by": "佐藤 院長（電話で）",
    "response": "院長からお電話し、お詫びしました。",
    "cause": "予約入力漏れ",
    "result": "ご了承いただいた",
    "resolved": "on",
}


def fresh(session: Session, memo: Memo) -> Memo:
    found = session.get(Memo, memo.id, populate_existing=True)
    assert found is not None
    session.commit()
    return found


def test_an_operator_records_it_for_the_company_and_the_trail_shows_it(
    client: TestClient, session: Session, operator: User, company: Company
) -> None:
    memo = take_memo(session, operator)
    sign_in(client, operator)
    page = client.get(f"/memos/{memo.id}")
    assert f'action="/memos/{memo.id}/resolution"' in page.text
    assert 'name="by"' in page.text

    answer = client.post(
        f"/memos/{memo.id}/resolution",
        data={**HANDLED, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/memos/{memo.id}#trail-resolutions"
    shown = client.get(f"/memos/{memo.id}").text
    assert "院長からお電話し、お詫びしました。" in shown
    assert "佐藤 院長（電話で）" in shown
    [kept] = resolutions_of(session=session, memo_id=memo.id)
    session.commit()
    assert (kept.by, kept.via, kept.recorded_by_user_id) == (
        "佐藤 院長（電話で）",
        "operator",
        operator.id,
    )
    stored = fresh(session, memo)
    assert stored.acknowledged_via == "operator"
    assert stored.resolved_at is not None
    [entry], _ = audit.list_entries(session=session, action="memo.resolved")
    assert (entry.actor, entry.detail["via"]) == (operator.email, "operator")


def test_without_a_response_the_page_comes_back_with_what_was_typed(
    client: TestClient, session: Session, operator: User, company: Company
) -> None:
    memo = take_memo(session, operator)
    sign_in(client, operator)
    token = csrf_from(client.get(f"/memos/{memo.id}").text)

    answer = client.post(
        f"/memos/{memo.id}/resolution", data={**HANDLED, "response": "", "csrf_token": token}
    )

    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.text
    assert "予約入力漏れ</textarea>" in answer.text
    assert resolutions_of(session=session, memo_id=memo.id) == []


def test_a_client_user_cannot_use_the_staff_form(
    client: TestClient, session: Session, operator: User, company: Company, client_user: User
) -> None:
    memo = take_memo(session, operator)
    sign_in(client, client_user)
    token = csrf_from(client.get(f"/portal/memos/{memo.id}").text)

    answer = client.post(f"/memos/{memo.id}/resolution", data={**HANDLED, "csrf_token": token})

    assert answer.status_code == 403
    assert resolutions_of(session=session, memo_id=memo.id) == []
