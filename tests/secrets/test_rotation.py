"""Stored secrets across a change of RELAY_SECRET_KEY, and sealing them again with the new one."""

from __future__ import annotations

from pydantic import SecretStr
from sqlmodel import Session, select

from service.audit.models import AuditEntry
from service.audit.service import Action, Actor
from service.clock import ManualClock
from service.secrets.models import Secret
from service.secrets.service import read_secret, rotate_secrets, set_secret
from service.settings import Settings
from tests.factories import make_rotated_settings

TOKEN = "cw-token-4f8a1c2e9b7d6035"
ADMIN = Actor(name="admin@relay.example", user_id="a" * 32)
ROTATOR = Actor(name="cli:relay")


def _ciphertext(session: Session, name: str) -> str:
    row = session.get(Secret, name, populate_existing=True)
    assert row is not None
    return row.ciphertext


def test_a_value_set_under_the_old_key_reads_while_that_key_is_listed(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    set_secret(session=session, name="acme", value=TOKEN, settings=settings, actor=ADMIN)
    session.commit()

    listed = make_rotated_settings(settings, previous=[settings.secret()])
    dropped = make_rotated_settings(settings, previous=[])

    assert read_secret(session=session, name="acme", settings=listed) == TOKEN
    assert read_secret(session=session, name="acme", settings=dropped) is None


def test_rotate_seals_every_value_with_the_new_key_and_is_audited(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    for name in ("acme", "sakura-slack"):
        set_secret(
            session=session, name=name, value=f"{TOKEN}-{name}", settings=settings, actor=ADMIN
        )
    session.commit()
    before = _ciphertext(session, "acme")
    listed = make_rotated_settings(settings, previous=[settings.secret()])

    done = rotate_secrets(session=session, settings=listed, actor=ROTATOR)
    session.commit()

    assert (done.rotated, done.unreadable) == (2, [])
    assert _ciphertext(session, "acme") != before
    dropped = make_rotated_settings(settings, previous=[])
    assert read_secret(session=session, name="acme", settings=dropped) == f"{TOKEN}-acme"
    assert read_secret(session=session, name="sakura-slack", settings=dropped) == (
        f"{TOKEN}-sakura-slack"
    )
    # The old key alone no longer reads them.
    assert read_secret(session=session, name="acme", settings=settings) is None
    [entry] = session.exec(
        select(AuditEntry).where(AuditEntry.action == Action.secrets_rotated.value)
    ).all()
    assert (entry.actor, entry.target, entry.detail) == ("cli:relay", "secrets", {"rotated": "2"})
    assert TOKEN not in str(entry.detail)


def test_a_value_no_key_reads_is_left_as_it_was_and_named(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    set_secret(session=session, name="acme", value=TOKEN, settings=settings, actor=ADMIN)
    lost = settings.model_copy(update={"secret_key": SecretStr("a-key-since-forgotten-000")})
    set_secret(session=session, name="lost-one", value=TOKEN, settings=lost, actor=ADMIN)
    session.commit()
    before = _ciphertext(session, "lost-one")

    done = rotate_secrets(
        session=session,
        settings=make_rotated_settings(settings, previous=[settings.secret()]),
        actor=ROTATOR,
    )
    session.commit()

    assert (done.rotated, done.unreadable) == (1, ["lost-one"])
    assert _ciphertext(session, "lost-one") == before
    [entry] = session.exec(
        select(AuditEntry).where(AuditEntry.action == Action.secrets_rotated.value)
    ).all()
    assert entry.detail == {"rotated": "1", "unreadable": "lost-one"}


def test_rotating_with_nothing_stored_rotates_nothing(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    done = rotate_secrets(session=session, settings=settings, actor=ROTATOR)

    assert (done.rotated, done.unreadable) == (0, [])
