"""One-time links to set a password: invitations for new users, and password resets.

A link's token is a 256-bit random value shown once (in the email, or to the admin when the
email could not be sent); only its hash is kept. A newer link for the same user replaces every
older one, and a link that set a password is used up.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session, col, select, update

from service import clock
from service.auth.models import LinkPurpose, PasswordLink, Role, User
from service.auth.service import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    create_user,
    end_user_sessions,
    get_user_by_email,
    hash_password,
    normalise_email,
    password_problem,
    token_digest,
)
from service.errors import Conflict, Invalid
from service.i18n import LOCALES, N_

# Longer than any address a mail server takes (RFC 5321's 254), as the users table allows.
EMAIL_MAX = 320


class LinkState(StrEnum):
    usable = "usable"
    expired = "expired"
    used = "used"  # used up, or replaced by a newer link
    disabled = "disabled"  # the user was disabled since


@dataclass(frozen=True)
class IssuedLink:
    """A link just made: its token (for the URL, shown once) and its row."""

    token: str
    link: PasswordLink


@dataclass(frozen=True)
class FoundLink:
    """A link as looked up from its token, and whether it may still set a password."""

    link: PasswordLink
    user: User
    state: LinkState


@dataclass(frozen=True)
class Invitation:
    """The outcome of inviting someone: the user, their link, and whether they are new."""

    user: User
    issued: IssuedLink
    created: bool


def link_path(*, purpose: LinkPurpose, token: str) -> str:
    """The path of the page that opens a link: /invite/… or /reset/…."""
    return f"/{purpose.value}/{token}"


def issue_link(
    *, session: Session, user: User, purpose: LinkPurpose, lifetime: timedelta
) -> IssuedLink:
    """A fresh one-time link for `user`; every older unused link of theirs stops working."""
    now = clock.now()
    _retire_links(session=session, user=user, at=now)
    token = secrets.token_urlsafe(32)
    link = PasswordLink(
        token_hash=token_digest(token),
        user_id=user.id,
        purpose=purpose,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(link)
    session.flush()
    return IssuedLink(token=token, link=link)


def _retire_links(*, session: Session, user: User, at: datetime) -> None:
    session.exec(
        update(PasswordLink)
        .where(col(PasswordLink.user_id) == user.id, col(PasswordLink.used_at).is_(None))
        .values(used_at=at)
    )


def is_invited(user: User) -> bool:
    """Whether `user` has yet to set a first password (and may be invited again)."""
    return user.active and not user.password_hash


def _check_email(email: str) -> str:
    email = normalise_email(email)
    local, at, domain = email.partition("@")
    if not email:
        raise Invalid(N_("This field is required."), field="email", code="missing")
    if len(email) > EMAIL_MAX:
        raise Invalid(N_("At most %(max)d characters."), field="email", code="too_long", max=320)
    if not at or not local or "." not in domain or any(char.isspace() for char in email):
        raise Invalid(N_("This is not an email address."), field="email", code="bad_email")
    return email


def invite_user(
    *,
    session: Session,
    email: str,
    role: Role,
    company_id: str | None,
    display_name: str = "",
    locale: str | None = None,
    lifetime: timedelta,
) -> Invitation:
    """Add a user without a password and a link to set one; an invited user is invited again.

    A user who has a password already (or was disabled) is refused: they exist, and a password
    reset is the way to give them a new link.
    """
    email = _check_email(email)
    if role == Role.client and company_id is None:
        raise Invalid(
            N_("A client user must belong to a client company."), field="client", code="missing"
        )
    if role != Role.client and company_id is not None:
        raise Invalid(
            N_("Only a client user belongs to a client company."), field="client", code="invalid"
        )
    if locale is not None and locale not in LOCALES:
        raise Invalid(
            N_("Choose one of: %(expected)s."),
            field="locale",
            code="not_a_choice",
            expected=", ".join((*LOCALES, "null")),
        )
    if len(display_name) > 200:
        raise Invalid(N_("At most %(max)d characters."), field="name", code="too_long", max=200)
    user = get_user_by_email(session=session, email=email)
    created = user is None
    if user is None:
        user = create_user(
            session=session,
            email=email,
            role=role,
            company_id=company_id,
            display_name=display_name.strip(),
            locale=locale,
        )
    elif not is_invited(user):
        raise Conflict(
            N_("A user with the email %(email)s exists already."),
            field="email",
            code="user_exists",
            email=email,
        )
    else:
        # Invited before and never came: the admin's new answers stand, with a fresh link.
        user.role = role
        user.company_id = company_id
        if display_name.strip():
            user.display_name = display_name.strip()
        if locale is not None:
            user.locale = locale
        session.add(user)
    issued = issue_link(session=session, user=user, purpose=LinkPurpose.invite, lifetime=lifetime)
    return Invitation(user=user, issued=issued, created=created)


def find_link(*, session: Session, token: str) -> FoundLink | None:
    """The link this token opens and its state, or None for a token Relay never issued."""
    if not token or len(token) > 200:
        return None
    link = session.exec(
        select(PasswordLink).where(col(PasswordLink.token_hash) == token_digest(token))
    ).first()
    if link is None:
        return None
    user = session.get(User, link.user_id)
    if user is None:
        return None
    if link.used_at is not None:
        state = LinkState.used
    elif not user.active:
        state = LinkState.disabled
    elif link.expires_at <= clock.now():
        state = LinkState.expired
    else:
        state = LinkState.usable
    return FoundLink(link=link, user=user, state=state)


def use_link(*, session: Session, found: FoundLink, password: str) -> User:
    """Set the user's password through a usable link, which is then used up.

    Every other session of the user ends (a reset is often asked for because of one).
    """
    if found.state != LinkState.usable:
        raise Conflict(N_("This link can no longer be used."), code="link_used")
    problem = password_problem(password)
    if problem is not None:
        raise Invalid(
            problem,
            field="password",
            code="weak_password",
            min=MIN_PASSWORD_LENGTH,
            max=MAX_PASSWORD_LENGTH,
        )
    now = clock.now()
    user = found.user
    user.password_hash = hash_password(password)
    session.add(user)
    _retire_links(session=session, user=user, at=now)
    end_user_sessions(session=session, user=user)
    return user
