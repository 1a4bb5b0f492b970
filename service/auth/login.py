"""Password sign-in, slowed down for an email after repeated failures.

After FREE_FAILURES failed attempts within FAILURE_WINDOW, each further attempt for that
email is refused until 2^(n - FREE_FAILURES) seconds (at most MAX_WAIT) have passed since
the last failure, n being the failures still inside the window. Refused attempts are not
checked and not counted. An unknown email and a wrong password fail alike and both count,
so the answer never tells whether an account exists.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from service import clock
from service.auth.models import LoginFailure, User
from service.auth.service import (
    get_user_by_email,
    hash_password,
    normalise_email,
    verify_password,
)

FAILURE_WINDOW = timedelta(minutes=15)
FREE_FAILURES = 5
MAX_WAIT = timedelta(minutes=15)
# Longer input is no password anyone typed; refusing it early keeps Argon2 from hashing megabytes.
MAX_PASSWORD_LENGTH = 1024


class LoginFailed(Exception):
    """The email and password do not sign anyone in."""


class LoginThrottled(Exception):
    """Too many recent failures for this email; `retry_after` says how long to wait."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"too many failed sign-ins; retry in {retry_after}")
        self.retry_after = retry_after


@cache
def _decoy_hash() -> str:
    # Verifying against a real Argon2 hash when there is no user keeps both answers equally slow.
    return hash_password("relay-decoy-password")


def _key(email: str) -> str:
    return normalise_email(email)[:320]


def throttle_delay(failures: int) -> timedelta:
    """How long after the last failure the next attempt waits, given recent failures."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    exponent = min(failures - FREE_FAILURES, 20)
    return min(timedelta(seconds=2**exponent), MAX_WAIT)


def login_wait(*, session: Session, email: str) -> timedelta | None:
    """How long sign-in for `email` is still refused, or None when it is allowed now."""
    now = clock.now()
    count, last = session.exec(
        select(func.count(), func.max(LoginFailure.at)).where(
            LoginFailure.email == _key(email), col(LoginFailure.at) > now - FAILURE_WINDOW
        )
    ).one()
    if last is None or count < FREE_FAILURES:
        return None
    remaining: timedelta = last + throttle_delay(count) - now
    return remaining if remaining > timedelta(0) else None


def record_login_failure(*, session: Session, email: str) -> None:
    """Count a failed sign-in for `email`, forgetting its failures too old to matter."""
    now = clock.now()
    key = _key(email)
    session.exec(
        delete(LoginFailure).where(
            col(LoginFailure.email) == key, col(LoginFailure.at) <= now - FAILURE_WINDOW
        )
    )
    session.add(LoginFailure(email=key, at=now))
    session.flush()


def clear_login_failures(*, session: Session, email: str) -> None:
    """Forget the failed sign-ins of `email` (after a successful one)."""
    session.exec(delete(LoginFailure).where(col(LoginFailure.email) == _key(email)))
    session.flush()


def authenticate(*, session: Session, email: str, password: str) -> User:
    """The user these credentials sign in; raises LoginThrottled or LoginFailed otherwise."""
    wait = login_wait(session=session, email=email)
    if wait is not None:
        raise LoginThrottled(wait)
    user = get_user_by_email(session=session, email=email) if len(email) <= 320 else None
    if len(password) > MAX_PASSWORD_LENGTH:
        ok = False
    elif user is None or not user.active or not user.password_hash:
        verify_password(password=password, password_hash=_decoy_hash())
        ok = False
    else:
        ok = verify_password(password=password, password_hash=user.password_hash)
    if not ok or user is None:
        record_login_failure(session=session, email=email)
        raise LoginFailed("wrong email or password")
    clear_login_failures(session=session, email=email)
    return user
