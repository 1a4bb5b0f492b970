"""Sending a company's recap now, as a test: admins only, to whoever opted in, audited."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from service.audit.models import AuditEntry
from service.clock import ManualClock
from service.companies.models import Company
from service.dispatch.models import Delivery, DeliveryReason
from service.reports.recap import DailyRecap
from tests.factories import make_company
from tests.reports.test_recap import recap_document

URL = "/api/v1/clients/sakura-dental/recap"


def test_an_admin_sends_the_recap_now_to_everyone_opted_in(
    client: TestClient,
    session: Session,
    clock: ManualClock,
    admin_headers: dict[str, str],
) -> None:
    company = make_company(session, **recap_document())

    response = client.post(URL, headers=admin_headers)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["day"], answer["memos"], answer["still_open"]) == ("2026-01-05", 0, 0)
    assert [(d["contact"], d["channel"], d["to"]) for d in answer["deliveries"]] == [
        ("director", "email", "sato@example.jp"),
        ("ops", "slack", "C0123ABCD"),
    ]
    rows = session.exec(select(Delivery).where(Delivery.reason == DeliveryReason.recap)).all()
    assert {row.id for row in rows} == {d["id"] for d in answer["deliveries"]}
    [recap] = session.exec(select(DailyRecap)).all()
    assert (recap.id, recap.test, recap.day, recap.requested_by) == (
        answer["recap_id"],
        True,
        date(2026, 1, 5),
        "admin@relay.example",
    )
    [entry] = session.exec(
        select(AuditEntry).where(col(AuditEntry.action) == "company.test_sent")
    ).all()
    assert (entry.actor, entry.company_id, entry.detail["recap_id"]) == (
        "admin@relay.example",
        company.id,
        recap.id,
    )


def test_nobody_opted_in_is_refused_with_the_error_shape(
    client: TestClient, session: Session, company: Company, admin_headers: dict[str, str]
) -> None:
    response = client.post(URL, headers=admin_headers)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "no_recap_recipients"
    assert session.exec(select(DailyRecap)).all() == []


def test_only_admins_may_send_it_and_only_to_a_company_that_exists(
    client: TestClient,
    session: Session,
    operator_headers: dict[str, str],
    client_headers: dict[str, str],
    admin_headers: dict[str, str],
) -> None:
    make_company(session, **recap_document())

    assert client.post(URL, headers=operator_headers).status_code == 403
    assert client.post(URL, headers=client_headers).status_code == 403
    missing = client.post("/api/v1/clients/nowhere/recap", headers=admin_headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert session.exec(select(DailyRecap)).all() == []
