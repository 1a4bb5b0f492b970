"""The secret store, for admins: credentials set write-only; names and when each was set."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.http_deps import CurrentAdmin, SessionDep, SettingsDep, actor_of
from service.secrets import service as secrets
from service.web.csrf import verify_csrf

router = APIRouter(prefix="/api/v1", tags=["secrets"], dependencies=[Depends(verify_csrf)])


class SecretOut(BaseModel):
    """A stored secret, never its value."""

    name: str = Field(examples=["acme-chatwork"])
    set_at: datetime = Field(description="When its value was last set.")
    set_by: str = Field(description="Who set it: the admin's email.")


class SecretList(BaseModel):
    items: list[SecretOut]


class SecretValue(BaseModel):
    """A secret's new value: kept encrypted, never shown again."""

    model_config = ConfigDict(extra="forbid")

    value: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16384)
    ] = Field(
        description="A bot token, a signing secret, a webhook URL with its key, a private key "
        "(PEM); surrounding whitespace is dropped."
    )


def secret_out(info: secrets.SecretInfo) -> SecretOut:
    return SecretOut(name=info.name, set_at=info.set_at, set_by=info.set_by)


@router.get("/secrets", response_model=SecretList)
def list_secrets(session: SessionDep, _admin: CurrentAdmin) -> SecretList:
    """Every stored secret by name, with when and by whom it was set; never a value."""
    return SecretList(items=[secret_out(info) for info in secrets.list_secrets(session=session)])


@router.put("/secrets/{name}", response_model=SecretOut)
def put_secret(
    name: str,
    body: SecretValue,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    admin: CurrentAdmin,
) -> SecretOut:
    """Set (or replace) the value of a secret; the next send uses it, no restart needed."""
    info = secrets.set_secret(
        session=session,
        name=secrets.check_name(name),
        value=body.value,
        settings=settings,
        actor=actor_of(request, admin),
    )
    return secret_out(info)


@router.delete("/secrets/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_secret(
    name: str, request: Request, session: SessionDep, admin: CurrentAdmin
) -> Response:
    """Forget a secret; a destination naming it fails until it is set again."""
    secrets.delete_secret(
        session=session, name=secrets.check_name(name), actor=actor_of(request, admin)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
