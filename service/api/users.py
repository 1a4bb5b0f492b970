"""Users and their API tokens, for admins: invite, change, disable, reset, tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from service import clock
from service.auth import service as auth
from service.auth.models import ApiToken, Role, User
from service.companies.models import Company
from service.http_deps import CurrentAdmin, SessionDep
from service.i18n import LOCALES
from service.web.csrf import verify_csrf
from service.web.user_acts import (
    LinkDelivery,
    UserStatus,
    change,
    company_id_for,
    create_token,
    find_token,
    find_user,
    invite,
    revoke_token,
    send_reset,
    user_status,
)

router = APIRouter(prefix="/api/v1", tags=["users"], dependencies=[Depends(verify_csrf)])

_LOCALE = f"The language the user reads pages in ({', '.join(LOCALES)}); null: their browser's."


class UserOut(BaseModel):
    """A user as admins see them."""

    id: str
    email: str
    name: str = Field(description="The display name.")
    role: Role
    client: str | None = Field(description="A client user's company (its slug); null for staff.")
    locale: str | None = Field(description=_LOCALE)
    status: UserStatus = Field(
        description="`invited`: has not chosen a password yet; `disabled`: may not sign in."
    )
    created_at: datetime


class UserList(BaseModel):
    items: list[UserOut]


class LinkOut(BaseModel):
    """What became of the email carrying a one-time link to set a password."""

    sent: bool = Field(description="Whether the email provider accepted the email.")
    outbox: bool = Field(description="Whether email goes to the dev outbox, not out.")
    expires_at: datetime
    link: str | None = Field(
        description="The link itself, only when the email could not be sent: shown this once."
    )


class UserInvited(UserOut):
    invitation: LinkOut


class UserCreate(BaseModel):
    """Who to invite; they get an email with a one-time link to choose their password."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, examples=["tanaka@relay.example"])
    role: Role
    client: str | None = Field(
        default=None, max_length=64, description="The company of a client user (its slug)."
    )
    name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, description=_LOCALE)


class UserChange(BaseModel):
    """What to change of a user; a key left out is left as it is."""

    model_config = ConfigDict(extra="forbid")

    disabled: bool | None = Field(
        default=None,
        description="true ends every session and API token of the user at once.",
    )
    role: Role | None = None
    client: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, description=_LOCALE)


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["CRM integration"])
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the token stops working; null: never."
    )


class TokenOut(BaseModel):
    """An API token, without its secret."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="Noted to the minute.")
    expires_at: datetime | None
    expired: bool


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself, shown this once: Authorization: Bearer …")


class TokenList(BaseModel):
    items: list[TokenOut]


def _slugs(session: Session, users: list[User]) -> dict[str, str]:
    wanted = {user.company_id for user in users if user.company_id}
    if not wanted:
        return {}
    rows = session.exec(select(Company.id, Company.slug).where(col(Company.id).in_(wanted)))
    return dict(rows.all())


def user_out(session: Session, user: User, slugs: dict[str, str] | None = None) -> UserOut:
    """`user` as the API shows them."""
    if slugs is None:
        slugs = _slugs(session, [user])
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.display_name,
        role=user.role,
        client=slugs.get(user.company_id) if user.company_id else None,
        locale=user.locale,
        status=user_status(user),
        created_at=user.created_at,
    )


def token_out(token: ApiToken) -> TokenOut:
    """`token` without its secret."""
    return TokenOut(
        id=token.id,
        name=token.name,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        expires_at=token.expires_at,
        expired=token.expires_at is not None and token.expires_at <= clock.now(),
    )


def link_out(delivery: LinkDelivery) -> LinkOut:
    return LinkOut(
        sent=delivery.sent,
        outbox=delivery.outbox,
        expires_at=delivery.expires_at,
        link=delivery.url,
    )


@router.get("/users", response_model=UserList)
def list_users(
    session: SessionDep,
    _admin: CurrentAdmin,
    role: Role | None = None,
    client: Annotated[str | None, Query(max_length=64, description="a company's slug")] = None,
    q: Annotated[str | None, Query(max_length=200, description="part of an email or name")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> UserList:
    """Users by email; `?role=`, `?client=` (a slug) and `?q=` (part of an email or name)."""
    company_id = company_id_for(session, client)
    users = auth.list_users(
        session=session, role=role, company_id=company_id, search=q, limit=limit
    )
    slugs = _slugs(session, users)
    return UserList(items=[user_out(session, user, slugs) for user in users])


@router.post(
    "/users",
    response_model=UserInvited,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": UserInvited, "description": "invited again"}},
)
def create_user(
    body: UserCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    admin: CurrentAdmin,
) -> UserInvited:
    """Invite a user by email (201); a user invited before who never came is invited again (200)."""
    invitation, delivery = invite(
        request=request,
        session=session,
        admin=admin,
        email=body.email,
        role=body.role,
        client=body.client,
        name=body.name,
        locale=body.locale,
    )
    if not invitation.created:
        response.status_code = status.HTTP_200_OK
    shown = user_out(session, invitation.user)
    return UserInvited(**shown.model_dump(), invitation=link_out(delivery))


@router.get("/users/{user_id}", response_model=UserOut)
def read_user(user_id: str, session: SessionDep, _admin: CurrentAdmin) -> UserOut:
    """One user."""
    return user_out(session, find_user(session, user_id))


@router.patch("/users/{user_id}", response_model=UserOut)
def patch_user(
    user_id: str, body: UserChange, request: Request, session: SessionDep, admin: CurrentAdmin
) -> UserOut:
    """Change a user's role, company, name or language, or disable (or enable) them."""
    user = find_user(session, user_id)
    given = body.model_fields_set
    change(
        request=request,
        session=session,
        admin=admin,
        user=user,
        disabled=body.disabled,
        role=body.role,
        client=body.client,
        client_given="client" in given,
        name=body.name,
        locale=body.locale,
        locale_given="locale" in given,
    )
    return user_out(session, user)


@router.post("/users/{user_id}/password-reset", response_model=LinkOut)
def password_reset(
    user_id: str, request: Request, session: SessionDep, admin: CurrentAdmin
) -> LinkOut:
    """Email the user a one-time link to choose a new password."""
    user = find_user(session, user_id)
    return link_out(send_reset(request=request, session=session, admin=admin, user=user))


@router.get("/users/{user_id}/tokens", response_model=TokenList)
def list_tokens(user_id: str, session: SessionDep, _admin: CurrentAdmin) -> TokenList:
    """The user's API tokens that are not revoked, newest first."""
    user = find_user(session, user_id)
    return TokenList(
        items=[token_out(row) for row in auth.list_api_tokens(session=session, user=user)]
    )


@router.post(
    "/users/{user_id}/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED
)
def post_token(
    user_id: str, body: TokenCreate, request: Request, session: SessionDep, admin: CurrentAdmin
) -> TokenCreated:
    """A new API token for the user; the token is in this answer only."""
    user = find_user(session, user_id)
    secret, row = create_token(
        request=request,
        session=session,
        admin=admin,
        user=user,
        name=body.name,
        expires_at=body.expires_at,
    )
    return TokenCreated(**token_out(row).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_token(
    token_id: str, request: Request, session: SessionDep, admin: CurrentAdmin
) -> Response:
    """Revoke an API token: from now on it is refused with 401 bad_token."""
    revoke_token(request=request, session=session, admin=admin, token=find_token(session, token_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
