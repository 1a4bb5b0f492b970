"""A user's own language: stored as given, only one Relay speaks, none by default."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from service.auth import service as auth
from service.auth.models import Role, User
from service.clock import ManualClock
from service.i18n import LOCALES
from tests.factories import make_user


def _reloaded(session: Session, user: User) -> User:
    session.commit()
    session.expire_all()
    found = session.get(User, user.id)
    assert found is not None
    return found


def test_a_new_user_follows_the_browser(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp")

    assert _reloaded(session, user).locale is None


@pytest.mark.parametrize("locale", LOCALES)
def test_a_user_keeps_a_language_relay_speaks(
    session: Session, clock: ManualClock, locale: str
) -> None:
    user = make_user(session, email="kato@example.jp")

    auth.set_user_locale(session=session, user=user, locale=locale)

    assert _reloaded(session, user).locale == locale


def test_none_gives_the_choice_back_to_the_browser(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp")
    auth.set_user_locale(session=session, user=user, locale="en")

    auth.set_user_locale(session=session, user=user, locale=None)

    assert _reloaded(session, user).locale is None


@pytest.mark.parametrize("locale", ["fr", "EN", "ja-JP", "", " en"])
def test_another_language_is_refused_and_nothing_changes(
    session: Session, clock: ManualClock, locale: str
) -> None:
    user = make_user(session, email="kato@example.jp")
    auth.set_user_locale(session=session, user=user, locale="ja")

    with pytest.raises(auth.UserError, match="not a language Relay speaks"):
        auth.set_user_locale(session=session, user=user, locale=locale)

    assert _reloaded(session, user).locale == "ja"


def test_a_user_may_be_created_with_a_language(session: Session, clock: ManualClock) -> None:
    user = auth.create_user(
        session=session, email="smith@example.com", role=Role.operator, locale="en"
    )

    assert _reloaded(session, user).locale == "en"


def test_a_user_is_not_created_with_a_language_relay_does_not_speak(
    session: Session, clock: ManualClock
) -> None:
    with pytest.raises(auth.UserError, match="not a language Relay speaks"):
        auth.create_user(session=session, email="x@example.com", role=Role.operator, locale="de")

    session.rollback()
    assert auth.get_user_by_email(session=session, email="x@example.com") is None
