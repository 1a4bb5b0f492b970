"""A sign-in halfway through its code step, across a change of RELAY_SECRET_KEY."""

from __future__ import annotations

import pyotp
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session

from service.clock import ManualClock
from service.settings import Settings
from tests.factories import csrf_from, login, make_rotated_settings, make_two_factor, make_user

PASSWORD = "correct horse battery"


def _send_code(client: TestClient, code: str) -> Response:
    page = client.get("/login/code", params={"next": "/"}, follow_redirects=False)
    if page.status_code != 200:
        return page
    data = {"code": code, "csrf_token": csrf_from(page.text), "next": "/"}
    return client.post("/login/code", data=data, follow_redirects=False)


def test_the_code_step_goes_on_while_the_old_key_is_listed(
    app: FastAPI, client: TestClient, session: Session, settings: Settings, clock: ManualClock
) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    secret = make_two_factor(session, user, clock)
    assert login(client, "kato@example.jp", PASSWORD).status_code == 303

    app.state.settings = make_rotated_settings(settings, previous=[settings.secret()])

    done = _send_code(client, pyotp.TOTP(secret).at(clock.now()))
    assert done.status_code == 303
    assert "relay_session" in done.cookies


def test_the_code_step_starts_over_once_the_old_key_is_dropped(
    app: FastAPI, client: TestClient, session: Session, settings: Settings, clock: ManualClock
) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    make_two_factor(session, user, clock)
    assert login(client, "kato@example.jp", PASSWORD).status_code == 303

    app.state.settings = make_rotated_settings(settings, previous=[])

    page = client.get("/login/code", params={"next": "/"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
