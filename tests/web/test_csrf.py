"""`CsrfProtected` on a route of the kind other page modules add."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import FastAPI, Form
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.auth.models import User
from service.http_deps import CurrentUser, SessionDep
from service.web.csrf import CsrfProtected
from tests.factories import csrf_from, login, make_token, make_user
from tests.refusals import refused

PASSWORD = "correct horse battery"


@pytest.fixture
def rename_app(app: FastAPI) -> FastAPI:
    """The app plus a form route that changes the signed-in user's display name."""

    @app.post("/test/rename")
    def rename(
        user: CurrentUser,
        session: SessionDep,
        _: CsrfProtected,
        display_name: Annotated[str, Form()],
    ) -> dict[str, str]:
        user.display_name = display_name
        session.add(user)
        return {"display_name": display_name}

    @app.post("/test/ping")
    def ping(user: CurrentUser, _: CsrfProtected) -> dict[str, str]:
        return {"email": user.email}

    return app


@pytest.fixture
def browser(rename_app: FastAPI, session: Session) -> Iterator[TestClient]:
    """A signed-in browser."""
    make_user(session, email="kato@example.jp", password=PASSWORD)
    with TestClient(rename_app) as test_client:
        assert login(test_client, "kato@example.jp", PASSWORD).status_code == 303
        yield test_client


def _name(session: Session) -> str:
    session.expire_all()
    user = session.exec(select(User).where(User.email == "kato@example.jp")).one()
    session.commit()
    return user.display_name


def test_form_with_the_session_token_passes(browser: TestClient, session: Session) -> None:
    token = csrf_from(browser.get("/").text)

    response = browser.post("/test/rename", data={"display_name": "加藤", "csrf_token": token})

    assert response.status_code == 200
    assert _name(session) == "加藤"


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_form_without_the_right_token_is_refused_and_changes_nothing(
    browser: TestClient, session: Session, token: str | None
) -> None:
    data = {"display_name": "偽物"}
    if token is not None:
        data["csrf_token"] = token

    response = browser.post("/test/rename", data=data)

    assert response.status_code == 403
    refused(response, status=403, code="csrf")
    assert _name(session) == "kato"


def test_fetch_may_send_the_token_as_a_header(browser: TestClient) -> None:
    token = csrf_from(browser.get("/").text)

    assert browser.post("/test/ping", headers={"X-CSRF-Token": token}).status_code == 200
    assert browser.post("/test/ping", json={}).status_code == 403


def test_a_token_from_another_session_is_refused(
    rename_app: FastAPI, browser: TestClient, session: Session
) -> None:
    make_user(session, email="mori@example.jp", password=PASSWORD)
    with TestClient(rename_app) as other:
        login(other, "mori@example.jp", PASSWORD)
        foreign = csrf_from(other.get("/").text)

    response = browser.post("/test/rename", data={"display_name": "x", "csrf_token": foreign})

    assert response.status_code == 403


def test_the_token_changes_with_each_sign_in(browser: TestClient) -> None:
    before = csrf_from(browser.get("/").text)
    login(browser, "kato@example.jp", PASSWORD)

    assert csrf_from(browser.get("/").text) != before
    assert browser.post("/test/ping", headers={"X-CSRF-Token": before}).status_code == 403


def test_bearer_requests_need_no_csrf_token(rename_app: FastAPI, session: Session) -> None:
    user = make_user(session, email="api@example.jp", password=None)
    headers = make_token(session, user)
    with TestClient(rename_app) as api:
        response = api.post("/test/rename", data={"display_name": "API"}, headers=headers)

    assert response.status_code == 200
    assert response.json() == {"display_name": "API"}


def test_without_any_credentials_the_route_answers_401(rename_app: FastAPI) -> None:
    with TestClient(rename_app) as anonymous:
        assert anonymous.post("/test/ping").status_code == 401
