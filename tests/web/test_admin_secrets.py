"""/admin/secrets: the stored secrets, the missing ones, and the set and delete forms."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from service.audit.models import AuditEntry
from service.auth.models import User
from service.clock import ManualClock
from service.secrets.service import SecretReader
from service.settings import Settings
from tests.factories import csrf_from, make_company
from tests.people import sign_in

TOKEN = "cw-token-4f8a1c2e9b7d6035"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


def _post(http: TestClient, action: str, **data: str) -> httpx.Response:
    form_page = http.get("/admin/secrets")
    assert form_page.status_code == 200, form_page.text
    return http.post(
        action, data={**data, "csrf_token": csrf_from(form_page.text)}, follow_redirects=False
    )


def _reader(engine: Engine, settings: Settings) -> SecretReader:
    return SecretReader(engine, settings)


def test_the_page_speaks_english_and_japanese(client: TestClient, admin: User) -> None:
    sign_in(client, admin)
    english = client.get("/admin/secrets", headers={"Accept-Language": "en"})
    assert english.status_code == 200
    assert '<html lang="en">' in english.text and "<h1>Secrets</h1>" in english.text
    assert re.search(r'href="/admin/secrets" aria-current="page"', english.text)
    japanese = client.get("/admin/secrets", headers={"Accept-Language": "ja"})
    assert '<html lang="ja">' in japanese.text and "ユーザー" in japanese.text
    assert "Users" not in japanese.text


def test_the_value_field_is_a_password_field_never_filled(client: TestClient, admin: User) -> None:
    sign_in(client, admin)
    page = client.get("/admin/secrets").text
    [field] = re.findall(r'<input id="secret-value"[^>]*>', page)
    assert 'type="password"' in field and 'autocomplete="off"' in field
    assert "value=" not in field
    assert re.search(
        r'<textarea id="secret-value-lines"[^>]*autocomplete="off"[^>]*></textarea>', page
    )


def test_a_secret_set_from_the_form_is_stored_and_never_shown(
    client: TestClient,
    admin: User,
    engine: Engine,
    settings: Settings,
    clock: ManualClock,
) -> None:
    sign_in(client, admin)
    answer = _post(client, "/admin/secrets", name="acme-chatwork", value=f" {TOKEN} ")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/secrets?done=set"
    assert _reader(engine, settings).get_now("acme-chatwork") == TOKEN
    page = client.get(answer.headers["location"], headers={"Accept-Language": "en"}).text
    assert 'role="status"' in page and "acme-chatwork" in page and admin.email in page
    assert TOKEN not in page
    assert "No destination names it." in page


def test_a_value_of_several_lines_goes_in_whole(
    client: TestClient, admin: User, engine: Engine, settings: Settings
) -> None:
    sign_in(client, admin)
    answer = _post(client, "/admin/secrets", name="desk-key", value="", value_lines=PEM + "\n")
    assert answer.status_code == 303
    assert _reader(engine, settings).get_now("desk-key") == PEM


def test_a_refused_form_says_why_beside_the_field_and_forgets_the_value(
    client: TestClient, admin: User, engine: Engine, settings: Settings
) -> None:
    sign_in(client, admin)
    bad_name = _post(client, "/admin/secrets", name="Acme Chatwork", value=TOKEN)
    assert bad_name.status_code == 422
    assert 'id="name-error"' in bad_name.text
    assert re.search(r'id="secret-name"[^>]*aria-invalid="true"', bad_name.text)
    assert 'value="Acme Chatwork"' in bad_name.text
    assert TOKEN not in bad_name.text

    empty = _post(client, "/admin/secrets", name="acme", value="  ")
    assert empty.status_code == 422 and 'id="value-error"' in empty.text

    both = _post(client, "/admin/secrets", name="acme", value=TOKEN, value_lines=PEM)
    assert both.status_code == 422 and 'id="value-error"' in both.text
    assert TOKEN not in both.text and "MIIEvQIBADAN" not in both.text
    assert _reader(engine, settings).get_now("acme") is None


def test_delete_from_the_page_after_asking(
    client: TestClient, session: Session, admin: User, engine: Engine, settings: Settings
) -> None:
    sign_in(client, admin)
    assert _post(client, "/admin/secrets", name="acme-chatwork", value=TOKEN).status_code == 303
    page = client.get("/admin/secrets", headers={"Accept-Language": "en"}).text
    # The delete button is inside a disclosure that asks first.
    assert re.search(
        r'<details class="delete">\s*<summary>.*?</summary>\s*'
        r'<form method="post" action="/admin/secrets/acme-chatwork/delete">',
        page,
        re.S,
    )
    answer = _post(client, "/admin/secrets/acme-chatwork/delete")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/secrets?done=deleted"
    assert _reader(engine, settings).get_now("acme-chatwork") is None
    after = client.get(answer.headers["location"], headers={"Accept-Language": "en"}).text
    assert "/admin/secrets/acme-chatwork/delete" not in after and "No secret is stored" in after
    assert _post(client, "/admin/secrets/acme-chatwork/delete").status_code == 404
    actions = session.exec(select(AuditEntry.action).order_by(col(AuditEntry.action))).all()
    session.commit()
    assert list(actions) == ["secret.deleted", "secret.set", "sign_in"]


def test_missing_secrets_are_listed_first_with_what_names_them(
    client: TestClient, session: Session, admin: User, clock: ManualClock
) -> None:
    make_company(
        session,
        destinations=[
            {
                "key": "support",
                "name": "サポート室",
                "kind": "chatwork",
                "room_id": "123456789",
                "secret": "sakura-chatwork",
            }
        ],
    )
    sign_in(client, admin)
    page = client.get("/admin/secrets", headers={"Accept-Language": "en"}).text
    missing = page.split('id="missing-heading"', 1)[1].split("</section>", 1)[0]
    assert "sakura-chatwork" in missing and "サポート室" in missing
    assert 'href="/admin/companies/sakura-dental"' in missing
    assert 'href="/admin/secrets?name=sakura-chatwork#set-heading"' in missing

    prefilled = client.get("/admin/secrets", params={"name": "sakura-chatwork"}).text
    assert re.search(r'id="secret-name"[^>]*value="sakura-chatwork"', prefilled) or re.search(
        r'value="sakura-chatwork"[^>]*id="secret-name"', prefilled
    )

    assert _post(client, "/admin/secrets", name="sakura-chatwork", value=TOKEN).status_code == 303
    after = client.get("/admin/secrets", headers={"Accept-Language": "en"}).text
    assert 'id="missing-heading"' not in after
    row = after.split('<td data-label="Name" class="secret-name">sakura-chatwork</td>', 1)[1]
    assert "サポート室" in row.split("</tr>", 1)[0]


def test_only_admins_may_open_or_post(
    client: TestClient,
    operator: User,
    client_user: User,
    engine: Engine,
    settings: Settings,
) -> None:
    signed_out = client.get("/admin/secrets", follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")
    for person in (operator, client_user):
        http = TestClient(client.app)
        sign_in(http, person)
        assert http.get("/admin/secrets").status_code == 403
        token = csrf_from(http.get("/").text)
        posted = http.post(
            "/admin/secrets",
            data={"name": "acme", "value": TOKEN, "csrf_token": token},
            follow_redirects=False,
        )
        assert posted.status_code == 403
    assert _reader(engine, settings).get_now("acme") is None


def test_a_post_without_the_csrf_token_is_refused(
    client: TestClient, admin: User, engine: Engine, settings: Settings
) -> None:
    sign_in(client, admin)
    answer = client.post(
        "/admin/secrets", data={"name": "acme", "value": TOKEN}, follow_redirects=False
    )
    assert answer.status_code == 403
    assert _reader(engine, settings).get_now("acme") is None
