"""`relay secrets rotate` against a real database, with the keys read from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from service.audit.models import AuditEntry
from service.audit.service import Action, Actor
from service.cli import app as cli_app
from service.secrets.service import read_secret, set_secret
from service.settings import Settings, get_settings

OLD_KEY = "test-secret-key-0123456789"
NEW_KEY = "the-new-secret-key-9876543210"
TOKEN = "cw-token-4f8a1c2e9b7d6035"


@pytest.fixture
def relay(
    settings: Settings, engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """A runner for `relay` pointed at the test database, with the key changed: the old one
    listed among the previous keys."""
    monkeypatch.setenv("RELAY_DATABASE_URL", database_url)
    monkeypatch.setenv("RELAY_SECRET_KEY", NEW_KEY)
    monkeypatch.setenv("RELAY_PREVIOUS_SECRET_KEYS", f"an-even-older-key-000000, {OLD_KEY}")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_rotate_reseals_every_secret_so_the_old_key_can_go(
    relay: CliRunner, session: Session, settings: Settings
) -> None:
    assert settings.secret() == OLD_KEY
    set_secret(session=session, name="acme", value=TOKEN, settings=settings, actor=Actor(name="a"))
    session.commit()

    result = relay.invoke(cli_app, ["secrets", "rotate"])

    assert result.exit_code == 0, result.output
    assert "secrets re-encrypted with the current RELAY_SECRET_KEY: 1" in result.output
    new_only = settings.model_copy(
        update={"secret_key": SecretStr(NEW_KEY), "previous_secret_keys": []}
    )
    session.expire_all()
    assert read_secret(session=session, name="acme", settings=new_only) == TOKEN
    [entry] = session.exec(
        select(AuditEntry).where(AuditEntry.action == Action.secrets_rotated.value)
    ).all()
    assert entry.actor.startswith("cli:")


def test_a_secret_no_key_reads_fails_the_command_and_is_named(
    relay: CliRunner, session: Session, settings: Settings
) -> None:
    forgotten = settings.model_copy(update={"secret_key": SecretStr("a-key-since-forgotten-000")})
    set_secret(
        session=session, name="lost-one", value=TOKEN, settings=forgotten, actor=Actor(name="a")
    )
    session.commit()

    result = relay.invoke(cli_app, ["secrets", "rotate"])

    assert result.exit_code == 1
    assert "lost-one" in result.output


def test_a_database_without_its_tables_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RELAY_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("RELAY_SECRET_KEY", NEW_KEY)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["secrets", "rotate"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1
    assert "relay db upgrade" in result.output
