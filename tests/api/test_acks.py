"""POST /api/v1/memos/{id}/ack: the company's own users, and staff on the company's behalf."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import service as audit
from service.auth.models import Role, User
from service.clock import ManualClock
from service.companies.models import Company
from service.memos.models import Memo, MemoStatus
from tests.dispatch.conftest import take_memo
from tests.factories import make_client_user, make_company, make_token, make_user
from tests.people import sign_in
from tests.refusals import refused


def fresh(session: Session, memo: Memo) -> Memo:
    found = session.get(Memo, memo.id, populate_existing=True)
    assert found is not None
    session.commit()
    return found


def test_a_client_user_acknowledges_its_own_memo_by_default_as_itself(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    client_user: User,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)
    headers = make_token(session, client_user)
    clock.advance(timedelta(minutes=4))

    answer = client.post(f"/api/v1/memos/{memo.id}/ack", headers=headers)

    assert answer.status_code == 200
    assert answer.headers["x-relay-ack"] == "first"
    body = answer.json()
    assert body["id"] == memo.id
    assert body["client"] == "sakura-dental"
    assert body["status"] == "acknowledged"
    assert body["acknowledged"] == {
        "at": (memo.created_at + timedelta(minutes=4)).isoformat(),
        "by": "佐藤 院長",
        "via": "portal",
        "recorded_by": "佐藤 院長",
    }
    assert {"ack_code", "created_at", "deliveries"} <= body.keys()
    # A company acknowledging its own memo is not an act for the bureau's audit trail.
    assert audit.list_entries(session=session)[0] == []


def test_a_client_user_may_name_who_confirmed(
    client: TestClient, session: Session, operator: User, company: Company, client_user: User
) -> None:
    memo = take_memo(session, operator)

    answer = client.post(
        f"/api/v1/memos/{memo.id}/ack",
        json={"by": "受付 鈴木"},
        headers=make_token(session, client_user),
    )

    assert answer.status_code == 200
    assert answer.json()["acknowledged"]["by"] == "受付 鈴木"


def test_a_second_acknowledgement_says_already_and_changes_nothing(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    client_user: User,
    clock: ManualClock,
    admin_headers: dict[str, str],
) -> None:
    memo = take_memo(session, operator)
    headers = make_token(session, client_user)
    first = client.post(f"/api/v1/memos/{memo.id}/ack", headers=headers)
    clock.advance(timedelta(minutes=10))
    staff = admin_headers

    second = client.post(f"/api/v1/memos/{memo.id}/ack", json={"by": "別の人"}, headers=staff)

    assert second.status_code == 200
    assert second.headers["x-relay-ack"] == "already"
    assert second.json()["acknowledged"] == first.json()["acknowledged"]
    assert fresh(session, memo).acknowledged_via == "portal"


def test_another_company_memo_is_not_found_for_a_client_user(
    client: TestClient, session: Session, operator: User, company: Company
) -> None:
    other = make_company(session, slug="kaede-law", name="かえで法律事務所", hours=None)
    outsider = make_client_user(session, company_id=other.id, email="kaede@example.jp")
    memo = take_memo(session, operator)

    answer = client.post(
        f"/api/v1/memos/{memo.id}/ack", json={"by": "x"}, headers=make_token(session, outsider)
    )

    refused(answer, status=404, code="not_found")
    assert fresh(session, memo).acknowledged_at is None


@pytest.mark.parametrize("body", [None, {}, {"by": ""}, {"by": "   "}, {"by": None}])
def test_an_operator_must_say_who_at_the_company_confirmed(
    client: TestClient, session: Session, operator: User, company: Company, body: object
) -> None:
    memo = take_memo(session, operator)

    answer = client.post(
        f"/api/v1/memos/{memo.id}/ack", json=body, headers=make_token(session, operator)
    )

    body = refused(answer, status=422, code="missing")
    assert [error.field for error in body.errors] == ["by"]
    assert fresh(session, memo).acknowledged_at is None


@pytest.mark.parametrize("role", [Role.operator, Role.admin])
def test_staff_acknowledge_on_the_company_behalf_after_a_call(
    client: TestClient, session: Session, operator: User, company: Company, role: Role
) -> None:
    memo = take_memo(session, operator)
    user = operator if role == Role.operator else make_user(session, email="a@x.jp", role=role)

    answer = client.post(
        f"/api/v1/memos/{memo.id}/ack",
        json={"by": "佐藤 院長（電話で確認）"},
        headers=make_token(session, user),
    )

    assert answer.status_code == 200
    assert answer.headers["x-relay-ack"] == "first"
    assert answer.json()["acknowledged"]["by"] == "佐藤 院長（電話で確認）"
    assert answer.json()["acknowledged"]["via"] == "operator"
    acked = fresh(session, memo)
    assert (acked.status, acked.next_escalation_at) == (MemoStatus.acknowledged, None)


def test_unknown_memo_and_bad_bodies_are_4xx(
    client: TestClient, session: Session, operator: User, company: Company
) -> None:
    headers = make_token(session, operator)

    assert client.post("/api/v1/memos/nope/ack", json={"by": "x"}, headers=headers).status_code == (
        404
    )
    memo = take_memo(session, operator)
    url = f"/api/v1/memos/{memo.id}/ack"
    assert client.post(url, json={"by": "x", "extra": 1}, headers=headers).status_code == 422
    assert client.post(url, json={"by": "x" * 201}, headers=headers).status_code == 422
    assert client.post(url, content=b"{", headers=headers).status_code == 422
    assert client.post(url, json={"by": "x"}).status_code == 401
    assert fresh(session, memo).acknowledged_at is None


def test_a_cookie_session_needs_the_csrf_token(
    client: TestClient, session: Session, operator: User, company: Company, client_user: User
) -> None:
    memo = take_memo(session, operator)
    sign_in(client, client_user)
    url = f"/api/v1/memos/{memo.id}/ack"

    refused = client.post(url)

    assert refused.status_code == 403
    assert fresh(session, memo).acknowledged_at is None

    home = client.get("/portal")
    token = home.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    accepted = client.post(url, headers={"X-CSRF-Token": token})

    assert accepted.status_code == 200
    assert accepted.json()["acknowledged"]["by"] == "佐藤 院長"


def test_staff_acknowledging_for_the_company_are_recorded_beside_who_they_name(
    client: TestClient, session: Session, operator: User, company: Company, admin: User
) -> None:
    memo = take_memo(session, operator)

    answer = client.post(
        f"/api/v1/memos/{memo.id}/ack",
        json={"by": "佐藤 院長（電話で確認）"},
        headers=make_token(session, admin),
    )

    assert answer.status_code == 200, answer.text
    acknowledged = answer.json()["acknowledged"]
    assert (acknowledged["by"], acknowledged["via"]) == ("佐藤 院長（電話で確認）", "operator")
    assert acknowledged["recorded_by"] == (admin.display_name or admin.email)
    stored = fresh(session, memo)
    assert stored.acknowledged_by_user_id == admin.id
    [entry], _ = audit.list_entries(session=session, action="memo")
    assert (entry.actor, entry.action, entry.target) == (
        admin.email,
        "memo.acknowledged_for",
        f"memo:{memo.id}",
    )
    assert entry.company_id == company.id
    assert entry.detail == {"by": "佐藤 院長（電話で確認）", "via": "operator"}
    # A second acknowledgement changes nothing and records nothing.
    again = client.post(
        f"/api/v1/memos/{memo.id}/ack", json={"by": "別の人"}, headers=make_token(session, admin)
    )
    assert again.headers["x-relay-ack"] == "already"
    assert len(audit.list_entries(session=session, action="memo")[0]) == 1
