"""The secret store through the admin API: set write-only, listed without values, deleted."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from service.audit.models import AuditEntry
from service.auth.models import User
from service.clock import ManualClock
from service.secrets.service import MAX_VALUE_LENGTH, SecretReader
from service.settings import Settings
from tests.people import sign_in
from tests.refusals import refused

TOKEN = "cw-token-4f8a1c2e9b7d6035"


def _put(http: TestClient, headers: dict[str, str], name: str, value: object) -> dict[str, object]:
    answer = http.put(f"/api/v1/secrets/{name}", json={"value": value}, headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_an_admin_sets_a_secret_and_the_list_names_it_without_its_value(
    client: TestClient,
    admin: User,
    admin_headers: dict[str, str],
    clock: ManualClock,
    engine: Engine,
    settings: Settings,
) -> None:
    body = _put(client, admin_headers, "acme-chatwork", f" {TOKEN}\n")
    assert body == {
        "name": "acme-chatwork",
        "set_at": clock.now().isoformat().replace("+00:00", "Z"),
        "set_by": admin.email,
    }
    listed = client.get("/api/v1/secrets", headers=admin_headers)
    assert listed.status_code == 200
    assert listed.json() == {"items": [body]}
    assert TOKEN not in listed.text
    assert SecretReader(engine, settings).get_now("acme-chatwork") == TOKEN


def test_setting_again_replaces_the_value_for_the_next_read(
    client: TestClient,
    admin_headers: dict[str, str],
    clock: ManualClock,
    engine: Engine,
    settings: Settings,
) -> None:
    reader = SecretReader(engine, settings)
    _put(client, admin_headers, "acme-chatwork", TOKEN)
    assert reader.get_now("acme-chatwork") == TOKEN
    clock.advance(timedelta(days=30))
    later = _put(client, admin_headers, "acme-chatwork", "rotated-token")
    assert later["set_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert reader.get_now("acme-chatwork") == "rotated-token"
    assert len(client.get("/api/v1/secrets", headers=admin_headers).json()["items"]) == 1


def test_delete_answers_204_then_404(
    client: TestClient, admin_headers: dict[str, str], engine: Engine, settings: Settings
) -> None:
    _put(client, admin_headers, "acme-chatwork", TOKEN)
    gone = client.delete("/api/v1/secrets/acme-chatwork", headers=admin_headers)
    assert gone.status_code == 204 and gone.content == b""
    assert client.get("/api/v1/secrets", headers=admin_headers).json() == {"items": []}
    assert SecretReader(engine, settings).get_now("acme-chatwork") is None
    again = client.delete("/api/v1/secrets/acme-chatwork", headers=admin_headers)
    refused(again, status=404, code="no_such_secret")


def test_operators_client_users_and_strangers_are_refused(
    client: TestClient,
    admin_headers: dict[str, str],
    operator_headers: dict[str, str],
    client_headers: dict[str, str],
) -> None:
    _put(client, admin_headers, "acme-chatwork", TOKEN)
    for headers in (operator_headers, client_headers):
        refused(client.get("/api/v1/secrets", headers=headers), status=403)
        put = client.put("/api/v1/secrets/acme-chatwork", json={"value": "x"}, headers=headers)
        refused(put, status=403)
        refused(client.delete("/api/v1/secrets/acme-chatwork", headers=headers), status=403)
    refused(client.get("/api/v1/secrets"), status=401)
    refused(client.put("/api/v1/secrets/acme-chatwork", json={"value": "x"}), status=401)
    listed = client.get("/api/v1/secrets", headers=admin_headers).json()["items"]
    assert [item["set_by"] for item in listed] == ["admin@relay.example"]


def test_a_signed_in_browser_needs_the_csrf_token(
    client: TestClient, admin: User, admin_headers: dict[str, str]
) -> None:
    sign_in(client, admin)
    answer = client.put("/api/v1/secrets/acme-chatwork", json={"value": TOKEN})
    refused(answer, status=403, code="csrf")
    assert client.get("/api/v1/secrets", headers=admin_headers).json() == {"items": []}


@pytest.mark.parametrize(
    ("name", "body", "field", "code"),
    [
        ("Acme", {"value": TOKEN}, "name", "bad_secret_name"),
        ("-acme", {"value": TOKEN}, "name", "bad_secret_name"),
        ("a" * 65, {"value": TOKEN}, "name", "bad_secret_name"),
        ("acme%20chatwork", {"value": TOKEN}, "name", "bad_secret_name"),
        ("acme", {"value": "   \n"}, "value", "too_short"),
        ("acme", {"value": ""}, "value", "too_short"),
        ("acme", {"value": "x" * (MAX_VALUE_LENGTH + 1)}, "value", "too_long"),
        ("acme", {}, "value", "missing"),
        ("acme", {"value": 42}, "value", "wrong_type"),
        ("acme", {"value": TOKEN, "kind": "slack"}, "kind", "not_allowed"),
    ],
)
def test_a_bad_name_or_value_is_a_422_naming_its_field(
    client: TestClient,
    admin_headers: dict[str, str],
    name: str,
    body: dict[str, object],
    field: str,
    code: str,
) -> None:
    answer = client.put(f"/api/v1/secrets/{name}", json=body, headers=admin_headers)
    problem = refused(answer, status=422, code=code)
    assert problem.field == field
    assert [e.field for e in problem.errors] == [field]
    assert TOKEN not in answer.text
    assert client.get("/api/v1/secrets", headers=admin_headers).json() == {"items": []}


def test_a_bad_name_to_delete_is_a_422_too(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    answer = client.delete("/api/v1/secrets/Not.A.Name", headers=admin_headers)
    assert refused(answer, status=422, code="bad_secret_name").field == "name"


def test_the_longest_value_is_kept_whole(
    client: TestClient, admin_headers: dict[str, str], engine: Engine, settings: Settings
) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\n" + "A" * 64 + "\n-----END PRIVATE KEY-----"
    _put(client, admin_headers, "desk-key", pem)
    _put(client, admin_headers, "longest", "y" * MAX_VALUE_LENGTH)
    reader = SecretReader(engine, settings)
    assert reader.get_now("desk-key") == pem
    assert reader.get_now("longest") == "y" * MAX_VALUE_LENGTH


def test_no_answer_audit_entry_or_log_line_carries_the_value(
    client: TestClient,
    session: Session,
    admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [
        client.put("/api/v1/secrets/acme-chatwork", json={"value": TOKEN}, headers=admin_headers),
        client.put("/api/v1/secrets/Bad", json={"value": TOKEN}, headers=admin_headers),
        client.put(
            "/api/v1/secrets/acme", json={"value": TOKEN, "x": TOKEN}, headers=admin_headers
        ),
        client.get("/api/v1/secrets", headers=admin_headers),
        client.get("/api/v1/audit", headers=admin_headers),
        client.delete("/api/v1/secrets/acme-chatwork", headers=admin_headers),
    ]
    for answer in answers:
        assert TOKEN not in answer.text, answer.request.url
        assert all(TOKEN not in value for value in answer.headers.values())
    assert TOKEN not in caplog.text
    entries = session.exec(select(AuditEntry).order_by(col(AuditEntry.at))).all()
    session.commit()
    assert sorted((e.action, e.target) for e in entries) == [
        ("secret.deleted", "secret:acme-chatwork"),
        ("secret.set", "secret:acme-chatwork"),
    ]
    assert all(TOKEN not in repr(e.detail) for e in entries)
