"""`GET /api/v1/audit`: the trail for admins, nobody else."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import service as audit
from service.audit.service import Action, Actor
from service.clock import ManualClock
from service.companies.models import Company
from tests.refusals import refused


def test_admins_read_the_trail_newest_first_with_the_companys_slug(
    client: TestClient,
    session: Session,
    clock: ManualClock,
    company: Company,
    admin_headers: dict[str, str],
) -> None:
    audit.record(session=session, actor=Actor(name="kato@example.jp"), action=Action.sign_in)
    clock.advance(timedelta(minutes=1))
    audit.record(
        session=session,
        actor=Actor(name="kato@example.jp"),
        action=Action.company_saved,
        target=f"company:{company.slug}",
        company_id=company.id,
        detail={"version": "2"},
    )
    session.commit()

    response = client.get("/api/v1/audit", headers=admin_headers)

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["action"] for item in items[:2]] == ["company.saved", "sign_in"]
    assert items[0]["company"] == company.slug
    assert items[0]["detail"] == {"version": "2"}
    only = client.get(
        "/api/v1/audit", params={"company": company.slug}, headers=admin_headers
    ).json()["items"]
    assert [item["action"] for item in only] == ["company.saved"]


def test_operators_and_client_users_may_not_read_it(
    client: TestClient, operator_headers: dict[str, str], client_headers: dict[str, str]
) -> None:
    refused(client.get("/api/v1/audit", headers=operator_headers), status=403, code="forbidden")
    refused(client.get("/api/v1/audit", headers=client_headers), status=403, code="forbidden")
    refused(client.get("/api/v1/audit"), status=401, code="unauthenticated")


def test_an_unknown_company_or_cursor_is_refused(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    refused(
        client.get("/api/v1/audit", params={"company": "nobody"}, headers=admin_headers),
        status=422,
        code="unknown_client",
    )
    refused(
        client.get("/api/v1/audit", params={"cursor": "%%%"}, headers=admin_headers),
        status=400,
        code="bad_cursor",
    )
