"""The bureau's two-factor switch (whether admins and operators must sign in with a code), and
an admin removing a user's two-factor sign-in when they have lost both phone and recovery codes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from service.audit.service import Action, Actor
from service.audit.service import record as audit_record
from service.auth import totp
from service.auth.models import TwoFactorPolicy, User
from service.errors import NotFound
from service.http_deps import CurrentAdmin, SessionDep
from service.i18n import N_
from service.web.auth_pages import request_ip
from service.web.csrf import verify_csrf

router = APIRouter(prefix="/api/v1", tags=["settings"], dependencies=[Depends(verify_csrf)])

_REQUIRED = (
    "Whether admins and operators must sign in with a code after the password. Staff who "
    "have not enrolled are sent to enrol right after their password, and can do nothing else "
    "until they have; turning it on also ends their open browser sessions."
)


class TwoFactorSetting(BaseModel):
    """The bureau-wide two-factor switch."""

    required_for_staff: bool = Field(description=_REQUIRED)
    updated_at: str | None = Field(description="When an admin last set it; null: never.")
    updated_by: str | None = Field(description="The email of the admin who last set it.")


class TwoFactorSettingChange(BaseModel):
    """The switch as an admin sets it."""

    model_config = ConfigDict(extra="forbid")

    required_for_staff: bool = Field(description=_REQUIRED, examples=[True])


def _setting(session: Session) -> TwoFactorSetting:
    policy = session.get(TwoFactorPolicy, 1)
    return TwoFactorSetting(
        required_for_staff=totp.required_for_staff(session=session),
        updated_at=policy.updated_at.isoformat() if policy and policy.updated_at else None,
        updated_by=policy.updated_by if policy else None,
    )


@router.get("/settings/two-factor", response_model=TwoFactorSetting)
def get_two_factor_setting(admin: CurrentAdmin, session: SessionDep) -> TwoFactorSetting:
    """Whether the bureau requires two-factor sign-in for staff."""
    return _setting(session)


@router.put("/settings/two-factor", response_model=TwoFactorSetting)
def put_two_factor_setting(
    body: TwoFactorSettingChange, request: Request, admin: CurrentAdmin, session: SessionDep
) -> TwoFactorSetting:
    """Require (or stop requiring) two-factor sign-in for admins and operators."""
    if totp.set_required_for_staff(session=session, required=body.required_for_staff, by=admin):
        audit_record(
            session=session,
            actor=Actor(name=admin.email, user_id=admin.id, ip=request_ip(request)),
            action=Action.two_factor_policy_changed,
            target="settings:two-factor",
            detail={"required_for_staff": "true" if body.required_for_staff else "false"},
        )
    return _setting(session)


@router.delete(
    "/users/{user_id}/two-factor",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def delete_user_two_factor(
    user_id: str, request: Request, admin: CurrentAdmin, session: SessionDep
) -> Response:
    """Turn off a user's two-factor sign-in (phone and codes lost): they may enrol again."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No such user."))
    if totp.is_enabled(session=session, user=user):
        totp.remove(session=session, user=user)
        audit_record(
            session=session,
            actor=Actor(name=admin.email, user_id=admin.id, ip=request_ip(request)),
            action=Action.two_factor_removed,
            target=f"user:{user.email}",
            company_id=user.company_id,
            detail={"by": "admin"},
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
