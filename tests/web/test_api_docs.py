"""The OpenAPI description, Swagger UI and ReDoc: staff only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.auth.models import Role
from tests.factories import login, make_bare_company, make_client_user, make_token, make_user

PASSWORD = "correct horse battery"


def test_nobody_signed_in_reads_the_api_description(client: TestClient) -> None:
    schema = client.get("/openapi.json")
    assert schema.status_code == 401
    assert "paths" not in schema.json()

    for page in ("/docs", "/redoc"):
        answer = client.get(page, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/login?next=%2F{page[1:]}"

    assert client.get("/docs/oauth2-redirect").status_code == 404


def test_a_client_company_user_is_refused(client: TestClient, session: Session) -> None:
    company = make_bare_company(session)
    user = make_client_user(session, company_id=company.id)
    headers = make_token(session, user)
    assert client.get("/openapi.json", headers=headers).status_code == 403

    assert login(client, user.email, PASSWORD).status_code == 303
    assert client.get("/docs").status_code == 403
    assert client.get("/redoc").status_code == 403


@pytest.mark.parametrize("role", [Role.operator, Role.admin])
def test_staff_read_the_description_and_both_pages(
    client: TestClient, session: Session, role: Role
) -> None:
    user = make_user(session, email=f"{role.value}@relay.example", role=role)
    schema = client.get("/openapi.json", headers=make_token(session, user))
    assert schema.status_code == 200
    assert "/api/v1/memos" in schema.json()["paths"]

    assert login(client, user.email, PASSWORD).status_code == 303
    swagger = client.get("/docs")
    assert swagger.status_code == 200
    assert "SwaggerUIBundle" in swagger.text
    assert "url: '/openapi.json'" in swagger.text
    assert client.get("/redoc").status_code == 200


def test_swagger_ui_runs_under_a_policy_made_for_it(client: TestClient, session: Session) -> None:
    user = make_user(session, email="op@relay.example", role=Role.operator)
    assert login(client, user.email, PASSWORD).status_code == 303
    page = client.get("/docs")
    policy = page.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([A-Za-z0-9_-]+)'", policy)
    assert nonce is not None
    # Its starting script carries the nonce; its bundle comes from the CDN the policy names.
    inline = re.findall(r"<script( [^>]*)?>\s*const ui", page.text)
    assert inline == [f' nonce="{nonce.group(1)}"']
    assert "https://cdn.jsdelivr.net" in policy
    assert "frame-ancestors 'none'" in policy
    # Nowhere else.
    assert "cdn.jsdelivr.net" not in client.get("/console").headers["content-security-policy"]
