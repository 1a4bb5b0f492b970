"""`relay users add`, `relay tokens create` and `relay demo` against a real database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner, Result

from service.auth import service as auth
from service.auth.login import authenticate
from service.auth.models import Role
from service.cli import app as cli_app
from service.clock import ManualClock
from service.http_deps import CurrentUser
from service.settings import Settings, get_settings
from tests.factories import make_bare_company, make_user


@pytest.fixture
def relay(
    settings: Settings, engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """A runner for `relay` commands pointed at the test database (tables created, empty)."""
    monkeypatch.setenv("RELAY_DATABASE_URL", database_url)
    monkeypatch.setenv("RELAY_SECRET_KEY", "test-secret-key-0123456789")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def run(runner: CliRunner, *args: str, stdin: str | None = None) -> Result:
    return runner.invoke(cli_app, list(args), input=stdin)


def _fresh(session: Session) -> Session:
    session.expire_all()
    return session


def test_add_an_operator_with_a_password_from_stdin(relay: CliRunner, session: Session) -> None:
    result = run(
        relay,
        "users", "add", "Suzuki@Example.jp", "--role", "operator", "--name", "鈴木 花子",
        "--password-stdin",
        stdin="秘密のパスワード123\nthe second line is not read\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    user = auth.get_user_by_email(session=_fresh(session), email="suzuki@example.jp")
    assert user is not None
    assert user.role == Role.operator
    assert user.display_name == "鈴木 花子"
    assert auth.verify_password(password="秘密のパスワード123", password_hash=user.password_hash)


def test_without_password_stdin_the_user_has_no_password(
    relay: CliRunner, session: Session
) -> None:
    result = run(relay, "users", "add", "robot@example.jp", "--role", "admin")

    assert result.exit_code == 0, result.output
    assert "API tokens only" in result.stdout
    user = auth.get_user_by_email(session=_fresh(session), email="robot@example.jp")
    assert user is not None
    assert user.password_hash is None


def test_a_short_password_is_refused(relay: CliRunner, session: Session) -> None:
    result = run(
        relay, "users", "add", "a@example.jp", "--role", "admin", "--password-stdin", stdin="1234\n"
    )

    assert result.exit_code == 1
    assert "at least 8 characters" in result.stderr
    assert auth.get_user_by_email(session=_fresh(session), email="a@example.jp") is None


def test_an_existing_email_is_refused(relay: CliRunner, session: Session) -> None:
    make_user(session, email="kato@example.jp", role=Role.operator)

    result = run(relay, "users", "add", "KATO@example.jp", "--role", "admin")

    assert result.exit_code == 1
    assert "already exists" in result.stderr
    user = auth.get_user_by_email(session=_fresh(session), email="kato@example.jp")
    assert user is not None
    assert user.role == Role.operator


def test_add_a_user_who_reads_pages_in_english(relay: CliRunner, session: Session) -> None:
    result = run(relay, "users", "add", "smith@example.com", "--role", "operator", "--locale", "en")

    assert result.exit_code == 0, result.output
    user = auth.get_user_by_email(session=_fresh(session), email="smith@example.com")
    assert user is not None
    assert user.locale == "en"


def test_a_language_relay_does_not_speak_is_refused(relay: CliRunner, session: Session) -> None:
    result = run(relay, "users", "add", "x@example.jp", "--role", "operator", "--locale", "fr")

    assert result.exit_code == 1
    assert "not a language Relay speaks" in result.stderr
    assert auth.get_user_by_email(session=_fresh(session), email="x@example.jp") is None


def test_a_client_user_belongs_to_an_existing_company(relay: CliRunner, session: Session) -> None:
    company = make_bare_company(session, slug="sakura-dental")

    result = run(
        relay, "users", "add", "uketsuke@example.jp", "--role", "client", "--client=sakura-dental"
    )

    assert result.exit_code == 0, result.output
    user = auth.get_user_by_email(session=_fresh(session), email="uketsuke@example.jp")
    assert user is not None
    assert user.company_id == company.id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "client"], "--client SLUG"),
        (["--role", "client", "--client", "no-such-company"], "no client company"),
        (["--role", "operator", "--client", "sakura-dental"], "only for --role client"),
    ],
)
def test_a_client_user_needs_a_known_company_and_staff_none(
    relay: CliRunner, session: Session, args: list[str], message: str
) -> None:
    make_bare_company(session, slug="sakura-dental")

    result = run(relay, "users", "add", "x@example.jp", *args)

    assert result.exit_code == 1
    assert message in result.stderr
    assert auth.get_user_by_email(session=_fresh(session), email="x@example.jp") is None


def test_an_unknown_role_is_a_usage_error(relay: CliRunner) -> None:
    result = run(relay, "users", "add", "x@example.jp", "--role", "owner")

    assert result.exit_code == 2


def test_tokens_create_prints_one_line_that_works_as_bearer(
    relay: CliRunner, session: Session, app: FastAPI
) -> None:
    make_user(session, email="api@example.jp", password=None)

    result = run(relay, "tokens", "create", "api@example.jp")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    token = lines[0]

    @app.get("/test/me")
    def me(user: CurrentUser) -> dict[str, str]:
        return {"email": user.email}

    with TestClient(app) as client:
        response = client.get("/test/me", headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"email": "api@example.jp"}


def test_tokens_create_for_an_unknown_email_fails(relay: CliRunner) -> None:
    result = run(relay, "tokens", "create", "nobody@example.jp")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no user" in result.stderr


def test_tokens_create_takes_a_name_and_an_expiry(
    relay: CliRunner, session: Session, clock: ManualClock
) -> None:
    user = make_user(session, email="api@example.jp", password=None)

    in_days = run(relay, "tokens", "create", "api@example.jp", "--name", "CRM", "--expires", "90d")
    on_a_day = run(relay, "tokens", "create", "api@example.jp", "--expires", "2099-03-31")

    assert in_days.exit_code == 0 and on_a_day.exit_code == 0, in_days.output + on_a_day.output
    session.expire_all()
    tokens = auth.list_api_tokens(session=session, user=user)
    by_name = {token.name: token for token in tokens}
    assert by_name["CRM"].expires_at == clock.now() + timedelta(days=90)
    assert by_name[""].expires_at == datetime(2099, 4, 1, tzinfo=UTC)
    session.commit()


def test_tokens_create_refuses_an_expiry_it_cannot_read_or_in_the_past(
    relay: CliRunner, session: Session, clock: ManualClock
) -> None:
    make_user(session, email="api@example.jp", password=None)

    unreadable = run(relay, "tokens", "create", "api@example.jp", "--expires", "soon")
    past = run(relay, "tokens", "create", "api@example.jp", "--expires", "2000-01-01")

    assert unreadable.exit_code == 1 and "--expires" in unreadable.stderr
    assert past.exit_code == 1 and past.stdout == ""


def _demo_passwords(output: str) -> dict[str, str]:
    return dict(re.findall(r"(\S+@relay\.example)\s+password: (\S+)", output))


def test_demo_creates_and_resets_the_demo_logins(relay: CliRunner, session: Session) -> None:
    first = run(relay, "demo")
    second = run(relay, "demo")

    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert "http://127.0.0.1:8000/login" in second.stdout
    before, after = _demo_passwords(first.stdout), _demo_passwords(second.stdout)
    assert set(after) == {"admin@relay.example", "operator@relay.example"}
    assert before["admin@relay.example"] != after["admin@relay.example"]
    _fresh(session)
    admin = authenticate(
        session=session, email="admin@relay.example", password=after["admin@relay.example"]
    )
    operator = authenticate(
        session=session, email="operator@relay.example", password=after["operator@relay.example"]
    )
    assert (admin.role, operator.role) == (Role.admin, Role.operator)
    assert not auth.verify_password(
        password=before["admin@relay.example"], password_hash=admin.password_hash
    )


def test_demo_prints_the_public_url_when_one_is_configured(
    relay: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_PUBLIC_BASE_URL", "http://localhost:9000")
    get_settings.cache_clear()

    result = run(relay, "demo")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "Relay: http://localhost:9000/login"
