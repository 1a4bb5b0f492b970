"""Signing in and out through the pages, the home page of each role, and slowed-down guessing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from service.auth.models import LoginFailure, Role, WebSession
from service.clock import ManualClock
from service.settings import Settings
from service.web.auth_pages import safe_next
from tests.factories import csrf_from, login, make_bare_company, make_user

PASSWORD = "correct horse battery"


def _count(session: Session, table: type) -> int:
    session.expire_all()
    count = session.exec(select(func.count()).select_from(table)).one()
    session.commit()  # ends the read: on SQLite every transaction holds the write lock
    return count


def _alert(html: str) -> str:
    found = re.search(r'<p class="alert" role="alert">(.*?)</p>', html)
    assert found is not None
    return found.group(1)


def _set_cookies(response: Response) -> dict[str, str]:
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        cookies[name] = header.lower()
    return cookies


def test_login_page_is_a_japanese_form_with_a_pre_session_csrf_cookie(client: TestClient) -> None:
    page = client.get("/login")

    assert page.status_code == 200
    assert "ログイン" in page.text
    assert 'name="csrf_token"' in page.text
    cookie = _set_cookies(page)["relay_csrf"]
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie


def test_login_opens_a_session_in_an_httponly_cookie(
    client: TestClient, session: Session, settings: Settings
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)

    response = login(client, "Kato@Example.jp", PASSWORD)

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = _set_cookies(response)["relay_session"]
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert f"max-age={settings.session_hours * 3600}" in cookie
    assert "secure" not in cookie
    assert _count(session, WebSession) == 1
    home = client.get("/")
    assert home.status_code == 200
    assert "kato" in home.text
    assert "オペレーター" in home.text


def test_session_cookie_is_secure_behind_https(
    settings: Settings,
    engine: Engine,
    clock: ManualClock,
    session: Session,
) -> None:
    from service.app import create_app

    make_user(session, email="kato@example.jp", password=PASSWORD)
    https = settings.model_copy(update={"public_base_url": "https://relay.example.jp"})
    with TestClient(create_app(settings=https, engine=engine), base_url="https://testserver") as c:
        page = c.get("/login")
        assert "secure" in _set_cookies(page)["relay_csrf"]
        response = login(c, "kato@example.jp", PASSWORD)

    assert response.status_code == 303
    assert "secure" in _set_cookies(response)["relay_session"]


def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: TestClient, session: Session
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)

    wrong = login(client, "kato@example.jp", "not the password")
    unknown = login(client, "nobody@example.jp", PASSWORD)

    assert wrong.status_code == unknown.status_code == 401
    assert "メールアドレスまたはパスワードが正しくありません" in wrong.text
    assert _alert(wrong.text) == _alert(unknown.text)
    assert "relay_session" not in _set_cookies(wrong)
    assert _count(session, WebSession) == 0
    assert _count(session, LoginFailure) == 2


def test_a_user_without_password_cannot_sign_in(client: TestClient, session: Session) -> None:
    make_user(session, email="robot@example.jp", password=None)

    assert login(client, "robot@example.jp", "").status_code == 401
    assert _count(session, WebSession) == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/memos?status=sent", "/memos?status=sent"),
        ("/", "/"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/\r\nSet-Cookie: x=1", "/"),
        ("memos", "/"),
    ],
)
def test_next_is_only_a_path_on_this_site(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_login_goes_on_to_next(client: TestClient, session: Session) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)

    response = login(client, "kato@example.jp", PASSWORD, next="/memos?status=sent")
    assert response.headers["location"] == "/memos?status=sent"


def test_login_does_not_redirect_off_site(client: TestClient, session: Session) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)

    response = login(client, "kato@example.jp", PASSWORD, next="https://evil.example/")
    assert response.headers["location"] == "/"


def test_login_page_keeps_next_in_the_form(client: TestClient) -> None:
    page = client.get("/login", params={"next": "/calls"})
    assert 'name="next" value="/calls"' in page.text


def test_each_login_gets_a_new_session_token(client: TestClient, session: Session) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    first = login(client, "kato@example.jp", PASSWORD).cookies["relay_session"]

    second = login(client, "kato@example.jp", PASSWORD)

    assert second.status_code == 303
    assert second.cookies["relay_session"] != first
    # The session the browser came with is closed, not left open beside the new one.
    assert _count(session, WebSession) == 1
    client.cookies.set("relay_session", first)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_without_a_valid_csrf_token_is_refused(client: TestClient, session: Session) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    client.get("/login")
    form = {"email": "kato@example.jp", "password": PASSWORD}

    missing = client.post("/login", data=form, follow_redirects=False)
    forged = client.post("/login", data={**form, "csrf_token": "0" * 64}, follow_redirects=False)

    assert missing.status_code == forged.status_code == 403
    assert "フォームの有効期限が切れました" in missing.text
    assert "relay_session" not in _set_cookies(missing)
    assert _count(session, WebSession) == 0
    assert _count(session, LoginFailure) == 0


def test_a_csrf_token_from_another_browser_does_not_work(
    app: FastAPI,
    client: TestClient,
    session: Session,
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    with TestClient(app) as attacker:
        stolen = csrf_from(attacker.get("/login").text)
    client.get("/login")

    response = client.post(
        "/login",
        data={"email": "kato@example.jp", "password": PASSWORD, "csrf_token": stolen},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert _count(session, WebSession) == 0


def test_logout_closes_the_session(client: TestClient, session: Session) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    login(client, "kato@example.jp", PASSWORD)
    token = csrf_from(client.get("/").text)

    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert 'relay_session=""' in response.headers["set-cookie"]
    assert _count(session, WebSession) == 0
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_logout_without_csrf_token_changes_nothing(client: TestClient, session: Session) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    login(client, "kato@example.jp", PASSWORD)

    missing = client.post("/logout", follow_redirects=False)
    forged = client.post("/logout", data={"csrf_token": "x" * 64}, follow_redirects=False)

    assert missing.status_code == forged.status_code == 403
    assert missing.json()["code"] == "csrf"
    assert _count(session, WebSession) == 1
    assert client.get("/").status_code == 200


def test_signed_in_user_visiting_login_goes_home(client: TestClient, session: Session) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    login(client, "kato@example.jp", PASSWORD)

    response = client.get("/login", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_session_expires_after_its_lifetime(
    client: TestClient, session: Session, clock: ManualClock, settings: Settings
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    login(client, "kato@example.jp", PASSWORD)
    clock.advance(timedelta(hours=settings.session_hours) - timedelta(seconds=1))
    assert client.get("/", follow_redirects=False).status_code == 200

    clock.advance(timedelta(seconds=1))

    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_home_requires_sign_in(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_admin_home_lists_client_companies(client: TestClient, session: Session) -> None:
    make_bare_company(session, slug="sakura-dental", name="さくら歯科クリニック")
    make_bare_company(session, slug="evil", name="<script>alert(1)</script>")
    make_user(session, email="admin@example.jp", role=Role.admin, password=PASSWORD)
    login(client, "admin@example.jp", PASSWORD)

    page = client.get("/")

    assert "さくら歯科クリニック" in page.text
    assert "sakura-dental" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert "管理者" in page.text


def test_operator_home_is_the_console_placeholder(client: TestClient, session: Session) -> None:
    make_bare_company(session, slug="sakura-dental", name="さくら歯科クリニック")
    make_user(session, email="suzuki@example.jp", password=PASSWORD)
    login(client, "suzuki@example.jp", PASSWORD)

    page = client.get("/")

    assert "着信" in page.text
    assert "suzuki" in page.text
    assert "さくら歯科クリニック" not in page.text


def test_client_home_shows_only_their_company(client: TestClient, session: Session) -> None:
    own = make_bare_company(session, slug="sakura-dental", name="さくら歯科クリニック")
    make_bare_company(session, slug="tanaka-law", name="田中法律事務所")
    make_user(
        session, email="uketsuke@example.jp", role=Role.client, password=PASSWORD, company_id=own.id
    )
    login(client, "uketsuke@example.jp", PASSWORD)

    page = client.get("/")

    assert "さくら歯科クリニック" in page.text
    assert "田中法律事務所" not in page.text
    assert "クライアント" in page.text


def test_signed_in_pages_carry_the_csrf_token_for_fetch(
    client: TestClient, session: Session
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    login(client, "kato@example.jp", PASSWORD)

    page = client.get("/").text

    assert f'<meta name="csrf-token" content="{csrf_from(page)}">' in page


def test_five_failures_slow_down_further_attempts(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    for _ in range(5):
        assert login(client, "kato@example.jp", "guess").status_code == 401

    refused = login(client, "kato@example.jp", PASSWORD)

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert "もう一度お試しください" in refused.text
    assert "relay_session" not in _set_cookies(refused)
    assert _count(session, LoginFailure) == 5

    clock.advance(timedelta(seconds=1))
    assert login(client, "kato@example.jp", PASSWORD).status_code == 303
    assert _count(session, LoginFailure) == 0


def test_the_wait_doubles_with_each_further_failure(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    for _ in range(5):
        login(client, "kato@example.jp", "guess")
    waits = []
    for _ in range(4):
        refused = login(client, "kato@example.jp", "guess")
        assert refused.status_code == 429
        waits.append(int(refused.headers["retry-after"]))
        clock.advance(timedelta(seconds=waits[-1]))
        assert login(client, "kato@example.jp", "guess").status_code == 401

    assert waits == [1, 2, 4, 8]


def test_unknown_emails_are_slowed_down_too(client: TestClient, clock: ManualClock) -> None:
    for _ in range(5):
        assert login(client, "nobody@example.jp", "guess").status_code == 401

    assert login(client, "nobody@example.jp", "guess").status_code == 429


def test_failures_older_than_the_window_are_forgotten(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    for _ in range(5):
        login(client, "kato@example.jp", "guess")

    clock.advance(timedelta(minutes=15))

    assert login(client, "kato@example.jp", PASSWORD).status_code == 303


def test_the_login_page_is_in_the_readers_language_only(client: TestClient) -> None:
    from tests.i18n.japanese import japanese_in

    english = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    japanese = client.get("/login", headers={"Accept-Language": "ja,en;q=0.5"})
    unspecified = client.get("/login")

    assert japanese_in(english.text) == []
    assert '<html lang="en">' in english.text and ">Sign in</button>" in english.text
    for page in (japanese, unspecified):
        assert '<html lang="ja">' in page.text
        assert ">ログイン</button>" in page.text and "秘書代行 バックオフィス" in page.text
        assert "Sign in" not in page.text and "Password" not in page.text


def test_a_failed_sign_in_says_so_in_the_readers_language(
    client: TestClient, session: Session
) -> None:
    make_user(session, email="op@example.jp", password=PASSWORD, role=Role.operator)
    form = client.get("/login", headers={"Accept-Language": "en"})

    wrong = client.post(
        "/login",
        data={"email": "op@example.jp", "password": "wrong", "csrf_token": csrf_from(form.text)},
        headers={"Accept-Language": "en"},
    )

    assert wrong.status_code == 401
    assert _alert(wrong.text) == "Wrong email or password."


@pytest.mark.parametrize("role", [Role.operator, Role.admin])
def test_the_staff_home_page_is_in_the_readers_language_only(
    client: TestClient, session: Session, role: Role
) -> None:
    from tests.i18n.japanese import japanese_in

    make_user(session, email="staff@example.jp", password=PASSWORD, role=role)
    login(client, "staff@example.jp", PASSWORD)

    english = client.get("/", headers={"Accept-Language": "en"})
    japanese = client.get("/", headers={"Accept-Language": "ja"})

    assert japanese_in(english.text) == []
    assert "Operator console" in english.text
    assert "オペレーター コンソール" in japanese.text and "Operator console" not in japanese.text


ATTACKER = ("203.0.113.66", 50000)
OWNER = ("198.51.100.7", 50000)


def _trail(session: Session, action: str) -> list[tuple[str, str | None, dict[str, str]]]:
    from service.audit.models import AuditEntry

    session.expire_all()
    rows = session.exec(
        select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.at))
    ).all()
    session.commit()
    return [(row.actor, row.ip, row.detail) for row in rows]


def test_the_owner_signs_in_from_another_address_while_an_attacker_is_throttled(
    app: FastAPI, session: Session, clock: ManualClock
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    with TestClient(app, client=ATTACKER) as attacker, TestClient(app, client=OWNER) as owner:
        for _ in range(5):
            assert login(attacker, "kato@example.jp", "guess").status_code == 401
        assert login(attacker, "kato@example.jp", PASSWORD).status_code == 429

        assert login(owner, "kato@example.jp", PASSWORD).status_code == 303

        assert owner.get("/", follow_redirects=False).status_code == 200
        assert login(attacker, "kato@example.jp", "guess").status_code == 429


def test_one_address_trying_many_accounts_is_throttled(
    app: FastAPI, session: Session, clock: ManualClock
) -> None:
    from service.auth.login import ADDRESS_FREE_FAILURES

    make_user(session, email="mori@example.jp", password=PASSWORD)
    with TestClient(app, client=ATTACKER) as attacker, TestClient(app, client=OWNER) as owner:
        for number in range(ADDRESS_FREE_FAILURES):
            assert login(attacker, f"user{number}@example.jp", PASSWORD).status_code == 401

        assert login(attacker, "mori@example.jp", PASSWORD).status_code == 429
        assert login(owner, "mori@example.jp", PASSWORD).status_code == 303


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_clients(
    settings: Settings, engine: Engine, session: Session, clock: ManualClock
) -> None:
    from service.app import create_app

    make_user(session, email="kato@example.jp", password=PASSWORD)
    proxied = settings.model_copy(update={"trusted_proxies": ["10.0.0.0/8"]})
    with TestClient(create_app(settings=proxied, engine=engine), client=("10.0.0.2", 443)) as c:
        for _ in range(5):
            c.headers["X-Forwarded-For"] = "203.0.113.66"
            assert login(c, "kato@example.jp", "guess").status_code == 401
        assert login(c, "kato@example.jp", PASSWORD).status_code == 429

        # The same proxy, another client behind it: not held back.
        c.headers["X-Forwarded-For"] = "198.51.100.7"
        assert login(c, "kato@example.jp", PASSWORD).status_code == 303

    ips = {ip for _, ip, _ in _trail(session, "sign_in_failed")}
    assert ips == {"203.0.113.66"}
    assert [ip for _, ip, _ in _trail(session, "sign_in")] == ["198.51.100.7"]


def test_without_a_trusted_proxy_a_forwarded_address_is_ignored(
    app: FastAPI, session: Session, clock: ManualClock
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    with TestClient(app, client=ATTACKER) as attacker:
        for number in range(6):
            attacker.headers["X-Forwarded-For"] = f"192.0.2.{number}"
            login(attacker, "kato@example.jp", "guess")

        assert login(attacker, "kato@example.jp", PASSWORD).status_code == 429
    assert {ip for _, ip, _ in _trail(session, "sign_in_failed")} == {ATTACKER[0]}


def test_a_throttled_sign_in_says_how_long_to_wait_in_english(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    client.headers["Accept-Language"] = "en"
    for _ in range(5):
        login(client, "kato@example.jp", "guess")
    clock.advance(timedelta(seconds=1))
    login(client, "kato@example.jp", "guess")  # the sixth: two seconds from now

    refused = login(client, "kato@example.jp", PASSWORD)

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "2"
    assert _alert(refused.text) == "Too many failed sign-ins: please try again in 2 seconds."


def test_sign_ins_failed_sign_ins_and_sign_outs_are_on_the_audit_trail(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    login(client, " Kato@Example.jp", "guess")
    login(client, "nobody@example.jp", "guess")
    for _ in range(4):
        login(client, "kato@example.jp", "guess")
    login(client, "kato@example.jp", PASSWORD)  # throttled
    clock.advance(timedelta(minutes=15))
    login(client, "kato@example.jp", PASSWORD)
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})

    failed = _trail(session, "sign_in_failed")
    # All at one moment of the test clock: compared in order of kind, not of time.
    assert sorted((actor, detail["reason"]) for actor, _, detail in failed) == [
        *[("kato@example.jp", "password")] * 5,
        ("kato@example.jp", "throttled"),
        ("nobody@example.jp", "password"),
    ]
    assert {ip for _, ip, _ in failed} == {"testclient"}
    assert _trail(session, "sign_in") == [(user.email, "testclient", {"method": "password"})]
    assert _trail(session, "sign_out") == [(user.email, "testclient", {})]
