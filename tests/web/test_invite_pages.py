"""The pages behind a one-time password link: choose a password, then signed in."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit.models import AuditEntry
from service.auth.invitations import invite_user, issue_link
from service.auth.models import LinkPurpose, Role, User
from service.auth.totp import set_required_for_staff
from service.clock import ManualClock
from tests.factories import csrf_from, login, make_user

LIFETIME = timedelta(hours=72)
NEW_PASSWORD = "a brand new password"


def _invited(
    session: Session, *, email: str = "new@relay.example", locale: str | None = None
) -> str:
    invitation = invite_user(
        session=session,
        email=email,
        role=Role.operator,
        company_id=None,
        display_name="新人",
        locale=locale,
        lifetime=LIFETIME,
    )
    session.commit()
    return invitation.issued.token


def _submit(
    client: TestClient, path: str, password: str, again: str | None = None
) -> httpx.Response:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(
        path,
        data={
            "password": password,
            "password_again": password if again is None else again,
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )


def test_an_invitation_sets_the_password_and_signs_the_user_in(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    token = _invited(session)
    page = client.get(f"/invite/{token}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "Welcome to Relay" in page.text
    assert "new@relay.example" in page.text
    assert 'autocomplete="new-password"' in page.text
    answer = _submit(client, f"/invite/{token}", NEW_PASSWORD)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["email"] == "new@relay.example"
    # The link is used up; the password works at the sign-in page.
    assert client.get(f"/invite/{token}").status_code == 410
    fresh = TestClient(client.app)
    assert login(fresh, "new@relay.example", NEW_PASSWORD).status_code == 303
    session.expire_all()
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "user.password_set")).one()
    assert entry.actor == "new@relay.example" and entry.detail == {"via": "invite"}
    assert NEW_PASSWORD not in str(entry.detail)
    session.commit()


def test_a_short_password_or_a_mismatch_is_refused_beside_its_field(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    token = _invited(session)
    short = _submit(client, f"/invite/{token}", "short")
    assert short.status_code == 422
    text = short.text
    assert 'id="password-error"' in text and 'aria-invalid="true"' in text
    mismatch = _submit(client, f"/invite/{token}", NEW_PASSWORD, again="something else")
    assert mismatch.status_code == 422
    assert 'id="password_again-error"' in mismatch.text
    # Still usable after the refusals.
    assert client.get(f"/invite/{token}").status_code == 200


def test_an_expired_link_is_a_clear_page_in_the_users_language(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    token = _invited(session, locale="en")
    clock.advance(LIFETIME + timedelta(seconds=1))
    page = client.get(f"/invite/{token}", headers={"Accept-Language": "ja"})
    assert page.status_code == 410
    assert '<html lang="en">' in page.text
    assert "This link has expired" in page.text
    assert 'name="password"' not in page.text


def test_an_unknown_link_is_404_and_a_link_opens_only_its_own_page(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    token = _invited(session)
    assert client.get("/invite/not-a-token").status_code == 404
    assert client.get(f"/reset/{token}").status_code == 404


def test_a_reset_replaces_the_password_and_ends_other_sessions(
    client: TestClient, session: Session, clock: ManualClock, operator: User
) -> None:
    other = TestClient(client.app)
    assert login(other, operator.email, "correct horse battery").status_code == 303
    assert other.get("/api/v1/me").status_code == 200
    issued = issue_link(
        session=session, user=operator, purpose=LinkPurpose.reset, lifetime=LIFETIME
    )
    session.commit()
    page = client.get(f"/reset/{issued.token}", headers={"Accept-Language": "en"})
    assert "Choose a new password" in page.text
    answer = _submit(client, f"/reset/{issued.token}", NEW_PASSWORD)
    assert answer.status_code == 303
    assert other.get("/api/v1/me").status_code == 401
    assert login(TestClient(client.app), operator.email, NEW_PASSWORD).status_code == 303


def test_a_disabled_users_link_does_not_work(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    user = make_user(session, email="gone@relay.example", password=None)
    issued = issue_link(session=session, user=user, purpose=LinkPurpose.invite, lifetime=LIFETIME)
    user.active = False
    session.add(user)
    session.commit()
    assert client.get(f"/invite/{issued.token}").status_code == 410


def test_a_forged_form_is_refused(client: TestClient, session: Session, clock: ManualClock) -> None:
    token = _invited(session)
    client.get(f"/invite/{token}")
    answer = client.post(
        f"/invite/{token}",
        data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert client.get(f"/invite/{token}").status_code == 200


def test_a_password_set_from_a_link_still_asks_for_what_two_factor_sign_in_needs(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    admin = make_user(session, email="boss@relay.example", role=Role.admin)
    set_required_for_staff(session=session, required=True, by=admin)
    token = _invited(session)

    answer = _submit(client, f"/invite/{token}", NEW_PASSWORD)

    # Staff who must use two-factor sign-in enrol first: the link alone opens no session.
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login/two-factor")
    assert client.get("/api/v1/me").status_code == 401
