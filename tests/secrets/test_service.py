"""The secret store: values encrypted at rest, read back, replaced at once, never leaked."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from service.audit.models import AuditEntry
from service.audit.service import Actor
from service.clock import ManualClock
from service.errors import Invalid, NotFound
from service.secrets.models import Secret
from service.secrets.service import (
    MAX_VALUE_LENGTH,
    SecretReader,
    delete_secret,
    list_secrets,
    read_secret,
    secret_uses,
    set_secret,
)
from service.settings import Settings
from tests.factories import make_company

TOKEN = "cw-token-4f8a1c2e9b7d6035"
ADMIN = Actor(name="admin@relay.example", user_id="a" * 32, ip="203.0.113.7")


def make_secret(
    session: Session, settings: Settings, *, name: str = "acme-chatwork", value: str = TOKEN
) -> None:
    """A committed secret set by ADMIN."""
    set_secret(session=session, name=name, value=value, settings=settings, actor=ADMIN)
    session.commit()


def other_key(settings: Settings) -> Settings:
    return settings.model_copy(update={"secret_key": SecretStr("another-key-0123456789")})


def test_a_value_is_encrypted_at_rest_and_read_back(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    info = set_secret(
        session=session, name="acme-chatwork", value=f"  {TOKEN}\n", settings=settings, actor=ADMIN
    )
    session.commit()

    raw = session.execute(text("SELECT name, ciphertext FROM secrets")).all()
    session.commit()
    assert [name for name, _ in raw] == ["acme-chatwork"]
    assert TOKEN not in raw[0][1] and "4f8a1c2e" not in raw[0][1]
    assert (info.name, info.set_at, info.set_by) == ("acme-chatwork", clock.now(), ADMIN.name)
    assert read_secret(session=session, name="acme-chatwork", settings=settings) == TOKEN
    assert read_secret(session=session, name="nobody", settings=settings) is None


def test_setting_again_replaces_the_value_and_a_reader_sees_it_at_once(
    engine: Engine, session: Session, settings: Settings, clock: ManualClock
) -> None:
    reader = SecretReader(engine, settings)
    assert reader.get_now("acme-chatwork") is None
    make_secret(session, settings)
    assert reader.get_now("acme-chatwork") == TOKEN

    clock.advance(timedelta(hours=1))
    make_secret(session, settings, value="rotated-token")
    assert reader.get_now("acme-chatwork") == "rotated-token"
    [info] = list_secrets(session=session)
    assert info.set_at == clock.now()


async def test_the_async_reader_reads_in_a_worker_thread(
    engine: Engine, session: Session, settings: Settings, clock: ManualClock
) -> None:
    make_secret(session, settings)
    reader = SecretReader(engine, settings)
    assert await reader.get("acme-chatwork") == TOKEN
    make_secret(session, settings, value="rotated-token")
    assert await reader.get("acme-chatwork") == "rotated-token"
    assert await reader.get("missing") is None


def test_a_value_the_key_no_longer_opens_reads_as_none_with_a_warning_naming_it(
    session: Session, settings: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    make_secret(session, settings)
    caplog.set_level(logging.DEBUG)
    assert read_secret(session=session, name="acme-chatwork", settings=other_key(settings)) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "acme-chatwork" in warnings[0]
    assert TOKEN not in caplog.text
    # The right key still reads it: nothing was lost.
    assert read_secret(session=session, name="acme-chatwork", settings=settings) == TOKEN


def test_a_ciphertext_copied_under_another_name_does_not_read(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    make_secret(session, settings)
    make_secret(session, settings, name="acme-slack", value="xoxb-slack")
    stolen = session.get(Secret, "acme-chatwork")
    assert stolen is not None
    target = session.get(Secret, "acme-slack")
    assert target is not None
    target.ciphertext = stolen.ciphertext
    session.commit()
    assert read_secret(session=session, name="acme-slack", settings=settings) is None


def test_names_and_values_are_checked(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    for name in ("", "Acme", "-acme", "acme chatwork", "a" * 65, "acme/../x"):
        with pytest.raises(Invalid) as refused:
            set_secret(session=session, name=name, value=TOKEN, settings=settings, actor=ADMIN)
        assert refused.value.field == "name", name
    for value, code in (("  \n ", "missing"), ("x" * (MAX_VALUE_LENGTH + 1), "too_long")):
        with pytest.raises(Invalid) as refused:
            set_secret(session=session, name="acme", value=value, settings=settings, actor=ADMIN)
        assert (refused.value.field, refused.value.code) == ("value", code)
    set_secret(
        session=session, name="a" * 64, value="x" * MAX_VALUE_LENGTH, settings=settings, actor=ADMIN
    )
    session.commit()
    assert [info.name for info in list_secrets(session=session)] == ["a" * 64]


def test_delete_forgets_the_value_and_an_unknown_name_is_not_found(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    make_secret(session, settings)
    delete_secret(session=session, name="acme-chatwork", actor=ADMIN)
    session.commit()
    assert list_secrets(session=session) == []
    assert read_secret(session=session, name="acme-chatwork", settings=settings) is None
    with pytest.raises(NotFound):
        delete_secret(session=session, name="acme-chatwork", actor=ADMIN)


def test_the_audit_trail_names_the_secret_never_its_value(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    make_secret(session, settings)
    make_secret(session, settings, value="rotated-token")
    delete_secret(session=session, name="acme-chatwork", actor=ADMIN)
    session.commit()
    entries = session.exec(select(AuditEntry).order_by(AuditEntry.action)).all()
    session.commit()
    assert sorted(e.action for e in entries) == ["secret.deleted", "secret.set", "secret.set"]
    for entry in entries:
        assert (entry.target, entry.actor, entry.actor_id) == (
            "secret:acme-chatwork",
            ADMIN.name,
            ADMIN.user_id,
        )
        assert TOKEN not in repr(entry.detail) and "rotated" not in repr(entry.detail)


def test_uses_name_each_destination_that_needs_a_secret(
    session: Session, clock: ManualClock
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
                "webhook_secret": "sakura-chatwork-hook",
            },
            {
                "key": "crm",
                "kind": "webhook",
                "url": "https://crm.example.jp/relay",
                "secret": "shared-hook",
            },
        ],
    )
    make_company(
        session,
        slug="kaede-law",
        name="かえで法律事務所",
        destinations=[
            {"key": "ops", "kind": "slack", "channel": "C0123ABCD", "secret": "shared-hook"}
        ],
    )
    uses = secret_uses(session=session)
    assert list(uses) == ["sakura-chatwork", "sakura-chatwork-hook", "shared-hook"]
    assert [(u.company_slug, u.destination) for u in uses["sakura-chatwork"]] == [
        ("sakura-dental", "サポート室")
    ]
    assert [(u.company_slug, u.company_name, u.destination) for u in uses["shared-hook"]] == [
        ("kaede-law", "かえで法律事務所", "ops"),
        ("sakura-dental", "さくら歯科クリニック", "crm"),
    ]
