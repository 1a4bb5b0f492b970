"""`/admin/audit`: the audit trail as a page, for admins only."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import service as audit
from service.audit.service import Action, Actor
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from tests.i18n.japanese import japanese_in
from tests.people import sign_in


def record_some(session: Session, clock: ManualClock, company: Company) -> None:
    audit.record(
        session=session,
        actor=Actor(name="mallory@example.com", ip="203.0.113.9"),
        action=Action.sign_in_failed,
        detail={"reason": "password"},
    )
    clock.advance(timedelta(minutes=5))
    audit.record(
        session=session,
        actor=Actor(name="kato@example.jp"),
        action=Action.company_saved,
        target=f"company:{company.slug}",
        company_id=company.id,
        detail={"version": "3"},
    )
    session.commit()


def test_an_admin_reads_the_trail_newest_first(
    client: TestClient, session: Session, clock: ManualClock, company: Company, admin: User
) -> None:
    record_some(session, clock, company)
    sign_in(client, admin)

    page = client.get("/admin/audit", headers={"Accept-Language": "en"})

    assert page.status_code == 200
    table = page.text[page.text.index("<tbody>") :]
    assert table.index("company.saved") < table.index("sign_in_failed")
    assert "203.0.113.9" in page.text
    assert "version: 3" in page.text
    assert 'aria-current="page"' in page.text
    assert not japanese_in(page.text, allowed=(company.name,))


def test_filters_narrow_the_trail_by_company_and_person(
    client: TestClient, session: Session, clock: ManualClock, company: Company, admin: User
) -> None:
    record_some(session, clock, company)
    sign_in(client, admin)

    def table(params: dict[str, str]) -> str:
        text = client.get("/admin/audit", params=params).text
        return text[text.index("<tbody>") :]

    by_company = table({"company": company.slug})
    by_person = table({"actor": "mallory@example.com"})

    assert "company.saved" in by_company
    assert "mallory@example.com" not in by_company
    assert "sign_in_failed" in by_person
    assert "kato@example.jp" not in by_person


def test_a_cursor_no_page_gave_is_said_on_the_page(
    client: TestClient, session: Session, admin: User
) -> None:
    sign_in(client, admin)

    page = client.get("/admin/audit", params={"cursor": "%%%"}, headers={"Accept-Language": "en"})

    assert page.status_code == 200
    assert "This cursor is not one a page gave." in page.text


def test_operators_and_client_users_are_turned_away(
    client: TestClient, operator: User, client_user: User
) -> None:
    assert client.get("/admin/audit", follow_redirects=False).status_code == 303
    sign_in(client, operator)
    assert client.get("/admin/audit").status_code == 403
    client.cookies.clear()
    sign_in(client, client_user)
    assert client.get("/admin/audit").status_code == 403


def test_a_date_outside_the_calendar_is_said_beside_the_trail_not_a_500(
    client: TestClient, admin: User
) -> None:
    sign_in(client, admin)

    page = client.get(
        "/admin/audit",
        params={"since": "9999-12-31", "until": "x"},
        headers={"Accept-Language": "en"},
    )

    assert page.status_code == 200
    assert "Enter a date and time." in page.text
