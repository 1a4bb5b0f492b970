"""Credentials in the auth domain: API tokens that expire and are revoked, one-time password links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from service.auth import service as auth
from service.auth.invitations import LinkState, find_link, invite_user, issue_link, use_link
from service.auth.models import ApiToken, LinkPurpose, Role
from service.clock import ManualClock
from service.errors import Conflict, Invalid
from tests.factories import make_user

LIFETIME = timedelta(hours=72)


def test_a_tokens_last_use_is_written_at_most_once_a_minute(
    session: Session, engine: Engine, clock: ManualClock
) -> None:
    user = make_user(session)
    secret, row = auth.issue_api_token(session=session, user=user, name="CRM")
    session.commit()

    def last_used() -> object:
        session.expire_all()
        stored = session.get(ApiToken, row.id)
        session.commit()
        assert stored is not None
        return stored.last_used_at

    first = auth.api_token_use(session=session, token=secret)
    session.commit()
    assert first is not None and first.last_used_at is None
    auth.note_api_token_use(engine=engine, use=first)
    noted = last_used()
    assert noted == clock.now()

    clock.advance(timedelta(seconds=30))
    again = auth.api_token_use(session=session, token=secret)
    session.commit()
    assert again is not None
    auth.note_api_token_use(engine=engine, use=again)
    assert last_used() == noted

    clock.advance(timedelta(seconds=31))
    later = auth.api_token_use(session=session, token=secret)
    session.commit()
    assert later is not None
    auth.note_api_token_use(engine=engine, use=later)
    assert last_used() == clock.now()


def test_a_revoked_or_expired_token_finds_no_one(session: Session, clock: ManualClock) -> None:
    user = make_user(session)
    revoked, revoked_row = auth.issue_api_token(session=session, user=user)
    expiring = auth.create_api_token(
        session=session, user=user, expires_at=clock.now() + timedelta(minutes=5)
    )
    assert auth.revoke_api_token(session=session, token=revoked_row)
    assert not auth.revoke_api_token(session=session, token=revoked_row)
    session.commit()

    assert auth.user_for_api_token(session=session, token=revoked) is None
    assert auth.user_for_api_token(session=session, token=expiring) is not None
    clock.advance(timedelta(minutes=5))
    assert auth.user_for_api_token(session=session, token=expiring) is None
    session.commit()


def test_disabling_revokes_every_token_and_refuses_the_last_admin(
    session: Session, clock: ManualClock
) -> None:
    admin = make_user(session, email="boss@relay.example", role=Role.admin)
    operator = make_user(session, email="op@relay.example")
    token = auth.create_api_token(session=session, user=operator)

    assert auth.disable_user(session=session, user=operator)
    assert auth.user_for_api_token(session=session, token=token) is None
    assert auth.enable_user(session=session, user=operator)
    assert auth.user_for_api_token(session=session, token=token) is None
    with pytest.raises(Conflict) as refused:
        auth.disable_user(session=session, user=admin)
    assert refused.value.code == "last_admin"
    session.commit()


def test_a_newer_link_replaces_the_older_and_a_used_link_is_spent(
    session: Session, clock: ManualClock
) -> None:
    invitation = invite_user(
        session=session,
        email="new@relay.example",
        role=Role.operator,
        company_id=None,
        lifetime=LIFETIME,
    )
    again = invite_user(
        session=session,
        email="NEW@relay.example",
        role=Role.operator,
        company_id=None,
        lifetime=LIFETIME,
    )
    assert not again.created and again.user.id == invitation.user.id

    old = find_link(session=session, token=invitation.issued.token)
    new = find_link(session=session, token=again.issued.token)
    assert old is not None and old.state == LinkState.used
    assert new is not None and new.state == LinkState.usable

    with pytest.raises(Invalid):
        use_link(session=session, found=new, password="short")
    user = use_link(session=session, found=new, password="a long enough password")
    assert user.password_hash
    spent = find_link(session=session, token=again.issued.token)
    assert spent is not None and spent.state == LinkState.used
    with pytest.raises(Conflict) as exists:
        invite_user(
            session=session,
            email="new@relay.example",
            role=Role.operator,
            company_id=None,
            lifetime=LIFETIME,
        )
    assert exists.value.code == "user_exists"
    session.commit()


def test_a_link_expires(session: Session, clock: ManualClock) -> None:
    user = make_user(session)
    issued = issue_link(session=session, user=user, purpose=LinkPurpose.reset, lifetime=LIFETIME)
    clock.advance(LIFETIME)
    found = find_link(session=session, token=issued.token)
    assert found is not None and found.state == LinkState.expired
    assert find_link(session=session, token="unknown") is None
    session.commit()


@pytest.mark.parametrize(
    ("password", "problem"),
    [("1234567", True), ("12345678", False), ("        ", True), ("x" * 1025, True)],
)
def test_password_rules(password: str, problem: bool) -> None:
    assert (auth.password_problem(password) is not None) is problem
