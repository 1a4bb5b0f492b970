"""Acts on users shared by the admin API and the admin pages: invite, reset, change, tokens.

Each records itself in the audit trail in the request's transaction; the ones that send a
password link by email commit that transaction first (see `deliver_link`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import anyio.from_thread
from fastapi import Request
from sqlalchemy import Engine
from sqlmodel import Session

from service.audit import service as audit
from service.auth import invitations
from service.auth import service as auth
from service.auth.invitations import IssuedLink, link_path
from service.auth.models import ApiToken, LinkPurpose, Role, User
from service.channels import Channel
from service.companies.service import get_company
from service.errors import Conflict, Invalid, NotFound
from service.http_deps import actor_of, reader_locale
from service.i18n import N_, format_moment, supported, translate
from service.providers import registry
from service.providers.base import Outcome
from service.providers.mail import send_email
from service.settings import Settings

UserStatus = Literal["active", "invited", "disabled"]

SUBJECTS = {
    LinkPurpose.invite: N_("You are invited to Relay"),
    LinkPurpose.reset: N_("Choose a new Relay password"),
}
TEXTS = {
    LinkPurpose.invite: N_(
        "Hello %(name)s,\n\n"
        "You have been given an account on Relay, the answering service's back office, "
        "to sign in with as %(email)s. Choose your password at this address:\n\n"
        "%(url)s\n\n"
        "The link works once, until %(expires)s. If you did not expect this email, ignore it."
    ),
    LinkPurpose.reset: N_(
        "Hello %(name)s,\n\n"
        "A new password was asked for your Relay account (%(email)s). Choose it at this "
        "address:\n\n"
        "%(url)s\n\n"
        "The link works once, until %(expires)s. If you did not ask for it, ignore this "
        "email: your password stays as it is."
    ),
}


@dataclass(frozen=True)
class LinkDelivery:
    """What became of a link's email; `url` is given only when the email did not go out."""

    sent: bool
    outbox: bool
    expires_at: datetime
    url: str | None


def link_url(*, settings: Settings, purpose: LinkPurpose, token: str) -> str:
    """The link's full address, as sent."""
    return settings.public_base_url.rstrip("/") + link_path(purpose=purpose, token=token)


def deliver_link(
    *,
    request: Request,
    session: Session,
    user: User,
    issued: IssuedLink,
    locale: str,
) -> LinkDelivery:
    """Commit what the request did so far, then email `user` their link.

    Called from a route's worker thread. The request's transaction is committed first, so the
    link exists before anyone can follow it and no database lock is held while the mail goes
    out (the dev outbox writes in a transaction of its own).
    """
    settings: Settings = request.app.state.settings
    engine: Engine = request.app.state.engine
    session.commit()
    purpose = issued.link.purpose
    url = link_url(settings=settings, purpose=purpose, token=issued.token)
    language = supported(user.locale or locale)
    values = {
        "name": user.display_name or user.email,
        "email": user.email,
        "url": url,
        "expires": format_moment(
            issued.link.expires_at, locale=language, zone=ZoneInfo(settings.timezone)
        ),
    }
    result = anyio.from_thread.run(
        lambda: send_email(
            settings=settings,
            engine=engine,
            reference=issued.link.id,
            to=user.email,
            subject=translate(language, SUBJECTS[purpose]),
            text=translate(language, TEXTS[purpose]) % values,
            locale=language,
        )
    )
    sent = result.outcome == Outcome.sent
    outbox = Channel.email in registry.outbox_channels(settings=settings)
    return LinkDelivery(
        sent=sent, outbox=outbox, expires_at=issued.link.expires_at, url=None if sent else url
    )


def user_status(user: User) -> UserStatus:
    """How a user stands: active, invited (no password yet) or disabled."""
    if not user.active:
        return "disabled"
    return "invited" if not user.password_hash else "active"


def company_id_for(session: Session, slug: str | None) -> str | None:
    """The id of the company `slug` names; 422 unknown_client when none does."""
    if not slug:
        return None
    company = get_company(session=session, slug=slug)
    if company is None:
        raise Invalid(
            N_("No client company %(slug)s."), field="client", code="unknown_client", slug=slug
        )
    return company.id


def find_user(session: Session, user_id: str) -> User:
    """The user with this id; 404 when there is none."""
    user = session.get(User, user_id) if len(user_id) <= 32 else None
    if user is None:
        raise NotFound(N_("No such user."))
    return user


def link_lifetime(request: Request) -> timedelta:
    """How long a new invitation or reset link works (RELAY_INVITE_HOURS)."""
    settings: Settings = request.app.state.settings
    return timedelta(hours=settings.invite_hours)


def _target(user: User) -> str:
    return f"user:{user.email}"


