"""Users, passwords, browser sessions and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from pwdlib import PasswordHash
from sqlalchemy import Select, bindparam
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, col, delete, select

from service import clock
from service.auth.models import ApiToken, Role, User, WebSession
from service.db import UTCDateTime
from service.i18n import LOCALES

_hasher = PasswordHash.recommended()


class UserError(ValueError):
    """A user that cannot be created as asked; the message says why."""


def _digest(token: str) -> str:
    # Tokens are 256-bit random values, so a plain SHA-256 is enough to store them safely.
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    """An Argon2 hash of `password`."""
    return _hasher.hash(password)


def verify_password(*, password: str, password_hash: str | None) -> bool:
    """Whether `password` matches; a user without a password never matches."""
    if not password_hash:
        return False
    return _hasher.verify(password, password_hash)


def normalise_email(email: str) -> str:
    """The email as stored: trimmed and lower-cased."""
    return email.strip().lower()


def get_user_by_email(*, session: Session, email: str) -> User | None:
    """The user with this email, if any."""
    return session.exec(select(User).where(User.email == normalise_email(email))).first()


def create_user(
    *,
    session: Session,
    email: str,
    role: Role,
    password: str | None = None,
    company_id: str | None = None,
    display_name: str = "",
    locale: str | None = None,
) -> User:
    """Add a user; a client user must belong to a company, staff to none."""
    email = normalise_email(email)
    _check_locale(locale)
    if "@" not in email or len(email) > 320:
        raise UserError(f"not an email address: {email!r}")
    if role == Role.client and company_id is None:
        raise UserError("a client user must belong to a client company (--client SLUG)")
    if role != Role.client and company_id is not None:
        raise UserError("only a client user belongs to a client company")
    if get_user_by_email(session=session, email=email) is not None:
        raise UserError(f"a user with email {email} already exists")
    user = User(
        email=email,
        role=role,
        company_id=company_id,
        display_name=display_name or email.split("@")[0],
        password_hash=hash_password(password) if password else None,
        created_at=clock.now(),
        locale=locale,
    )
    session.add(user)
    session.flush()
    return user


def create_api_token(*, session: Session, user: User) -> str:
    """A new API token for `user`; only its hash is kept, so it is shown once."""
    token = "rly_" + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=_digest(token), user_id=user.id, created_at=clock.now()))
    session.flush()
    return token


# Who is asking is looked up on every request: one prepared join each, read as plain rows.
_USERS = SQLModel.metadata.tables["users"]
_ACTIVE_USER_BY_TOKEN = (
    sa.select(_USERS)
    .join(ApiToken, col(ApiToken.user_id) == _USERS.c.id)
    .where(col(ApiToken.token_hash) == bindparam("digest"), _USERS.c.active.is_(True))
)
_ACTIVE_USER_BY_SESSION = (
    sa.select(_USERS)
    .join(WebSession, col(WebSession.user_id) == _USERS.c.id)
    .where(
        col(WebSession.token_hash) == bindparam("digest"),
        col(WebSession.expires_at) > bindparam("now", type_=UTCDateTime()),
        _USERS.c.active.is_(True),
    )
)


def _active_user(*, session: Session, query: Select[Any], **params: object) -> User | None:
    row = session.connection().execute(query, params).first()
    if row is None:
        return None
    user = User(**row._mapping)
    # As if loaded and its session closed: a route may still add it to its own session to
    # change it (an UPDATE, not a second INSERT).
    make_transient_to_detached(user)
    return user


def user_for_api_token(*, session: Session, token: str) -> User | None:
    """The active user an API token belongs to, if the token is known."""
    return _active_user(session=session, query=_ACTIVE_USER_BY_TOKEN, digest=_digest(token))


def create_web_session(*, session: Session, user: User, lifetime: timedelta) -> str:
    """Open a browser session for `user`; returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        WebSession(
            token_hash=_digest(token), user_id=user.id, created_at=now, expires_at=now + lifetime
        )
    )
    session.flush()
    return token


def user_for_session_token(*, session: Session, token: str) -> User | None:
    """The active user of an unexpired browser session, if any."""
    return _active_user(
        session=session, query=_ACTIVE_USER_BY_SESSION, digest=_digest(token), now=clock.now()
    )


def end_web_session(*, session: Session, token: str) -> None:
    """Close a browser session (logout)."""
    row = session.get(WebSession, _digest(token))
    if row is not None:
        session.delete(row)
        session.flush()


def end_user_sessions(*, session: Session, user: User) -> None:
    """Close every browser session of `user` (sign out everywhere)."""
    session.exec(delete(WebSession).where(col(WebSession.user_id) == user.id))
    session.flush()


def set_password(*, session: Session, user: User, password: str | None) -> None:
    """Replace the user's password (None: token-only) and sign them out everywhere."""
    user.password_hash = hash_password(password) if password else None
    session.add(user)
    end_user_sessions(session=session, user=user)


def _check_locale(locale: str | None) -> None:
    if locale is not None and locale not in LOCALES:
        raise UserError(f"not a language Relay speaks: {locale!r} (one of {', '.join(LOCALES)})")


def set_user_locale(*, session: Session, user: User, locale: str | None) -> None:
    """Set the language `user` reads pages in; None follows their browser's Accept-Language."""
    _check_locale(locale)
    user.locale = locale
    session.add(user)
    session.flush()
