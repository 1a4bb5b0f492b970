"""Callbacks owed (operators) and the supervisor board (admins)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import service as audit
from service.auth.models import Role, User
from service.clock import ManualClock
from service.companies.models import Company
from service.dispatch.models import Delivery, DeliveryStatus
from service.escalation import tasks
from service.escalation.models import TaskOutcome, TaskStatus
from service.escalation.service import fire_due
from service.memos.models import Memo
from tests.dispatch.conftest import take_memo
from tests.factories import make_token, make_user
from tests.refusals import refused as refusal

JST = timezone(timedelta(hours=9))


@pytest.fixture
def callback_memo(session: Session, operator: User, company: Company, clock: ManualClock) -> Memo:
    """A memo nobody acknowledged for an hour: its callback step has fired."""
    memo = take_memo(session, operator)
    clock.advance(timedelta(hours=1))
    while fire_due(session=session, worker="w"):
        session.commit()
    session.commit()
    return memo


def staff(session: Session, email: str, role: Role) -> dict[str, str]:
    return make_token(session, make_user(session, email=email, role=role))


def test_callbacks_owed_show_company_memo_contact_and_number(
    client: TestClient, session: Session, callback_memo: Memo
) -> None:
    headers = staff(session, "op2@relay.example", Role.operator)
    [task] = client.get("/api/v1/tasks", headers=headers).json()["items"]
    assert (task["memo_id"], task["client"], task["contact"], task["phone"], task["status"]) == (
        callback_memo.id,
        "sakura-dental",
        "director",
        "+819012345678",
        "open",
    )
    assert task["subject"] == callback_memo.subject
    assert task["overdue"] is True
    assert task["phone_display"] == "090-1234-5678"


def test_only_one_of_two_operators_takes_a_callback(
    client: TestClient, session: Session, callback_memo: Memo
) -> None:
    first = staff(session, "a@relay.example", Role.operator)
    second = staff(session, "b@relay.example", Role.operator)
    task_id = client.get("/api/v1/tasks", headers=first).json()["items"][0]["id"]

    answers: list[int] = []
    if session.get_bind().dialect.name == "postgresql":
        barrier = threading.Barrier(2)

        def take(headers: dict[str, str]) -> None:
            barrier.wait()
            answers.append(
                client.post(f"/api/v1/tasks/{task_id}/take", headers=headers).status_code
            )

        threads = [threading.Thread(target=take, args=(h,)) for h in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for headers in (first, second):
            answers.append(
                client.post(f"/api/v1/tasks/{task_id}/take", headers=headers).status_code
            )
    assert sorted(answers) == [200, 409]


def test_no_answer_puts_the_callback_back_for_later(
    client: TestClient, session: Session, callback_memo: Memo, clock: ManualClock
) -> None:
    headers = staff(session, "op3@relay.example", Role.operator)
    task_id = client.get("/api/v1/tasks", headers=headers).json()["items"][0]["id"]
    assert (
        client.post(
            f"/api/v1/tasks/{task_id}/outcome",
            json={"outcome": "no_answer", "retry_in_minutes": 30},
            headers=headers,
        ).status_code
        == 409
    )
    client.post(f"/api/v1/tasks/{task_id}/take", headers=headers)
    no_retry = client.post(
        f"/api/v1/tasks/{task_id}/outcome", json={"outcome": "no_answer"}, headers=headers
    )
    assert no_retry.status_code == 422

    later = client.post(
        f"/api/v1/tasks/{task_id}/outcome",
        json={"outcome": "no_answer", "note": "留守番電話", "retry_in_minutes": 30},
        headers=headers,
    ).json()
    assert (later["status"], later["attempts"], later["taken_by"], later["overdue"]) == (
        "open",
        1,
        None,
        False,
    )
    assert later["due_at"] == (clock.now() + timedelta(minutes=30)).isoformat()


@pytest.mark.parametrize(
    ("retry_at", "code"),
    [
        ("9999-12-31T23:59:59-14:00", "out_of_range"),
        ("0001-01-01T00:00:00+14:00", "out_of_range"),
        ("2026-01-05T12:00:00", "not_a_time"),
        ("not a time", "not_a_time"),
    ],
)
def test_a_retry_time_without_a_zone_or_past_the_calendar_is_a_422(
    client: TestClient, session: Session, callback_memo: Memo, retry_at: str, code: str
) -> None:
    headers = staff(session, "op5@relay.example", Role.operator)
    task_id = client.get("/api/v1/tasks", headers=headers).json()["items"][0]["id"]
    client.post(f"/api/v1/tasks/{task_id}/take", headers=headers)

    refused = client.post(
        f"/api/v1/tasks/{task_id}/outcome",
        json={"outcome": "no_answer", "retry_at": retry_at},
        headers=headers,
    )

    body = refusal(refused, status=422, code=code)
    [problem] = body.errors
    assert problem.field == "retry_at"
    # The task is still the operator's, untouched.
    [task] = client.get("/api/v1/tasks", headers=headers).json()["items"]
    assert (task["status"], task["attempts"]) == ("taken", 0)


def test_a_retry_time_in_another_zone_is_kept_in_utc(
    client: TestClient, session: Session, callback_memo: Memo, clock: ManualClock
) -> None:
    headers = staff(session, "op6@relay.example", Role.operator)
    task_id = client.get("/api/v1/tasks", headers=headers).json()["items"][0]["id"]
    client.post(f"/api/v1/tasks/{task_id}/take", headers=headers)
    later = clock.now() + timedelta(hours=2)

    answer = client.post(
        f"/api/v1/tasks/{task_id}/outcome",
        json={"outcome": "no_answer", "retry_at": later.astimezone(JST).isoformat()},
        headers=headers,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["due_at"] == later.isoformat()


def test_the_domain_refuses_a_retry_time_it_cannot_place(
    session: Session, callback_memo: Memo, operator: User
) -> None:
    [row] = tasks.list_tasks(session=session, statuses=(TaskStatus.open,))
    tasks.take_task(session=session, task_id=row.task.id, operator_id=operator.id)
    beyond = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))

    for retry_at, says in ((beyond, "past the end"), (beyond.replace(tzinfo=None), "zone")):
        with pytest.raises(tasks.TaskIncomplete, match=says):
            tasks.record_callback(
                session=session,
                task_id=row.task.id,
                operator_id=operator.id,
                outcome=TaskOutcome.no_answer,
                retry_at=retry_at,
            )
        session.rollback()
        tasks.take_task(session=session, task_id=row.task.id, operator_id=operator.id)


def test_reaching_the_company_acknowledges_the_memo(
    client: TestClient, session: Session, callback_memo: Memo
) -> None:
    headers = staff(session, "op4@relay.example", Role.operator)
    task_id = client.get("/api/v1/tasks", headers=headers).json()["items"][0]["id"]
    client.post(f"/api/v1/tasks/{task_id}/take", headers=headers)
    missing = client.post(
        f"/api/v1/tasks/{task_id}/outcome", json={"outcome": "acknowledged"}, headers=headers
    )
    assert missing.status_code == 422
    done = client.post(
        f"/api/v1/tasks/{task_id}/outcome",
        json={"outcome": "acknowledged", "confirmed_by": "佐藤 院長"},
        headers=headers,
    )
    assert done.json()["status"] == "done"
    memo = client.get(f"/api/v1/memos/{callback_memo.id}", headers=headers).json()
    assert memo["status"] == "acknowledged"
    assert (memo["acknowledged"]["by"], memo["acknowledged"]["via"]) == ("佐藤 院長", "operator")
    assert client.get("/api/v1/tasks", headers=headers).json()["items"] == []
    # The operator who made the call is kept beside the person they reached, and audited.
    assert memo["acknowledged"]["recorded_by"] == "op4"
    [entry], _ = audit.list_entries(session=session, action="memo")
    assert (entry.actor, entry.target) == ("op4@relay.example", f"memo:{callback_memo.id}")
    assert entry.detail["callback"] == task_id


def test_board_shows_what_is_late_to_admins_only(
    client: TestClient, session: Session, callback_memo: Memo, clock: ManualClock
) -> None:
    failed = Delivery(
        memo_id=callback_memo.id,
        contact_key="director",
        channel="sms",  # type: ignore[arg-type]
        to="+819012345678",
        reason="routing",  # type: ignore[arg-type]
        status=DeliveryStatus.failed,
        error="the provider could not deliver it (30003)",
        error_code="30003",
        due_at=clock.now(),
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(failed)
    session.commit()
    admin = staff(session, "boss@relay.example", Role.admin)

    found = client.get("/api/v1/board", headers=admin).json()
    [waiting] = found["waiting"]
    assert (waiting["memo_id"], waiting["age_seconds"]) == (callback_memo.id, 3600)
    assert [f["error_code"] for f in found["failed_deliveries"]] == ["30003"]
    assert [e["step"] for e in found["escalations"]] == [1, 0]
    assert [c["memo_id"] for c in found["overdue_callbacks"]] == [callback_memo.id]
    # Numbers as the company's country writes them, beside the E.164 the API keeps.
    assert [f["to_display"] for f in found["failed_deliveries"]] == ["090-1234-5678"]
    assert [c["phone_display"] for c in found["overdue_callbacks"]] == ["090-1234-5678"]

    operator = staff(session, "op5@relay.example", Role.operator)
    assert client.get("/api/v1/board", headers=operator).status_code == 403
    assert client.get("/api/v1/board").status_code == 401
