"""Users, passwords, browser sessions and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pwdlib import PasswordHash
from sqlalchemy import Engine, Select, bindparam, func, or_, update
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, col, delete, select

from service import clock
from service.auth.models import ApiToken, Role, User, WebSession
from service.db import UTCDateTime, transaction
from service.errors import Conflict, Invalid
from service.i18n import LOCALES, N_

_hasher = PasswordHash.recommended()

MIN_PASSWORD_LENGTH = 8
# Longer input is no password anyone typed; refusing it keeps Argon2 from hashing megabytes.
MAX_PASSWORD_LENGTH = 1024
TOKEN_NAME_MAX = 100
# A token's last use is written at most this often, so that a busy client does not make
# every one of its requests a write.
TOKEN_USE_PRECISION = timedelta(minutes=1)


class UserError(ValueError):
    """A user that cannot be created as asked; the message says why."""


def token_digest(token: str) -> str:
    """What is stored of a token (session, API token, password link): its SHA-256."""
    # Tokens are 256-bit random values, so a plain SHA-256 is enough to store them safely.
    return hashlib.sha256(token.encode()).hexdigest()


_digest = token_digest


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


def create_api_token(
    *, session: Session, user: User, name: str = "", expires_at: datetime | None = None
) -> str:
    """A new API token for `user`; only its hash is kept, so it is shown once."""
    return issue_api_token(session=session, user=user, name=name, expires_at=expires_at)[0]


def issue_api_token(
    *, session: Session, user: User, name: str = "", expires_at: datetime | None = None
) -> tuple[str, ApiToken]:
    """A new API token for `user` and its row; the token itself is never stored."""
    name = name.strip()
    if len(name) > TOKEN_NAME_MAX:
        raise Invalid(
            N_("At most %(max)d characters."), field="name", code="too_long", max=TOKEN_NAME_MAX
        )
    if expires_at is not None:
        try:
            expires_at = expires_at.astimezone(UTC)
        except OverflowError:
            raise Invalid(
                N_("Enter less than %(lt)s."),
                field="expires_at",
                code="out_of_range",
                lt="9999-12-31",
            ) from None
    if expires_at is not None and expires_at <= clock.now():
        raise Invalid(N_("Choose a time in the future."), field="expires_at", code="in_the_past")
    if not user.active:
        raise Conflict(N_("This user is disabled."), code="user_disabled")
    token = "rly_" + secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=_digest(token),
        user_id=user.id,
        created_at=clock.now(),
        name=name,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return token, row


def list_api_tokens(*, session: Session, user: User) -> list[ApiToken]:
    """The tokens of `user` that are not revoked, newest first (expired ones too)."""
    query = (
        select(ApiToken)
        .where(col(ApiToken.user_id) == user.id, col(ApiToken.revoked_at).is_(None))
        .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id))
    )
    return list(session.exec(query).all())


def revoke_api_token(*, session: Session, token: ApiToken) -> bool:
    """Revoke `token` from now on; False when it was revoked already."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = clock.now()
    session.add(token)
    session.flush()
    return True


def revoke_user_tokens(*, session: Session, user: User) -> int:
    """Revoke every live token of `user`; how many there were."""
    result = session.exec(
        update(ApiToken)
        .where(col(ApiToken.user_id) == user.id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=clock.now())
    )
    session.flush()
    return int(result.rowcount or 0)


