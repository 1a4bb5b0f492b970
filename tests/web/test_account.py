"""The language switch in the page header: a CSRF-protected form that goes back to the page."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.auth.models import User
from service.companies.models import Company
from tests.factories import csrf_from
from tests.people import sign_in


def _stored_locale(session: Session, user: User) -> str | None:
    session.expire_all()
    stored = session.get(User, user.id)
    session.commit()
    assert stored is not None
    return stored.locale


def _switch(client: TestClient, locale: str, next: str = "/console") -> str:
    """Choose `locale` from the console's header; returns where the browser is sent."""
    page = client.get(next)
    response = client.post(
        "/account/language",
        data={"locale": locale, "next": next, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    return response.headers["location"]


def test_every_staff_page_header_has_the_switch_with_the_current_choice(
    client: TestClient, operator: User
) -> None:
    sign_in(client, operator)

    page = client.get("/console?x=1", headers={"Accept-Language": "en"}).text

    form = re.search(r'<form[^>]*action="/account/language".*?</form>', page, re.S)
    assert form is not None
    assert 'name="csrf_token"' in form.group(0)
    assert 'name="next" value="/console?x=1"' in form.group(0)
    assert '<option value="" selected>Browser\'s language</option>' in form.group(0)
    assert '<option value="en">English</option>' in form.group(0)


def test_choosing_english_shows_english_whatever_the_browser_asks(
    client: TestClient, session: Session, operator: User
) -> None:
    sign_in(client, operator)

    location = _switch(client, "en")

    assert location == "/console"
    assert _stored_locale(session, operator) == "en"
    page = client.get("/console", headers={"Accept-Language": "ja"}).text
    assert '<html lang="en">' in page
    assert '<option value="en" selected>English</option>' in page


def test_choosing_the_browsers_language_follows_accept_language_again(
    client: TestClient, session: Session, operator: User
) -> None:
    sign_in(client, operator)
    _switch(client, "ja")

    _switch(client, "")

    assert _stored_locale(session, operator) is None
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "en"}).text


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_without_the_csrf_token_nothing_changes(
    client: TestClient, session: Session, operator: User, token: str | None
) -> None:
    sign_in(client, operator)
    data = {"locale": "en", "next": "/console"}
    if token is not None:
        data["csrf_token"] = token

    response = client.post("/account/language", data=data, follow_redirects=False)

    assert response.status_code == 403
    assert _stored_locale(session, operator) is None


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/console",
        "/\\evil.example",
        "javascript:alert(1)",
        "console",
        "",
    ],
)
def test_it_goes_back_only_to_a_page_of_this_site(
    client: TestClient, operator: User, target: str
) -> None:
    sign_in(client, operator)
    token = csrf_from(client.get("/").text)

    response = client.post(
        "/account/language",
        data={"locale": "en", "next": target, "csrf_token": token},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_a_language_relay_does_not_speak_changes_nothing(
    client: TestClient, session: Session, operator: User
) -> None:
    sign_in(client, operator)
    _switch(client, "en")

    location = _switch(client, "fr")

    assert location == "/console"
    assert _stored_locale(session, operator) == "en"


def test_signed_out_it_sends_the_browser_to_sign_in(client: TestClient) -> None:
    response = client.post(
        "/account/language", data={"locale": "en", "next": "/board"}, follow_redirects=False
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fboard"


def test_a_client_user_switches_their_pages_from_the_companys_language_and_back(
    client: TestClient, session: Session, client_user: User, company: Company
) -> None:
    sign_in(client, client_user)
    english_browser = {"Accept-Language": "en"}

    before = client.get("/portal", headers=english_browser).text
    assert '<html lang="ja">' in before
    assert 'action="/account/language"' in before
    assert '<option value="" selected>会社の言語</option>' in before

    assert _switch(client, "en", next="/portal") == "/portal"
    assert _stored_locale(session, client_user) == "en"
    home = client.get("/", headers={"Accept-Language": "ja"}).text
    portal = client.get("/portal", headers={"Accept-Language": "ja"}).text
    assert '<html lang="en">' in home and '<html lang="en">' in portal
    assert '<option value="en" selected>English</option>' in portal
    assert ">Company's language</option>" in portal and "Browser's language" not in portal

    assert _switch(client, "", next="/portal") == "/portal"
    assert _stored_locale(session, client_user) is None
    assert '<html lang="ja">' in client.get("/", headers=english_browser).text
