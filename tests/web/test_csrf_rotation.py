"""Forms already open in browsers, across a change of RELAY_SECRET_KEY."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.http_deps import CurrentUser
from service.settings import Settings
from service.web.csrf import CsrfProtected
from tests.factories import csrf_from, login, make_rotated_settings, make_user

PASSWORD = "correct horse battery"


@pytest.fixture
def browser(app: FastAPI, session: Session) -> Iterator[TestClient]:
    """A signed-in browser, on the app plus a route that needs the CSRF token."""

    @app.post("/test/ping")
    def ping(user: CurrentUser, _: CsrfProtected) -> dict[str, str]:
        return {"email": user.email}

    make_user(session, email="kato@example.jp", password=PASSWORD)
    with TestClient(app) as test_client:
        assert login(test_client, "kato@example.jp", PASSWORD).status_code == 303
        yield test_client


def test_a_token_from_before_the_change_passes_while_the_old_key_is_listed(
    app: FastAPI, browser: TestClient, settings: Settings
) -> None:
    before = csrf_from(browser.get("/").text)

    app.state.settings = make_rotated_settings(settings, previous=[settings.secret()])

    assert browser.post("/test/ping", headers={"X-CSRF-Token": before}).status_code == 200
    # Pages served now carry a token signed with the new key.
    after = csrf_from(browser.get("/").text)
    assert after != before
    app.state.settings = make_rotated_settings(settings, previous=[])
    assert browser.post("/test/ping", headers={"X-CSRF-Token": after}).status_code == 200


def test_a_token_from_before_the_change_is_refused_once_the_old_key_is_dropped(
    app: FastAPI, browser: TestClient, settings: Settings
) -> None:
    before = csrf_from(browser.get("/").text)

    app.state.settings = make_rotated_settings(settings, previous=[])

    assert browser.post("/test/ping", headers={"X-CSRF-Token": before}).status_code == 403


def test_the_sign_in_form_opened_before_the_change_still_signs_in(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    form = client.get("/login")

    app.state.settings = make_rotated_settings(settings, previous=[settings.secret()])

    answer = client.post(
        "/login",
        data={"email": "kato@example.jp", "password": PASSWORD, "csrf_token": csrf_from(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
