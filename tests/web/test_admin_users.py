"""/admin/users: list, search, invite, change, disable, reset and API tokens from the pages."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.auth.models import ApiToken, Role, User
from service.companies.models import Company
from service.providers.models import OutboxMessage
from tests.factories import csrf_from, make_user
from tests.people import sign_in


def _post(http: TestClient, page: str, action: str, **data: str) -> httpx.Response:
    form_page = http.get(page)
    assert form_page.status_code == 200, form_page.text
    return http.post(
        action, data={**data, "csrf_token": csrf_from(form_page.text)}, follow_redirects=False
    )


def _user(session: Session, email: str) -> User:
    session.expire_all()
    found = session.exec(select(User).where(User.email == email)).one()
    session.commit()
    return found


def test_the_list_shows_users_and_finds_them(
    client: TestClient, admin: User, operator: User, client_user: User, company: Company
) -> None:
    sign_in(client, admin)
    page = client.get("/admin/users", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert 'aria-current="page"' in page.text and 'href="/admin/users"' in page.text
    for person in (admin, operator, client_user):
        assert person.email in page.text
    found = client.get("/admin/users", params={"q": "佐藤"}).text
    assert client_user.email in found and operator.email not in found
    by_company = client.get("/admin/users", params={"client": company.slug}).text
    assert client_user.email in by_company and admin.email not in by_company
    assert '<label for="invite-email">' in page.text


def test_staff_who_are_not_admins_are_turned_away(
    client: TestClient, operator: User, client_user: User
) -> None:
    sign_in(client, operator)
    assert client.get("/admin/users").status_code == 403
    assert client.get(f"/admin/users/{operator.id}").status_code == 403
    signed_out = TestClient(client.app)
    answer = signed_out.get("/admin/users", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_an_invitation_from_the_form_reaches_the_dev_outbox(
    client: TestClient, session: Session, admin: User, company: Company
) -> None:
    sign_in(client, admin)
    answer = _post(
        client,
        "/admin/users",
        "/admin/users",
        email="yamada@example.jp",
        role="client",
        client=company.slug,
        name="山田",
        locale="ja",
    )
    assert answer.status_code == 200
    text = answer.text
    assert "yamada@example.jp" in text and 'role="status"' in text
    invited = _user(session, "yamada@example.jp")
    assert invited.company_id == company.id and invited.password_hash is None
    mail = session.exec(select(OutboxMessage).where(OutboxMessage.to == invited.email)).one()
    session.commit()
    assert re.search(r"/invite/[A-Za-z0-9_\-]+", mail.text)


def test_an_invitation_error_is_shown_beside_its_field(
    client: TestClient, admin: User, operator: User
) -> None:
    sign_in(client, admin)
    answer = _post(client, "/admin/users", "/admin/users", email="nope", role="operator")
    assert answer.status_code == 422
    text = answer.text
    assert 'id="email-error"' in text
    assert re.search(r'id="invite-email"[^>]*aria-invalid="true"', text)
    taken = _post(client, "/admin/users", "/admin/users", email=operator.email, role="operator")
    assert taken.status_code == 409
    client_without_company = _post(
        client, "/admin/users", "/admin/users", email="c@example.jp", role="client"
    )
    assert 'id="client-error"' in client_without_company.text


def test_details_change_from_the_user_page(
    client: TestClient, session: Session, admin: User, operator: User
) -> None:
    sign_in(client, admin)
    page = f"/admin/users/{operator.id}"
    answer = _post(client, page, page, name="鈴木 次郎", role="admin", client="", locale="en")
    assert answer.status_code == 303
    changed = _user(session, operator.email)
    assert (changed.display_name, changed.role, changed.locale) == ("鈴木 次郎", Role.admin, "en")
    assert "鈴木 次郎" in client.get(answer.headers["location"]).text


def test_disable_ends_the_users_session_and_enable_lets_them_back(
    client: TestClient, session: Session, admin: User, operator: User
) -> None:
    theirs = TestClient(client.app)
    sign_in(theirs, operator)
    assert theirs.get("/console").status_code == 200
    sign_in(client, admin)
    page = f"/admin/users/{operator.id}"
    answer = _post(client, page, f"{page}/disable")
    assert answer.status_code == 303
    assert theirs.get("/console", follow_redirects=False).status_code == 303  # to /login
    assert not _user(session, operator.email).active
    again = _post(client, page, f"{page}/enable")
    assert again.status_code == 303
    assert _user(session, operator.email).active


def test_the_last_admin_cannot_disable_themselves(
    client: TestClient, session: Session, admin: User
) -> None:
    sign_in(client, admin)
    page = f"/admin/users/{admin.id}"
    answer = _post(client, page, f"{page}/disable")
    assert answer.status_code == 409
    assert 'role="alert"' in answer.text
    assert _user(session, admin.email).active


def test_a_reset_link_goes_out_from_the_page(
    client: TestClient, session: Session, admin: User, operator: User
) -> None:
    sign_in(client, admin)
    page = f"/admin/users/{operator.id}"
    answer = _post(client, page, f"{page}/reset")
    assert answer.status_code == 200
    mail = session.exec(select(OutboxMessage).where(OutboxMessage.to == operator.email)).one()
    session.commit()
    assert "/reset/" in mail.text


def test_a_token_is_shown_once_and_revoked_from_the_page(
    client: TestClient, session: Session, admin: User, operator: User
) -> None:
    sign_in(client, admin)
    page = f"/admin/users/{operator.id}"
    answer = _post(client, page, f"{page}/tokens", name="CRM", expires="2099-12-31")
    assert answer.status_code == 200
    shown = re.search(r'id="new-token"[^>]*value="(rly_[^"]+)"', answer.text)
    assert shown is not None
    secret = shown.group(1)
    bearer = TestClient(client.app)
    headers = {"Authorization": f"Bearer {secret}"}
    assert bearer.get("/api/v1/me", headers=headers).status_code == 200
    listed = client.get(page).text
    assert "CRM" in listed and secret not in listed
    token = session.exec(select(ApiToken).where(ApiToken.user_id == operator.id)).one()
    session.commit()
    revoked = _post(client, page, f"/admin/tokens/{token.id}/revoke")
    assert revoked.status_code == 303
    assert bearer.get("/api/v1/me", headers=headers).status_code == 401


def test_a_token_needs_a_name(client: TestClient, admin: User, operator: User) -> None:
    sign_in(client, admin)
    page = f"/admin/users/{operator.id}"
    answer = _post(client, page, f"{page}/tokens", name=" ", expires="")
    assert answer.status_code == 422
    assert 'id="token_name-error"' in answer.text


def test_the_pages_speak_english_too(client: TestClient, session: Session, admin: User) -> None:
    english = make_user(session, email="en@relay.example", role=Role.admin)
    english.locale = "en"
    session.add(english)
    session.commit()
    sign_in(client, english)
    page = client.get(f"/admin/users/{admin.id}").text
    assert '<html lang="en">' in page
    assert "API tokens" in page and "Send a password reset link" in page
