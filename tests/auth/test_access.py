"""Who gets through the shared dependencies: API tokens, sessions and roles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.auth.models import Role
from service.http_deps import CurrentAdmin, CurrentStaff, CurrentUser
from tests.factories import login, make_bare_company, make_token, make_user

PASSWORD = "correct horse battery"


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    """The app plus three routes guarded by the shared dependencies."""

    @app.get("/test/me")
    def me(user: CurrentUser) -> dict[str, str]:
        return {"email": user.email, "role": user.role}

    @app.get("/test/staff")
    def staff(user: CurrentStaff) -> dict[str, str]:
        return {"email": user.email}

    @app.get("/test/admin")
    def admin(user: CurrentAdmin) -> dict[str, str]:
        return {"email": user.email}

    with TestClient(app) as test_client:
        yield test_client


def test_bearer_token_authenticates(api: TestClient, session: Session) -> None:
    headers = make_token(session, make_user(session, email="api@example.jp", password=None))

    response = api.get("/test/me", headers=headers)

    assert response.status_code == 200
    assert response.json() == {"email": "api@example.jp", "role": "operator"}


@pytest.mark.parametrize("header", ["Bearer rly_wrong", "bearer nonsense"])
def test_a_wrong_bearer_token_is_401(api: TestClient, header: str) -> None:
    response = api.get("/test/me", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.json()["code"] == "bad_token"


def test_no_credentials_is_401(api: TestClient) -> None:
    response = api.get("/test/me")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_deactivated_users_token_stops_working(api: TestClient, session: Session) -> None:
    user = make_user(session, email="gone@example.jp")
    headers = make_token(session, user)
    user.active = False
    session.add(user)
    session.commit()

    assert api.get("/test/me", headers=headers).status_code == 401


def test_the_session_cookie_authenticates_the_api_too(api: TestClient, session: Session) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    login(api, "kato@example.jp", PASSWORD)

    assert api.get("/test/me").json()["email"] == "kato@example.jp"


@pytest.mark.parametrize(
    ("role", "staff", "admin"),
    [(Role.admin, 200, 200), (Role.operator, 200, 403), (Role.client, 403, 403)],
)
def test_roles_decide_who_gets_through(
    api: TestClient, session: Session, role: Role, staff: int, admin: int
) -> None:
    company_id = make_bare_company(session).id if role == Role.client else None
    user = make_user(session, email="who@example.jp", role=role, company_id=company_id)
    headers = make_token(session, user)

    assert api.get("/test/staff", headers=headers).status_code == staff
    assert api.get("/test/admin", headers=headers).status_code == admin
    assert api.get("/test/me", headers=headers).status_code == 200
