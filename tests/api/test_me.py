"""`/api/v1/me`: who is asking, and the language they choose to read pages in."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.auth.models import User
from service.companies.models import Company
from tests.i18n.japanese import japanese_in
from tests.people import sign_in


def _stored_locale(session: Session, user: User) -> str | None:
    session.expire_all()
    stored = session.exec(select(User).where(User.id == user.id)).one()
    session.commit()
    return stored.locale


def test_without_credentials_the_answer_is_401(client: TestClient) -> None:
    assert client.get("/api/v1/me").status_code == 401
    assert client.patch("/api/v1/me", json={"locale": "en"}).status_code == 401


def test_staff_see_themselves_with_no_company_and_no_language_yet(
    client: TestClient, operator: User, operator_headers: dict[str, str]
) -> None:
    response = client.get("/api/v1/me", headers=operator_headers)

    assert response.status_code == 200
    assert response.json() == {
        "id": operator.id,
        "email": "op@relay.example",
        "name": "op",
        "role": "operator",
        "client": None,
        "locale": None,
    }


def test_a_client_user_sees_its_company_slug(
    client: TestClient, client_user: User, company: Company, client_headers: dict[str, str]
) -> None:
    body = client.get("/api/v1/me", headers=client_headers).json()

    assert body["role"] == "client"
    assert body["name"] == "佐藤 院長"
    assert body["client"] == company.slug


def test_patch_sets_the_language_and_null_gives_it_back_to_the_browser(
    client: TestClient, session: Session, operator: User, operator_headers: dict[str, str]
) -> None:
    chosen = client.patch("/api/v1/me", json={"locale": "en"}, headers=operator_headers)

    assert chosen.status_code == 200
    assert chosen.json()["locale"] == "en"
    assert _stored_locale(session, operator) == "en"
    assert client.get("/api/v1/me", headers=operator_headers).json()["locale"] == "en"

    cleared = client.patch("/api/v1/me", json={"locale": None}, headers=operator_headers)

    assert cleared.json()["locale"] is None
    assert _stored_locale(session, operator) is None


def test_patch_without_locale_leaves_it_as_it_is(
    client: TestClient, session: Session, operator: User, operator_headers: dict[str, str]
) -> None:
    client.patch("/api/v1/me", json={"locale": "ja"}, headers=operator_headers)

    response = client.patch("/api/v1/me", json={}, headers=operator_headers)

    assert response.status_code == 200
    assert response.json()["locale"] == "ja"
    assert _stored_locale(session, operator) == "ja"


@pytest.mark.parametrize(
    "body", [{"locale": "fr"}, {"locale": "EN"}, {"locale": ""}, {"locale": 1}, {"name": "x"}]
)
def test_an_unknown_language_or_field_is_422_and_changes_nothing(
    client: TestClient,
    session: Session,
    operator: User,
    operator_headers: dict[str, str],
    body: dict[str, object],
) -> None:
    response = client.patch("/api/v1/me", json=body, headers=operator_headers)

    assert response.status_code == 422
    assert _stored_locale(session, operator) is None


def test_a_browser_must_send_its_csrf_token_to_patch(
    client: TestClient, session: Session, operator: User
) -> None:
    sign_in(client, operator)

    response = client.patch("/api/v1/me", json={"locale": "en"})

    assert response.status_code == 403
    assert _stored_locale(session, operator) is None


@pytest.mark.parametrize(
    ("chosen", "browser", "expected", "absent"),
    [
        ("en", "ja", "Answer a call to open its script and memo form here.", None),
        ("ja", "en", "応答するとスクリプトとメモ欄がここに開きます。", "Answer a call"),
    ],
)
def test_the_users_language_wins_over_accept_language_on_the_console(
    client: TestClient,
    operator: User,
    operator_headers: dict[str, str],
    chosen: str,
    browser: str,
    expected: str,
    absent: str | None,
) -> None:
    client.patch("/api/v1/me", json={"locale": chosen}, headers=operator_headers)
    sign_in(client, operator)

    page = client.get("/console", headers={"Accept-Language": browser})

    assert page.status_code == 200
    assert f'<html lang="{chosen}">' in page.text
    assert expected in page.text
    if absent is None:
        assert japanese_in(page.text) == []
    else:
        assert absent not in page.text


def test_with_no_language_chosen_the_browser_decides_again(
    client: TestClient, operator: User, operator_headers: dict[str, str]
) -> None:
    client.patch("/api/v1/me", json={"locale": "en"}, headers=operator_headers)
    client.patch("/api/v1/me", json={"locale": None}, headers=operator_headers)
    sign_in(client, operator)

    page = client.get("/console", headers={"Accept-Language": "ja"})

    assert '<html lang="ja">' in page.text
