"""Users and API tokens through the admin API: invite, change, disable, reset, tokens."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from service.audit.models import AuditEntry
from service.auth.models import Role, User
from service.clock import ManualClock
from service.companies.models import Company
from service.providers.models import OutboxMessage
from tests.factories import make_token, make_user
from tests.people import sign_in
from tests.refusals import refused

LINK = re.compile(r"http://[^\s]+/(invite|reset)/([A-Za-z0-9_\-]+)")


def _outbox(session: Session, to: str) -> list[OutboxMessage]:
    session.expire_all()
    query = select(OutboxMessage).where(OutboxMessage.to == to)
    rows = list(session.exec(query.order_by(col(OutboxMessage.created_at))).all())
    session.commit()  # on SQLite a read holds the write lock until its transaction ends
    return rows


def _actions(session: Session) -> list[str]:
    session.expire_all()
    rows = session.exec(select(AuditEntry).order_by(col(AuditEntry.at), col(AuditEntry.id)))
    actions = [row.action for row in rows.all()]
    session.commit()
    return actions


def _invite(http: TestClient, headers: dict[str, str], **body: object) -> dict[str, object]:
    answer = http.post("/api/v1/users", json=body, headers=headers)
    assert answer.status_code in (200, 201), answer.text
    data: dict[str, object] = answer.json()
    return data


def test_an_invitation_creates_the_user_and_emails_a_link_that_sets_a_password(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    answer = client.post(
        "/api/v1/users",
        json={"email": " Tanaka@Relay.example ", "role": "operator", "name": "田中 一郎"},
        headers=admin_headers,
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["email"] == "tanaka@relay.example"
    assert body["status"] == "invited"
    assert body["invitation"]["sent"] is True and body["invitation"]["outbox"] is True
    assert body["invitation"]["link"] is None  # sent: the link is not shown
    [mail] = _outbox(session, "tanaka@relay.example")
    found = LINK.search(mail.text)
    assert found is not None and found.group(1) == "invite"
    assert "田中 一郎" in mail.text
    # The page behind the link sets the password and signs the user in.
    page = client.get(f"/invite/{found.group(2)}")
    assert page.status_code == 200
    assert "tanaka@relay.example" in page.text
    assert "user.invited" in _actions(session)


def test_an_invitation_speaks_the_invited_users_language(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    _invite(client, admin_headers, email="kim@relay.example", role="admin", locale="en")
    [mail] = _outbox(session, "kim@relay.example")
    assert "invited to Relay" in mail.subject
    assert "Choose your password" in mail.text


def test_a_client_user_needs_a_known_company(
    client: TestClient, admin_headers: dict[str, str], company: Company
) -> None:
    missing = client.post(
        "/api/v1/users", json={"email": "a@example.jp", "role": "client"}, headers=admin_headers
    )
    assert refused(missing, status=422, code="missing").field == "client"
    unknown = client.post(
        "/api/v1/users",
        json={"email": "a@example.jp", "role": "client", "client": "nobody"},
        headers=admin_headers,
    )
    assert refused(unknown, status=422, code="unknown_client").field == "client"
    staff = client.post(
        "/api/v1/users",
        json={"email": "a@example.jp", "role": "operator", "client": company.slug},
        headers=admin_headers,
    )
    refused(staff, status=422, code="invalid")
    ok = _invite(client, admin_headers, email="a@example.jp", role="client", client=company.slug)
    assert ok["client"] == company.slug


def test_a_bad_email_is_refused_beside_its_field(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    answer = client.post(
        "/api/v1/users", json={"email": "not-an-address", "role": "operator"}, headers=admin_headers
    )
    assert refused(answer, status=422, code="bad_email").field == "email"


def test_an_invited_user_is_invited_again_with_a_fresh_link_and_the_old_one_stops_working(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    _invite(client, admin_headers, email="ito@relay.example", role="operator")
    again = client.post(
        "/api/v1/users",
        json={"email": "ito@relay.example", "role": "admin"},
        headers=admin_headers,
    )
    assert again.status_code == 200, again.text
    assert again.json()["role"] == "admin"
    first, second = _outbox(session, "ito@relay.example")
    old = LINK.search(first.text)
    new = LINK.search(second.text)
    assert old is not None and new is not None and old.group(2) != new.group(2)
    assert client.get(f"/invite/{old.group(2)}").status_code == 410
    assert client.get(f"/invite/{new.group(2)}").status_code == 200


def test_a_user_added_without_a_password_on_the_command_line_can_be_invited(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    make_user(session, email="cli@relay.example", password=None)
    answer = client.post(
        "/api/v1/users",
        json={"email": "cli@relay.example", "role": "operator"},
        headers=admin_headers,
    )
    assert answer.status_code == 200, answer.text
    assert len(_outbox(session, "cli@relay.example")) == 1


def test_a_user_with_a_password_cannot_be_invited_again(
    client: TestClient, admin_headers: dict[str, str], operator: User
) -> None:
    answer = client.post(
        "/api/v1/users", json={"email": operator.email, "role": "operator"}, headers=admin_headers
    )
    assert refused(answer, status=409, code="user_exists").field == "email"


def test_when_the_email_cannot_be_sent_the_admin_gets_the_link_once(
    client: TestClient, session: Session, admin_headers: dict[str, str], monkeypatch: object
) -> None:
    import pytest

    from service.providers.base import Outcome, SendResult
    from service.web import user_acts

    async def refuse(**_: object) -> SendResult:
        return SendResult(Outcome.permanent, error="550 no such mailbox")

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(user_acts, "send_email", refuse)
    body = _invite(client, admin_headers, email="lost@relay.example", role="operator")
    invitation = body["invitation"]
    assert isinstance(invitation, dict)
    assert invitation["sent"] is False
    found = LINK.search(str(invitation["link"]))
    assert found is not None
    assert client.get(f"/invite/{found.group(2)}").status_code == 200
    # Shown once: the list of users never shows it again.
    listed = client.get("/api/v1/users", headers=admin_headers).text
    assert found.group(2) not in listed


def test_the_list_filters_by_role_company_and_search(
    client: TestClient,
    admin_headers: dict[str, str],
    operator: User,
    client_user: User,
    company: Company,
) -> None:
    def emails(**params: str) -> list[str]:
        answer = client.get("/api/v1/users", params=params, headers=admin_headers)
        assert answer.status_code == 200, answer.text
        return [item["email"] for item in answer.json()["items"]]

    assert emails() == sorted([operator.email, client_user.email, "admin@relay.example"])
    assert emails(role="operator") == [operator.email]
    assert emails(client=company.slug) == [client_user.email]
    assert emails(q="佐藤") == [client_user.email]
    assert emails(q="OP@") == [operator.email]
    assert emails(q="%") == []
    refused(
        client.get("/api/v1/users", params={"client": "nobody"}, headers=admin_headers),
        status=422,
        code="unknown_client",
    )


def test_only_admins_reach_the_user_routes(
    client: TestClient,
    operator_headers: dict[str, str],
    client_headers: dict[str, str],
    operator: User,
) -> None:
    for headers in (operator_headers, client_headers):
        refused(client.get("/api/v1/users", headers=headers), status=403, code="forbidden")
        refused(
            client.post(
                "/api/v1/users", json={"email": "x@y.jp", "role": "admin"}, headers=headers
            ),
            status=403,
        )
        refused(
            client.patch(f"/api/v1/users/{operator.id}", json={"disabled": True}, headers=headers),
            status=403,
        )
        refused(client.get(f"/api/v1/users/{operator.id}/tokens", headers=headers), status=403)
    refused(client.get("/api/v1/users"), status=401, code="unauthenticated")


def test_disabling_a_user_ends_their_sessions_and_tokens_at_once(
    app: object,
    client: TestClient,
    session: Session,
    admin_headers: dict[str, str],
    operator: User,
    operator_headers: dict[str, str],
) -> None:
    from fastapi import FastAPI

    assert isinstance(app, FastAPI)
    with TestClient(app) as browser:
        sign_in(browser, operator)
        assert browser.get("/api/v1/me").status_code == 200
        assert client.get("/api/v1/me", headers=operator_headers).status_code == 200
        answer = client.patch(
            f"/api/v1/users/{operator.id}", json={"disabled": True}, headers=admin_headers
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "disabled"
        refused(browser.get("/api/v1/me"), status=401)
        refused(client.get("/api/v1/me", headers=operator_headers), status=401, code="bad_token")
        # Enabled again, the old token stays revoked: the user signs in afresh.
        enabled = client.patch(
            f"/api/v1/users/{operator.id}", json={"disabled": False}, headers=admin_headers
        )
        assert enabled.json()["status"] == "active"
        refused(client.get("/api/v1/me", headers=operator_headers), status=401, code="bad_token")
        sign_in(browser, operator)
        assert browser.get("/api/v1/me").status_code == 200
    actions = _actions(session)
    assert "user.disabled" in actions and "user.enabled" in actions


def test_the_last_admin_cannot_be_disabled_or_demoted(
    client: TestClient, session: Session, admin: User, admin_headers: dict[str, str]
) -> None:
    refused(
        client.patch(f"/api/v1/users/{admin.id}", json={"disabled": True}, headers=admin_headers),
        status=409,
        code="last_admin",
    )
    refused(
        client.patch(f"/api/v1/users/{admin.id}", json={"role": "operator"}, headers=admin_headers),
        status=409,
        code="last_admin",
    )
    second = make_user(session, email="second@relay.example", role=Role.admin)
    demoted = client.patch(
        f"/api/v1/users/{admin.id}", json={"role": "operator"}, headers=admin_headers
    )
    # Demoted, the admin's own token no longer reaches admin routes; the other admin remains.
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["role"] == "operator"
    refused(client.get("/api/v1/users", headers=admin_headers), status=403)
    assert second.role == Role.admin


def test_role_company_name_and_language_change_and_are_audited(
    client: TestClient,
    session: Session,
    admin_headers: dict[str, str],
    operator: User,
    company: Company,
) -> None:
    path = f"/api/v1/users/{operator.id}"
    answer = client.patch(
        path,
        json={"role": "client", "client": company.slug, "name": "佐々木", "locale": "en"},
        headers=admin_headers,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["role"], body["client"], body["name"], body["locale"]) == (
        "client",
        company.slug,
        "佐々木",
        "en",
    )
    back = client.patch(path, json={"role": "operator"}, headers=admin_headers)
    assert back.json()["client"] is None
    session.expire_all()
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "user.changed")).all()
    assert [entry.detail["changed"] for entry in entries] == [
        "role,client,name,locale",
        "role,client",
    ]
    session.commit()
    refused(
        client.patch(path, json={"role": "client"}, headers=admin_headers),
        status=422,
        code="missing",
    )
    refused(
        client.patch(path, json={"locale": "fr"}, headers=admin_headers),
        status=422,
    )
    refused(
        client.patch("/api/v1/users/nobody", json={"name": "x"}, headers=admin_headers),
        status=404,
    )


def test_a_password_reset_emails_a_link_that_replaces_the_password(
    client: TestClient, session: Session, admin_headers: dict[str, str], operator: User
) -> None:
    answer = client.post(f"/api/v1/users/{operator.id}/password-reset", headers=admin_headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["sent"] is True
    [mail] = _outbox(session, operator.email)
    found = LINK.search(mail.text)
    assert found is not None and found.group(1) == "reset"
    assert "user.password_reset_sent" in _actions(session)
    assert found.group(2) not in str([entry for entry in session.exec(select(AuditEntry)).all()])


def test_tokens_are_created_listed_used_and_revoked(
    client: TestClient,
    session: Session,
    clock: ManualClock,
    admin_headers: dict[str, str],
    operator: User,
) -> None:
    expires = (clock.now() + timedelta(days=30)).isoformat()
    created = client.post(
        f"/api/v1/users/{operator.id}/tokens",
        json={"name": "CRM", "expires_at": expires},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    token = created.json()
    assert token["token"].startswith("rly_") and token["name"] == "CRM"
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert client.get("/api/v1/me", headers=headers).json()["email"] == operator.email
    listed = client.get(f"/api/v1/users/{operator.id}/tokens", headers=admin_headers).json()
    [item] = listed["items"]
    assert "token" not in item
    assert item["last_used_at"] is not None and item["expired"] is False
    deleted = client.delete(f"/api/v1/tokens/{token['id']}", headers=admin_headers)
    assert deleted.status_code == 204
    refused(client.get("/api/v1/me", headers=headers), status=401, code="bad_token")
    assert client.get(f"/api/v1/users/{operator.id}/tokens", headers=admin_headers).json() == {
        "items": []
    }
    assert client.delete(f"/api/v1/tokens/{token['id']}", headers=admin_headers).status_code == 204
    refused(client.delete("/api/v1/tokens/nope", headers=admin_headers), status=404)
    actions = _actions(session)
    assert actions.count("token.created") == 1 and actions.count("token.revoked") == 1
    session.expire_all()
    created_entry = session.exec(
        select(AuditEntry).where(AuditEntry.action == "token.created")
    ).one()
    assert token["token"] not in str(created_entry.detail)


def test_an_expired_token_is_refused(
    client: TestClient, clock: ManualClock, admin_headers: dict[str, str], operator: User
) -> None:
    created = client.post(
        f"/api/v1/users/{operator.id}/tokens",
        json={"name": "short", "expires_at": (clock.now() + timedelta(hours=1)).isoformat()},
        headers=admin_headers,
    ).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    clock.advance(timedelta(hours=1, seconds=1))
    refused(client.get("/api/v1/me", headers=headers), status=401, code="bad_token")
    listed = client.get(f"/api/v1/users/{operator.id}/tokens", headers=admin_headers).json()
    assert listed["items"][0]["expired"] is True


def test_a_token_cannot_expire_in_the_past_or_go_to_a_disabled_user(
    client: TestClient,
    session: Session,
    clock: ManualClock,
    admin_headers: dict[str, str],
    operator: User,
) -> None:
    past = client.post(
        f"/api/v1/users/{operator.id}/tokens",
        json={"name": "old", "expires_at": (clock.now() - timedelta(seconds=1)).isoformat()},
        headers=admin_headers,
    )
    assert refused(past, status=422, code="in_the_past").field == "expires_at"
    client.patch(f"/api/v1/users/{operator.id}", json={"disabled": True}, headers=admin_headers)
    refused(
        client.post(
            f"/api/v1/users/{operator.id}/tokens", json={"name": "x"}, headers=admin_headers
        ),
        status=409,
        code="user_disabled",
    )
    make_token(session, make_user(session, email="other@relay.example"))


def test_a_token_expiry_beyond_the_calendar_is_refused(
    client: TestClient, admin_headers: dict[str, str], operator: User
) -> None:
    answer = client.post(
        f"/api/v1/users/{operator.id}/tokens",
        json={"name": "far", "expires_at": "9999-12-31T23:59:59-14:00"},
        headers=admin_headers,
    )
    assert refused(answer, status=422, code="out_of_range").field == "expires_at"
