"""The OpenAPI description and Swagger UI, served from this site: staff only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.auth.models import User
from tests.factories import make_token
from tests.people import sign_in


def test_nobody_signed_in_reads_the_api_description(client: TestClient) -> None:
    schema = client.get("/openapi.json")
    assert schema.status_code == 401
    assert "paths" not in schema.json()

    answer = client.get("/docs", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fdocs"
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 401

    assert client.get("/docs/oauth2-redirect").status_code == 404
    assert client.get("/redoc").status_code == 404


def test_a_client_company_user_is_refused(
    client: TestClient, client_user: User, client_headers: dict[str, str]
) -> None:
    assert client.get("/openapi.json", headers=client_headers).status_code == 403

    sign_in(client, client_user)
    assert client.get("/docs").status_code == 403
    assert client.get("/docs/assets/swagger-ui.css").status_code == 403


@pytest.mark.parametrize("person", ["operator", "admin"])
def test_staff_read_the_description_and_swagger_ui(
    client: TestClient, session: Session, person: str, request: pytest.FixtureRequest
) -> None:
    user: User = request.getfixturevalue(person)
    schema = client.get("/openapi.json", headers=make_token(session, user))
    assert schema.status_code == 200
    assert "/api/v1/memos" in schema.json()["paths"]

    sign_in(client, user)
    swagger = client.get("/docs")
    assert swagger.status_code == 200
    assert "SwaggerUIBundle" in swagger.text
    assert "url: '/openapi.json'" in swagger.text
    assert "cdn." not in swagger.text
    for asset in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', swagger.text):
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert answer.content
    assert client.get("/redoc").status_code == 404


def test_only_the_files_swagger_ui_loads_are_served(client: TestClient, operator: User) -> None:
    sign_in(client, operator)
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in script.text
    assert client.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    for name in ("redoc.standalone.js", "core.py", "__init__.py", "..%2F__init__.py"):
        assert client.get(f"/docs/assets/{name}").status_code == 404, name


def test_swagger_ui_runs_under_the_strict_policy(client: TestClient, operator: User) -> None:
    sign_in(client, operator)
    page = client.get("/docs")
    policy = page.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([A-Za-z0-9_-]+)'", policy)
    assert nonce is not None
    # Its starting script carries the nonce; everything else comes from this site.
    inline = re.findall(r"<script( [^>]*)?>\s*const ui", page.text)
    assert inline == [f' nonce="{nonce.group(1)}"']
    console_policy = client.get("/console").headers["content-security-policy"]
    console_nonce = re.search(r"'nonce-[^']+'", console_policy)
    assert console_nonce is not None
    assert policy == console_policy.replace(console_nonce.group(0), nonce.group(0))
    assert "https:" not in policy
    assert "'unsafe-inline'" not in policy
