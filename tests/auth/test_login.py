"""Password sign-in in the domain: failures counted per email, waits that grow, clean-up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from service.auth import service as auth
from service.auth.login import (
    LoginFailed,
    LoginThrottled,
    authenticate,
    login_wait,
    record_login_failure,
    throttle_delay,
)
from service.auth.models import LoginFailure, WebSession
from service.clock import ManualClock
from tests.factories import make_user

PASSWORD = "correct horse battery"


def _failures(session: Session) -> int:
    return session.exec(select(func.count()).select_from(LoginFailure)).one()


def _fail_times(session: Session, email: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(LoginFailed):
            authenticate(session=session, email=email, password="guess")


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 0), (4, 0), (5, 1), (6, 2), (9, 16), (14, 512), (15, 900), (60, 900)],
)
def test_the_delay_doubles_from_the_fifth_failure_up_to_15_minutes(
    failures: int, seconds: int
) -> None:
    assert throttle_delay(failures) == timedelta(seconds=seconds)


def test_right_password_signs_in_and_clears_failures(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    _fail_times(session, "kato@example.jp", 3)

    assert authenticate(session=session, email=" KATO@example.jp ", password=PASSWORD) == user
    assert _failures(session) == 0


def test_failures_are_counted_by_normalised_email(session: Session, clock: ManualClock) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    for spelling in ["kato@example.jp", "KATO@example.jp", " Kato@Example.JP", "kato@example.jp"]:
        _fail_times(session, spelling, 1)
    _fail_times(session, "kato@example.jp", 1)

    wait = login_wait(session=session, email="kato@example.jp")

    assert wait == timedelta(seconds=1)


def test_refused_attempts_are_neither_checked_nor_counted(
    session: Session, clock: ManualClock
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    _fail_times(session, "kato@example.jp", 5)

    with pytest.raises(LoginThrottled) as refused:
        authenticate(session=session, email="kato@example.jp", password=PASSWORD)

    assert refused.value.retry_after == timedelta(seconds=1)
    assert _failures(session) == 5


def test_another_email_is_not_slowed_down(session: Session, clock: ManualClock) -> None:
    make_user(session, email="mori@example.jp", password=PASSWORD)
    _fail_times(session, "kato@example.jp", 5)

    assert authenticate(session=session, email="mori@example.jp", password=PASSWORD).email == (
        "mori@example.jp"
    )


def test_the_wait_counts_from_the_last_failure(session: Session, clock: ManualClock) -> None:
    _fail_times(session, "kato@example.jp", 5)
    clock.advance(timedelta(seconds=1))
    _fail_times(session, "kato@example.jp", 1)  # the sixth failure: 2 s from now
    clock.advance(timedelta(milliseconds=500))

    assert login_wait(session=session, email="kato@example.jp") == timedelta(seconds=1.5)
    clock.advance(timedelta(seconds=1.5))
    assert login_wait(session=session, email="kato@example.jp") is None


def test_old_failures_are_deleted_when_a_new_one_is_recorded(
    session: Session, clock: ManualClock
) -> None:
    _fail_times(session, "kato@example.jp", 4)
    clock.advance(timedelta(minutes=15, seconds=1))

    record_login_failure(session=session, email="kato@example.jp")

    assert _failures(session) == 1


def test_an_overlong_password_fails_without_hashing(session: Session, clock: ManualClock) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)

    with pytest.raises(LoginFailed):
        authenticate(session=session, email="kato@example.jp", password=PASSWORD * 1000)
    assert _failures(session) == 1


def test_an_inactive_user_cannot_sign_in(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    user.active = False
    session.add(user)
    session.flush()

    with pytest.raises(LoginFailed):
        authenticate(session=session, email="kato@example.jp", password=PASSWORD)


def test_a_new_password_signs_the_user_out_everywhere(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    token = auth.create_web_session(session=session, user=user, lifetime=timedelta(hours=1))
    other = make_user(session, email="mori@example.jp", password=PASSWORD)
    kept = auth.create_web_session(session=session, user=other, lifetime=timedelta(hours=1))

    auth.set_password(session=session, user=user, password="新しいパスワード 2026")

    assert auth.user_for_session_token(session=session, token=token) is None
    assert auth.user_for_session_token(session=session, token=kept) == other
    assert session.exec(select(func.count()).select_from(WebSession)).one() == 1
    assert authenticate(session=session, email="kato@example.jp", password="新しいパスワード 2026")
    with pytest.raises(LoginFailed):
        authenticate(session=session, email="kato@example.jp", password=PASSWORD)
