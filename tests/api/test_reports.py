"""The reports API: who sees which company's figures, the statement for admins, refusals."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit.models import AuditEntry
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.reports.schema import Report
from tests.factories import make_english_company
from tests.refusals import refused
from tests.reports.records import make_call, make_flag, make_memo

CALLER = "+819011110001"
# Wednesday 11 November 2026, 10:00 in Tokyo.
TAKEN = datetime(2026, 11, 11, 1, tzinfo=UTC)


@pytest.fixture
def calls(
    session: Session, clock: ManualClock, company: Company, operator: User
) -> tuple[Company, Company]:
    """Two calls and a memo of さくら歯科 from a flagged caller, a call of Maple Law."""
    clock.set(datetime(2026, 11, 20, tzinfo=UTC))
    for minutes in (0, 30):
        make_call(
            session,
            company=company,
            caller=CALLER,
            started=TAKEN.replace(minute=minutes),
            answered_by=operator.id,
        )
    make_memo(
        session,
        company=company,
        operator_id=operator.id,
        taken=TAKEN,
        category="complaint",
        urgency="normal",
        caller_phone=CALLER,
    )
    make_flag(session, phone=CALLER, flagged_by=operator.id, at=TAKEN)
    maple = make_english_company(session)
    make_call(session, company=maple, caller=CALLER, started=TAKEN)
    session.commit()
    return company, maple


def test_staff_read_the_bureau_or_one_company(
    client: TestClient, operator_headers: dict[str, str], calls: tuple[Company, Company]
) -> None:
    bureau = client.get(
        "/api/v1/reports",
        params={"period": "week", "start": "2026-11-12"},
        headers=operator_headers,
    )
    one = client.get(
        "/api/v1/reports", params={"company": "sakura-dental"}, headers=operator_headers
    )

    assert bureau.status_code == 200, bureau.text
    report = Report.model_validate(bureau.json())
    assert (report.company, report.start.isoformat(), report.calls, report.memos) == (
        None,
        "2026-11-09",
        3,
        1,
    )
    assert report.flagged_callers[0].calls == 3
    # Without a start: this month, in the company's zone.
    company = Report.model_validate(one.json())
    assert (company.company, company.period, company.start.isoformat()) == (
        "sakura-dental",
        "month",
        "2026-11-01",
    )
    assert (company.calls, company.memos, company.repeat_callers[0].flagged) == (2, 1, True)


def test_a_client_user_sees_only_their_company_and_no_flags(
    client: TestClient, client_headers: dict[str, str], calls: tuple[Company, Company]
) -> None:
    response = client.get(
        "/api/v1/reports", params={"company": "maple-law"}, headers=client_headers
    )

    report = Report.model_validate(response.json())
    assert (report.company, report.calls) == ("sakura-dental", 2)
    assert report.flagged_callers == []
    assert report.repeat_callers[0].flagged is False


def test_refusals(
    client: TestClient, operator_headers: dict[str, str], calls: tuple[Company, Company]
) -> None:
    def ask(**params: str) -> httpx.Response:
        return client.get("/api/v1/reports", params=params, headers=operator_headers)

    refused(client.get("/api/v1/reports"), status=401, code="unauthenticated")
    refused(ask(company="nobody"), status=404, code="not_found")
    refused(ask(period="year"), status=422)
    refused(ask(start="2026-02-30"), status=422)
    refused(ask(start="9999-12-31", period="month"), status=422, code="out_of_range")
    refused(ask(start="0001-01-01", period="day"), status=422, code="out_of_range")


def test_admins_download_the_statement_audited(
    client: TestClient,
    session: Session,
    admin_headers: dict[str, str],
    calls: tuple[Company, Company],
) -> None:
    everyone = client.get(
        "/api/v1/reports/statement", params={"month": "2026-11"}, headers=admin_headers
    )
    one = client.get(
        "/api/v1/reports/statement",
        params={"month": "2026-11", "company": "sakura-dental"},
        headers=admin_headers,
    )

    assert everyone.status_code == 200, everyone.text
    assert everyone.headers["content-type"].startswith("text/csv")
    assert everyone.content.startswith("\ufeff".encode())
    assert 'filename="relay-statement-2026-11-all.csv"' in everyone.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(everyone.content.decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == ["maple-law", "sakura-dental"]
    assert rows[2][4:7] == ["2", "2", "1"]
    assert len(list(csv.reader(io.StringIO(one.content.decode("utf-8-sig"))))) == 2
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "export")).all()
    assert sorted(entry.target for entry in entries) == ["statement:2026-11"] * 2
    assert {entry.detail["scope"] for entry in entries} == {"bureau", "sakura-dental"}


def test_the_statement_is_for_admins_and_a_real_month(
    client: TestClient,
    admin_headers: dict[str, str],
    operator_headers: dict[str, str],
    client_headers: dict[str, str],
) -> None:
    path = "/api/v1/reports/statement"
    month = {"month": "2026-11"}
    refused(client.get(path, params=month, headers=operator_headers), status=403, code="forbidden")
    refused(client.get(path, params=month, headers=client_headers), status=403, code="forbidden")
    refused(client.get(path, params={"month": "2026-13"}, headers=admin_headers), status=422)
    refused(client.get(path, headers=admin_headers), status=422)
    for before_2000 in ("1999-12", "0000-01"):
        refused(
            client.get(path, params={"month": before_2000}, headers=admin_headers),
            status=422,
            code="out_of_range",
        )
    refused(
        client.get(path, params={**month, "company": "nobody"}, headers=admin_headers),
        status=404,
        code="not_found",
    )
