"""POST /api/v1/memos/{id}/resolution: how the company handled a memo (CONTRACT §9)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import service as audit
from service.auth.models import Role, User
from service.clock import ManualClock
from service.companies.models import Company
from service.memos.models import Memo
from service.memos.resolutions import resolutions_of
from tests.dispatch.conftest import take_memo
from tests.factories import make_client_user, make_company, make_token, make_user
from tests.refusals import refused

HANDLED = {
    "response": "院長から患者様へお電話し、お詫びしました。",
    "cause": "受付での予約入力漏れ",
    "result": "翌日の予約をお取りし、ご了承いただきました。",
    "resolved": True,
}


def fresh(session: Session, memo: Memo) -> Memo:
    found = session.get(Memo, memo.id, populate_existing=True)
    assert found is not None
    session.commit()
    return found


def resolve(client: TestClient, memo: Memo, headers: dict[str, str], **changes: object):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/memos/{memo.id}/resolution", json={**HANDLED, **changes}, headers=headers
    )


def test_a_client_user_resolves_its_own_complaint_and_gets_the_memo(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    client_user: User,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)
    headers = make_token(session, client_user)
    clock.advance(timedelta(minutes=5))
    assert client.post(f"/api/v1/memos/{memo.id}/ack", headers=headers).status_code == 200
    clock.advance(timedelta(hours=2))

    answer = resolve(client, memo, headers)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == memo.id
    assert body["status"] == "acknowledged"
    assert body["resolution"] == {
        "response": HANDLED["response"],
        "cause": HANDLED["cause"],
        "result": HANDLED["result"],
        "resolved": True,
        "at": (memo.created_at + timedelta(hours=2, minutes=5)).isoformat(),
        "by": "佐藤 院長",
    }
    assert body["follow_up_due"] is None
    assert body["resolved_at"] == body["resolution"]["at"]
    assert body["time_to_acknowledge_seconds"] == 5 * 60
    assert body["time_to_resolve_seconds"] == (2 * 60 + 5) * 60
    # Read back, the memo says the same.
    again = client.get(f"/api/v1/memos/{memo.id}", headers=headers).json()
    assert again["resolution"] == body["resolution"]
    [entry], _ = audit.list_entries(session=session, action="memo.resolved")
    assert (entry.actor, entry.target, entry.company_id) == (
        client_user.email,
        f"memo:{memo.id}",
        company.id,
    )
    assert entry.detail == {"by": "佐藤 院長", "via": "portal", "resolved": "yes"}


def test_each_call_is_kept_and_the_latest_is_returned(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    client_user: User,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)
    headers = make_token(session, client_user)
    first = resolve(client, memo, headers, resolved=False, result="")
    assert first.json()["resolution"]["resolved"] is False
    assert first.json()["resolved_at"] is None
    clock.advance(timedelta(days=1))

    second = resolve(client, memo, headers, result="ご了承いただいた")

    assert second.json()["resolution"]["result"] == "ご了承いただいた"
    assert second.json()["resolution"]["resolved"] is True
    kept = resolutions_of(session=session, memo_id=memo.id)
    session.commit()
    assert [(r.resolved, r.result) for r in kept] == [(False, ""), (True, "ご了承いただいた")]
    assert [r.number for r in kept] == [1, 2]
    trail = client.get(f"/api/v1/memos/{memo.id}/trail", headers=headers).json()
    assert [(r["resolved"], r["via"], r["by"]) for r in trail["resolutions"]] == [
        (False, "portal", "佐藤 院長"),
        (True, "portal", "佐藤 院長"),
    ]
    assert len(audit.list_entries(session=session, action="memo.resolved")[0]) == 2


def test_of_two_accounts_given_at_the_same_moment_the_later_is_the_latest(
    client: TestClient, session: Session, operator: User, company: Company, client_user: User
) -> None:
    memo = take_memo(session, operator)
    headers = make_token(session, client_user)
    resolve(client, memo, headers, result="一度目")

    answer = resolve(client, memo, headers, result="二度目")

    assert answer.json()["resolution"]["result"] == "二度目"
    assert answer.json()["resolution"]["at"] == answer.json()["resolved_at"]


def test_resolving_an_unacknowledged_memo_acknowledges_it_by_the_same_path(
    client: TestClient, session: Session, operator: User, company: Company, client_user: User
) -> None:
    memo = take_memo(session, operator)

    body = resolve(client, memo, make_token(session, client_user)).json()

    assert body["status"] == "acknowledged"
    assert body["acknowledged"]["via"] == "portal"
    assert body["acknowledged"]["by"] == "佐藤 院長"
    assert body["time_to_acknowledge_seconds"] == 0


@pytest.mark.parametrize("role", [Role.operator, Role.admin])
def test_staff_record_it_for_the_company_and_it_is_audited_as_such(
    client: TestClient, session: Session, operator: User, company: Company, role: Role
) -> None:
    memo = take_memo(session, operator)
    staff = (
        operator if role == Role.operator else make_user(session, email="a@r.example", role=role)
    )

    answer = resolve(client, memo, make_token(session, staff), by="佐藤 院長（電話で）")

    assert answer.status_code == 200, answer.text
    assert answer.json()["resolution"]["by"] == "佐藤 院長（電話で）"
    entries, _ = audit.list_entries(session=session, action="memo.resolved")
    assert [(e.actor, e.detail["via"]) for e in entries] == [(staff.email, "operator")]


def test_another_company_memo_is_not_found_for_a_client_user(
    client: TestClient, session: Session, operator: User, company: Company
) -> None:
    other = make_company(session, slug="kaede-law", name="かえで法律事務所", hours=None)
    outsider = make_client_user(session, company_id=other.id, email="kaede@example.jp")
    memo = take_memo(session, operator)

    refused(resolve(client, memo, make_token(session, outsider)), status=404, code="not_found")

    assert resolutions_of(session=session, memo_id=memo.id) == []
    assert fresh(session, memo).acknowledged_at is None


def test_signed_out_is_refused(
    client: TestClient, session: Session, operator: User, company: Company
) -> None:
    memo = take_memo(session, operator)

    refused(resolve(client, memo, {}), status=401)


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"response": ""}, "response", "missing"),
        ({"response": "   "}, "response", "missing"),
        ({"cause": "あ" * 2001}, "cause", "too_long"),
        ({"resolved": "maybe"}, "resolved", None),
        ({"extra": "x"}, "extra", None),
    ],
)
def test_a_bad_resolution_is_refused_in_the_one_shape(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    client_user: User,
    change: dict[str, object],
    field: str,
    code: str | None,
) -> None:
    memo = take_memo(session, operator)

    body = refused(resolve(client, memo, make_token(session, client_user), **change), status=422)

    assert [error.field for error in body.errors] == [field]
    if code is not None:
        assert body.errors[0].code == code
    assert resolutions_of(session=session, memo_id=memo.id) == []


def test_texts_are_stripped_and_composed(
    client: TestClient, session: Session, operator: User, company: Company, client_user: User
) -> None:
    memo = take_memo(session, operator)

    # は + combining voiced mark, as some systems send it, is stored as ば.
    body = resolve(
        client, memo, make_token(session, client_user), response="  \u306f\u3099か  "
    ).json()

    assert body["resolution"]["response"] == "\u3070か"
    assert body["resolution"]["cause"] == HANDLED["cause"]
