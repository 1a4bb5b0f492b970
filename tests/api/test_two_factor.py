"""The bureau's two-factor switch through the API: admins only, kept, audited."""

from __future__ import annotations

import pyotp
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit.models import AuditEntry
from service.auth import totp
from service.auth.models import User
from service.clock import ManualClock
from tests.refusals import refused

URL = "/api/v1/settings/two-factor"


def test_an_admin_requires_two_factor_for_staff(
    client: TestClient,
    session: Session,
    clock: ManualClock,
    admin: User,
    admin_headers: dict[str, str],
) -> None:
    before = client.get(URL, headers=admin_headers)
    assert before.json() == {"required_for_staff": False, "updated_at": None, "updated_by": None}

    answer = client.put(URL, json={"required_for_staff": True}, headers=admin_headers)

    assert answer.status_code == 200
    assert answer.json() == {
        "required_for_staff": True,
        "updated_at": clock.now().isoformat(),
        "updated_by": "admin@relay.example",
    }
    session.expire_all()
    assert totp.required_for_staff(session=session)
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "settings.two_factor"))
    assert [(e.actor, e.detail) for e in entries] == [
        ("admin@relay.example", {"required_for_staff": "true"})
    ]
    session.commit()
    # Setting it to what it is already changes nothing and records nothing.
    client.put(URL, json={"required_for_staff": True}, headers=admin_headers)
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "settings.two_factor"))
    assert len(list(entries)) == 1


def test_only_admins_see_or_set_the_switch(
    client: TestClient,
    session: Session,
    clock: ManualClock,
    operator_headers: dict[str, str],
    client_headers: dict[str, str],
) -> None:
    for headers in (operator_headers, client_headers):
        refused(client.get(URL, headers=headers), status=403)
        refused(client.put(URL, json={"required_for_staff": True}, headers=headers), status=403)
    refused(client.get(URL), status=401)
    session.expire_all()
    assert not totp.required_for_staff(session=session)


def test_a_body_of_another_shape_is_refused(
    client: TestClient, clock: ManualClock, admin_headers: dict[str, str]
) -> None:
    refused(
        client.put(URL, json={"required_for_staff": "sometimes"}, headers=admin_headers), status=422
    )
    refused(
        client.put(URL, json={"required_for_staff": True, "extra": 1}, headers=admin_headers),
        status=422,
    )


def test_an_admin_removes_a_users_two_factor_so_they_can_enrol_again(
    client: TestClient,
    session: Session,
    clock: ManualClock,
    operator: User,
    admin_headers: dict[str, str],
    operator_headers: dict[str, str],
) -> None:

    secret = totp.start_enrolment(session=session, user=operator).secret
    totp.confirm_enrolment(session=session, user=operator, code=pyotp.TOTP(secret).at(clock.now()))
    session.commit()
    url = f"/api/v1/users/{operator.id}/two-factor"

    refused(client.delete(url, headers=operator_headers), status=403)
    refused(client.delete("/api/v1/users/nobody/two-factor", headers=admin_headers), status=404)
    assert client.delete(url, headers=admin_headers).status_code == 204

    session.expire_all()
    assert not totp.is_enabled(session=session, user=operator)
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "two_factor.removed"))
    assert [(e.actor, e.target, e.detail) for e in entries] == [
        ("admin@relay.example", "user:op@relay.example", {"by": "admin"})
    ]
    session.commit()
    # Nothing left to remove: still 204, nothing more recorded.
    assert client.delete(url, headers=admin_headers).status_code == 204
    assert len(list(session.exec(select(AuditEntry)))) == 1
