"""The signed-in user's own account: who they are, and the language they read pages in."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session

from service.auth import service as auth
from service.auth.models import Role, User
from service.companies.models import Company
from service.errors import Invalid
from service.http_deps import CurrentUser, SessionDep
from service.i18n import LOCALES, N_
from service.web.csrf import verify_csrf

router = APIRouter(prefix="/api/v1", tags=["me"], dependencies=[Depends(verify_csrf)])

_LOCALE_DESCRIPTION = (
    f"The language the user reads pages in ({', '.join(LOCALES)}); null: their browser's "
    "Accept-Language."
)


class Me(BaseModel):
    """The signed-in user, as they see themselves."""

    id: str
    email: str
    name: str = Field(description="The display name.")
    role: Role
    client: str | None = Field(description="A client user's company (its slug); null for staff.")
    locale: str | None = Field(description=_LOCALE_DESCRIPTION)


class MeChange(BaseModel):
    """What a user may change of their own account; a key left out is left as it is."""

    model_config = ConfigDict(extra="forbid")

    locale: str | None = Field(default=None, description=_LOCALE_DESCRIPTION, examples=["en"])

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str | None) -> str | None:
        if value is not None and value not in LOCALES:
            raise Invalid(
                N_("Choose one of: %(expected)s."),
                code="not_a_choice",
                expected=", ".join((*LOCALES, "null")),
            )
        return value


def _me(session: Session, user: User) -> Me:
    company = session.get(Company, user.company_id) if user.company_id else None
    return Me(
        id=user.id,
        email=user.email,
        name=user.display_name,
        role=user.role,
        client=company.slug if company is not None else None,
        locale=user.locale,
    )


@router.get("/me", response_model=Me)
def get_me(user: CurrentUser, session: SessionDep) -> Me:
    """Who is asking: their name, role, company and language."""
    return _me(session, user)


@router.patch("/me", response_model=Me)
def patch_me(change: MeChange, user: CurrentUser, session: SessionDep) -> Me:
    """Change the user's own language (`{"locale": "en"}`; null follows the browser)."""
    if "locale" in change.model_fields_set:
        auth.set_user_locale(session=session, user=user, locale=change.locale)
    return _me(session, user)