# Who is asking is looked up on every request: one prepared join each, read as plain rows.
_USERS = SQLModel.metadata.tables["users"]
_ACTIVE_USER_BY_TOKEN = (
    sa.select(
        _USERS,
        col(ApiToken.id).label("token_id"),
        col(ApiToken.last_used_at).label("token_last_used_at"),
    )
    .join(ApiToken, col(ApiToken.user_id) == _USERS.c.id)
    .where(
        col(ApiToken.token_hash) == bindparam("digest"),
        col(ApiToken.revoked_at).is_(None),
        or_(
            col(ApiToken.expires_at).is_(None),
            col(ApiToken.expires_at) > bindparam("now", type_=UTCDateTime()),
        ),
        _USERS.c.active.is_(True),
    )
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


_USER_COLUMNS = tuple(_USERS.c.keys())


def _user_from_row(mapping: Any) -> User:
    user = User(**{name: mapping[name] for name in _USER_COLUMNS})
    # As if loaded and its session closed: a route may still add it to its own session to
    # change it (an UPDATE, not a second INSERT).
    make_transient_to_detached(user)
    return user


def _active_user(*, session: Session, query: Select[Any], **params: object) -> User | None:
    row = session.connection().execute(query, params).first()
    return None if row is None else _user_from_row(row._mapping)


@dataclass(frozen=True)
class TokenUse:
    """A live API token as found on a request: whose it is, and when it was last used."""

    user: User
    token_id: str
    last_used_at: datetime | None


def api_token_use(*, session: Session, token: str) -> TokenUse | None:
    """The active user of a live (unexpired, unrevoked) API token, if the token is one."""
    row = (
        session.connection()
        .execute(_ACTIVE_USER_BY_TOKEN, {"digest": _digest(token), "now": clock.now()})
        .first()
    )
    if row is None:
        return None
    mapping = row._mapping
    return TokenUse(
        user=_user_from_row(mapping),
        token_id=mapping["token_id"],
        last_used_at=mapping["token_last_used_at"],
    )


def user_for_api_token(*, session: Session, token: str) -> User | None:
    """The active user of a live API token, if the token is one."""
    use = api_token_use(session=session, token=token)
    return use.user if use is not None else None


def note_api_token_use(*, engine: Engine, use: TokenUse) -> None:
    """Remember that the token was used now, unless that was noted less than a minute ago."""
    now = clock.now()
    if use.last_used_at is not None and now - use.last_used_at < TOKEN_USE_PRECISION:
        return
    with transaction(engine) as session:
        session.exec(
            update(ApiToken).where(col(ApiToken.id) == use.token_id).values(last_used_at=now)
        )


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


def password_problem(password: str) -> str | None:
    """Why `password` may not be chosen (a catalogue id), or None when it may."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return N_("At least %(min)d characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        return N_("At most %(max)d characters.")
    if not password.strip():
        return N_("A password cannot be only spaces.")
    return None


def list_users(
    *,
    session: Session,
    role: Role | None = None,
    company_id: str | None = None,
    search: str | None = None,
    limit: int = 200,
) -> list[User]:
    """Users by email, optionally of one role or company, or whose email or name holds `search`."""
    query = select(User)
    if role is not None:
        query = query.where(col(User.role) == role)
    if company_id is not None:
        query = query.where(col(User.company_id) == company_id)
    if search:
        term = search.strip().lower()
        for special in ("\\", "%", "_"):
            term = term.replace(special, "\\" + special)
        pattern = f"%{term}%"
        query = query.where(
            or_(
                col(User.email).like(pattern, escape="\\"),
                func.lower(col(User.display_name)).like(pattern, escape="\\"),
            )
        )
    return list(session.exec(query.order_by(col(User.email)).limit(limit)).all())


def active_admins(*, session: Session) -> int:
    """How many admins can still sign in."""
    query = select(func.count()).where(col(User.role) == Role.admin, col(User.active).is_(True))
    return int(session.exec(query).one())


def _keep_an_admin(*, session: Session, user: User) -> None:
    # Refused before the change: with no admin left, no one could undo it from the pages.
    if user.role == Role.admin and user.active and active_admins(session=session) <= 1:
        raise Conflict(N_("This is the last admin: make another admin first."), code="last_admin")


def change_user(
    *,
    session: Session,
    user: User,
    role: Role | None = None,
    company_id: str | None = None,
    display_name: str | None = None,
    locale: str | None = None,
    locale_given: bool = False,
) -> list[str]:
    """Change a user's role, company, name or language; the names of what changed.

    A client user belongs to exactly one company (`company_id` is needed when the role becomes
    client and the user has none); a user who stops being a client leaves their company.
    """
    changed: list[str] = []
    new_role = role if role is not None else user.role
    new_company = company_id if company_id is not None else user.company_id
    if new_role != Role.client:
        if company_id is not None:
            raise Invalid(
                N_("Only a client user belongs to a client company."),
                field="client",
                code="invalid",
            )
        new_company = None
    elif new_company is None:
        raise Invalid(
            N_("A client user must belong to a client company."), field="client", code="missing"
        )
    if new_role != user.role:
        if user.role == Role.admin:
            _keep_an_admin(session=session, user=user)
        user.role = new_role
        changed.append("role")
    if new_company != user.company_id:
        user.company_id = new_company
        changed.append("client")
    if display_name is not None:
        display_name = display_name.strip()
        if not display_name:
            raise Invalid(N_("This field is required."), field="name", code="missing")
        if len(display_name) > 200:
            raise Invalid(N_("At most %(max)d characters."), field="name", code="too_long", max=200)
        if display_name != user.display_name:
            user.display_name = display_name
            changed.append("name")
    if locale_given and locale != user.locale:
        if locale is not None and locale not in LOCALES:
            raise Invalid(
                N_("Choose one of: %(expected)s."),
                field="locale",
                code="not_a_choice",
                expected=", ".join((*LOCALES, "null")),
            )
        user.locale = locale
        changed.append("locale")
    session.add(user)
    session.flush()
    return changed


def disable_user(*, session: Session, user: User) -> bool:
    """Disable `user`: every session and token of theirs ends now; False if already disabled."""
    if not user.active:
        return False
    _keep_an_admin(session=session, user=user)
    user.active = False
    session.add(user)
    end_user_sessions(session=session, user=user)
    revoke_user_tokens(session=session, user=user)
    return True


def enable_user(*, session: Session, user: User) -> bool:
    """Let `user` sign in again (with new tokens: the old ones stay revoked)."""
    if user.active:
        return False
    user.active = True
    session.add(user)
    session.flush()
    return True


def _check_locale(locale: str | None) -> None:
    if locale is not None and locale not in LOCALES:
        raise UserError(f"not a language Relay speaks: {locale!r} (one of {', '.join(LOCALES)})")


def set_user_locale(*, session: Session, user: User, locale: str | None) -> None:
    """Set the language `user` reads pages in; None follows their browser's Accept-Language."""
    _check_locale(locale)
    user.locale = locale
    session.add(user)
    session.flush()