def invite(
    *,
    request: Request,
    session: Session,
    admin: User,
    email: str,
    role: Role,
    client: str | None,
    name: str | None,
    locale: str | None,
) -> tuple[invitations.Invitation, LinkDelivery]:
    """Invite someone (again, if they never came), record it, and email them their link."""
    company_id = company_id_for(session, client)
    invitation = invitations.invite_user(
        session=session,
        email=email,
        role=role,
        company_id=company_id,
        display_name=name or "",
        locale=locale,
        lifetime=link_lifetime(request),
    )
    detail = {"role": role.value, "again": "no" if invitation.created else "yes"}
    if client:
        detail["client"] = client
    audit.record(
        session=session,
        actor=actor_of(request, admin),
        action=audit.Action.user_invited,
        target=_target(invitation.user),
        company_id=company_id,
        detail=detail,
    )
    delivery = deliver_link(
        request=request,
        session=session,
        user=invitation.user,
        issued=invitation.issued,
        locale=reader_locale(request),
    )
    return invitation, delivery


def send_reset(*, request: Request, session: Session, admin: User, user: User) -> LinkDelivery:
    """Email `user` a link to choose a new password (a fresh invitation if they never came)."""
    if not user.active:
        raise Conflict(N_("This user is disabled."), code="user_disabled")
    purpose = LinkPurpose.invite if invitations.is_invited(user) else LinkPurpose.reset
    issued = invitations.issue_link(
        session=session, user=user, purpose=purpose, lifetime=link_lifetime(request)
    )
    audit.record(
        session=session,
        actor=actor_of(request, admin),
        action=audit.Action.password_reset_sent,
        target=_target(user),
        company_id=user.company_id,
        detail={"link": purpose.value},
    )
    return deliver_link(
        request=request, session=session, user=user, issued=issued, locale=reader_locale(request)
    )


def change(
    *,
    request: Request,
    session: Session,
    admin: User,
    user: User,
    disabled: bool | None = None,
    role: Role | None = None,
    client: str | None = None,
    client_given: bool = False,
    name: str | None = None,
    locale: str | None = None,
    locale_given: bool = False,
) -> None:
    """Apply an admin's change to `user` and record each act in the audit trail."""
    actor = actor_of(request, admin)
    company_id = company_id_for(session, client) if client_given else None
    new_role = role if role is not None else user.role
    if client_given and client is None and new_role == Role.client:
        raise Invalid(
            N_("A client user must belong to a client company."), field="client", code="missing"
        )
    changed = auth.change_user(
        session=session,
        user=user,
        role=role,
        company_id=company_id,
        display_name=name,
        locale=locale,
        locale_given=locale_given,
    )
    if changed:
        detail = {"changed": ",".join(changed)}
        if "role" in changed:
            detail["role"] = user.role.value
        if "client" in changed:
            detail["client"] = client or ""
        audit.record(
            session=session,
            actor=actor,
            action=audit.Action.user_changed,
            target=_target(user),
            company_id=user.company_id,
            detail=detail,
        )
    if disabled is True and auth.disable_user(session=session, user=user):
        audit.record(
            session=session,
            actor=actor,
            action=audit.Action.user_disabled,
            target=_target(user),
            company_id=user.company_id,
        )
    elif disabled is False and auth.enable_user(session=session, user=user):
        audit.record(
            session=session,
            actor=actor,
            action=audit.Action.user_enabled,
            target=_target(user),
            company_id=user.company_id,
        )


def create_token(
    *,
    request: Request,
    session: Session,
    admin: User,
    user: User,
    name: str,
    expires_at: datetime | None,
) -> tuple[str, ApiToken]:
    """A new API token for `user`, recorded (without its secret) in the audit trail."""
    secret, row = auth.issue_api_token(session=session, user=user, name=name, expires_at=expires_at)
    detail = {"token_id": row.id, "name": row.name}
    if row.expires_at is not None:
        detail["expires_at"] = row.expires_at.isoformat()
    audit.record(
        session=session,
        actor=actor_of(request, admin),
        action=audit.Action.token_created,
        target=_target(user),
        company_id=user.company_id,
        detail=detail,
    )
    return secret, row


def revoke_token(*, request: Request, session: Session, admin: User, token: ApiToken) -> User:
    """Revoke `token` (once), recorded in the audit trail; the token's user."""
    user = find_user(session, token.user_id)
    if auth.revoke_api_token(session=session, token=token):
        audit.record(
            session=session,
            actor=actor_of(request, admin),
            action=audit.Action.token_revoked,
            target=_target(user),
            company_id=user.company_id,
            detail={"token_id": token.id, "name": token.name},
        )
    return user


def find_token(session: Session, token_id: str) -> ApiToken:
    """The API token with this id; 404 when there is none."""
    token = session.get(ApiToken, token_id) if len(token_id) <= 32 else None
    if token is None:
        raise NotFound(N_("No such API token."))
    return token
