"""The staff memo page shows a memo's follow-up deadline and lets staff set it (audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import service as audit
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.memos.models import Memo
from tests.dispatch.conftest import take_memo
from tests.factories import csrf_from
from tests.people import sign_in


def fresh(session: Session, memo: Memo) -> Memo:
    found = session.get(Memo, memo.id, populate_existing=True)
    assert found is not None
    session.commit()
    return found


def test_an_operator_sets_the_deadline_in_the_company_zone(
    client: TestClient, session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memo = take_memo(session, operator)
    sign_in(client, operator)
    page = client.get(f"/memos/{memo.id}")
    assert f'action="/memos/{memo.id}/follow-up"' in page.text
    tomorrow = (clock.now() + timedelta(days=1)).astimezone(UTC).replace(second=0, microsecond=0)
    tokyo = (tomorrow + timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M")

    answer = client.post(
        f"/memos/{memo.id}/follow-up",
        data={"due": tokyo, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )

    assert answer.status_code == 303, answer.text
    assert fresh(session, memo).follow_up_due == tomorrow
    [entry], _ = audit.list_entries(session=session, action="memo.follow_up_set")
    assert (entry.actor, entry.target) == (operator.email, f"memo:{memo.id}")
    session.commit()
    assert f'value="{tokyo}"' in client.get(f"/memos/{memo.id}").text


def test_a_past_or_unreadable_deadline_is_shown_back_and_changes_nothing(
    client: TestClient, session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memo = take_memo(session, operator)
    sign_in(client, operator)
    csrf = csrf_from(client.get(f"/memos/{memo.id}").text)
    past = datetime(2000, 1, 1, 9, 0).strftime("%Y-%m-%dT%H:%M")

    for due in (past, "tomorrow", ""):
        answer = client.post(f"/memos/{memo.id}/follow-up", data={"due": due, "csrf_token": csrf})
        assert answer.status_code == 422, (due, answer.status_code)
        assert 'id="follow-up-error"' in answer.text

    assert fresh(session, memo).follow_up_due is None
    assert audit.list_entries(session=session, action="memo.follow_up_set")[0] == []


def test_client_users_cannot_use_the_staff_form(
    client: TestClient, session: Session, operator: User, company: Company, client_user: User
) -> None:
    memo = take_memo(session, operator)
    sign_in(client, client_user)

    answer = client.post(f"/memos/{memo.id}/follow-up", data={"due": "2030-01-01T10:00"})

    assert answer.status_code in (403, 303)
    assert fresh(session, memo).follow_up_due is None
