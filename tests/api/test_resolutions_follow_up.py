"""PUT /api/v1/memos/{id}/follow-up: a memo's own deadline, set by staff or the company."""

from __future__ import annotations

from datetime import UTC, timedelta

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.acks.service import AckVia, acknowledge
from service.audit import service as audit
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.memos.models import Memo
from tests.dispatch.conftest import take_memo
from tests.factories import make_client_user, make_company, make_token
from tests.refusals import refused


def fresh(session: Session, memo: Memo) -> Memo:
    found = session.get(Memo, memo.id, populate_existing=True)
    assert found is not None
    session.commit()
    return found


def put_due(client: TestClient, memo: Memo, headers: dict[str, str], due: object) -> httpx.Response:
    return client.put(f"/api/v1/memos/{memo.id}/follow-up", json={"due": due}, headers=headers)


def acked(session: Session, memo: Memo) -> Memo:
    result = acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.link)
    assert result is not None
    session.commit()
    return result.memo


def test_a_client_user_sets_its_memo_deadline_and_it_is_audited(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    client_user: User,
    clock: ManualClock,
) -> None:
    memo = acked(session, take_memo(session, operator))
    due = clock.now() + timedelta(hours=30)

    answer = put_due(client, memo, make_token(session, client_user), due.isoformat())

    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == memo.id
    assert answer.json()["follow_up_due"] == due.isoformat()
    memo = fresh(session, memo)
    assert memo.follow_up_due == due
    # The default rule reminds a day before.
    assert memo.next_follow_up_at == due - timedelta(hours=24)
    [entry], _ = audit.list_entries(session=session, action="memo.follow_up_set")
    assert (entry.actor, entry.target, entry.company_id) == (
        client_user.email,
        f"memo:{memo.id}",
        company.id,
    )
    assert entry.detail["due"] == due.isoformat()


def test_staff_set_a_deadline_written_in_the_company_zone(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    operator_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator, category="inquiry")
    local = (clock.now() + timedelta(days=2)).astimezone(UTC).replace(microsecond=0)
    naive_tokyo = (local + timedelta(hours=9)).replace(tzinfo=None)

    answer = put_due(client, memo, operator_headers, naive_tokyo.isoformat())

    assert answer.status_code == 200, answer.text
    assert fresh(session, memo).follow_up_due == local


def test_a_past_or_malformed_deadline_is_refused(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    operator_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    memo = acked(session, take_memo(session, operator))
    before = fresh(session, memo).follow_up_due

    past = refused(
        put_due(client, memo, operator_headers, (clock.now() - timedelta(seconds=1)).isoformat()),
        status=422,
        code="invalid",
    )
    assert past.field == "due"
    refused(put_due(client, memo, operator_headers, "next tuesday"), status=422)
    refused(put_due(client, memo, operator_headers, None), status=422)
    unknown = client.put(
        f"/api/v1/memos/{memo.id}/follow-up",
        json={"due": (clock.now() + timedelta(days=1)).isoformat(), "when": "soon"},
        headers=operator_headers,
    )
    refused(unknown, status=422)
    garbled = client.put(
        f"/api/v1/memos/{memo.id}/follow-up",
        content=b"{not json",
        headers={**operator_headers, "content-type": "application/json"},
    )
    assert garbled.status_code in (400, 422)
    refused(garbled, status=garbled.status_code)

    assert fresh(session, memo).follow_up_due == before
    assert audit.list_entries(session=session, action="memo.follow_up_set")[0] == []


def test_a_resolved_memo_takes_no_deadline(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    operator_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    memo = acked(session, take_memo(session, operator))
    handled = {"response": "お詫びした", "resolved": True}
    assert (
        client.post(
            f"/api/v1/memos/{memo.id}/resolution", json=handled, headers=operator_headers
        ).status_code
        == 200
    )

    due = (clock.now() + timedelta(days=1)).isoformat()
    refused(put_due(client, memo, operator_headers, due), status=409, code="conflict")


def test_another_company_memo_is_not_found_and_signed_out_is_refused(
    client: TestClient, session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    other = make_company(session, slug="kaede-law", name="かえで法律事務所", hours=None)
    outsider = make_client_user(session, company_id=other.id, email="kaede@example.jp")
    memo = take_memo(session, operator)
    due = (clock.now() + timedelta(days=1)).isoformat()

    refused(put_due(client, memo, make_token(session, outsider), due), status=404, code="not_found")
    refused(put_due(client, memo, {}, due), status=401)
    assert fresh(session, memo).follow_up_due is None
