"""JSON routes of the client directory: read by staff and client users, written by admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response, status
from pydantic import BaseModel, Field, field_serializer

from service.auth.models import Role, User
from service.companies import service
from service.companies.config import CompanyConfig
from service.companies.models import Company
from service.companies.validation import validate_document
from service.errors import Invalid, NotFound
from service.http_deps import CurrentAdmin, CurrentUser, SessionDep
from service.i18n import N_
from service.routing.optouts import opted_out_numbers
from service.web.csrf import verify_csrf

router = APIRouter(prefix="/api/v1", tags=["clients"], dependencies=[Depends(verify_csrf)])


class CompanyOut(CompanyConfig):
    """A company as answered: its §4 document, plus its version and when it last changed."""

    version: int
    updated_at: datetime = Field(json_schema_extra={"format": "date-time"})
    sms_opted_out: list[str]

    @field_serializer("updated_at", when_used="json")
    def _as_stored(self, moment: datetime) -> str:
        # With its offset as written (2026-01-05T00:00:00+00:00), not pydantic's Z.
        return moment.isoformat()


class CompanyList(BaseModel):
    """The client companies the asking user may see."""

    items: list[CompanyOut]


_EXAMPLE: dict[str, Any] = {
    "name": "さくら歯科クリニック",
    "phone_numbers": ["+815012345678"],
    "locale": "ja",
    "greeting": "お電話ありがとうございます。さくら歯科クリニックでございます。",
    "script": [{"say": "担当者が不在のため、ご用件を承ります。"}],
    "contacts": [{"key": "office", "name": "受付", "email": "uketsuke@example.jp"}],
    "routing": [{"notify": ["office"], "channels": ["email"]}],
}


# Answered alongside the document, ignored when a document comes back in a PUT.
READ_ONLY_KEYS = ("version", "updated_at", "sms_opted_out")


def _as_json(company: Company, opted_out: frozenset[str] = frozenset()) -> dict[str, Any]:
    contacts = company.config.get("contacts", [])
    return {
        **company.config,
        "version": company.version,
        "updated_at": company.updated_at.isoformat(),
        # Contacts whose phone replied STOP: no SMS reaches them until they reply START.
        "sms_opted_out": [c["key"] for c in contacts if c.get("phone") in opted_out],
    }


def _visible(user: User, company: Company) -> bool:
    # A client user sees its own company only; staff see every company.
    return user.role != Role.client or user.company_id == company.id


# Unset parts of a document stay out of the answer, as they are out of the stored document.
@router.get("/clients", response_model=CompanyList, response_model_exclude_unset=True)
def list_clients(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Client companies with greeting, script, fields, contacts and routing."""
    companies = service.list_companies(session=session)
    opted_out = opted_out_numbers(session=session)
    return {"items": [_as_json(c, opted_out) for c in companies if _visible(user, c)]}


@router.get("/clients/{slug}", response_model=CompanyOut, response_model_exclude_unset=True)
def get_client(slug: str, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """One client company."""
    company = service.get_company(session=session, slug=slug)
    if company is None or not _visible(user, company):
        raise NotFound(N_("No client company %(slug)s."), slug=slug)
    return _as_json(company, opted_out_numbers(session=session))


@router.put(
    "/clients/{slug}",
    response_model=CompanyOut,
    response_model_exclude_unset=True,
    responses={
        200: {"description": "replaced"},
        201: {"model": CompanyOut, "description": "created"},
        409: {"description": "`phone_number_taken`: a number belongs to another company"},
        422: {"description": "`invalid_company`: `errors` lists each field and reason"},
    },
)
def put_client(
    slug: str,
    document: Annotated[
        dict[str, Any],
        Body(
            description="the company as docs/clients.md describes it; `slug` may be left out",
            examples=[_EXAMPLE],
        ),
    ],
    admin: CurrentAdmin,
    session: SessionDep,
    response: Response,
) -> dict[str, Any]:
    """Create or replace a client company; a change is kept as a new version."""
    for key in READ_ONLY_KEYS:
        document.pop(key, None)
    body_slug = document.setdefault("slug", slug)
    if body_slug != slug:
        raise Invalid(
            N_("%(given)s differs from the slug in the address (%(slug)s)."),
            field="slug",
            code="slug_mismatch",
            given=body_slug,
            slug=slug,
        )
    config = validate_document(document)
    outcome = service.save_company(session=session, config=config, changed_by=admin.email)
    if outcome.action == service.SaveAction.created:
        response.status_code = status.HTTP_201_CREATED
    return _as_json(outcome.company, opted_out_numbers(session=session))
