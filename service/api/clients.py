"""JSON routes of the client directory: read by staff and client users, written by admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_serializer
from sqlmodel import Session

from service.auth.models import Role, User
from service.companies import service
from service.companies.config import CompanyConfig
from service.companies.models import Company
from service.companies.validation import validate_document
from service.errors import Invalid, NotFound, RelayError
from service.http_deps import CurrentAdmin, CurrentUser, SessionDep, actor_of
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


def etag(company: Company) -> str:
    """The entity tag of a company's current version, e.g. `"v7"`."""
    return f'"v{company.version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version an `If-Match` header names (`"v7"`, `W/"v7"`, `v7` or `7`); None if absent.

    A value that names no version of this form can never match: it is version 0.
    """
    if if_match is None or not if_match.strip() or if_match.strip() == "*":
        return None
    value = if_match.split(",")[0].strip().removeprefix("W/").strip('"').strip()
    value = value.removeprefix("v")
    return int(value) if value.isdecimal() and len(value) < 10 else 0


def company_for(*, session: Session, slug: str, user: User) -> Company:
    """The company at `slug` as `user` may see it, else 404."""
    company = service.get_company(session=session, slug=slug)
    if company is None or not _visible(user, company):
        raise NotFound(N_("No client company %(slug)s."), slug=slug)
    return company


def answer(company: Company, response: Response, *, session: Session) -> dict[str, Any]:
    """The company as answered, its version's ETag set on `response`."""
    response.headers["ETag"] = etag(company)
    return _as_json(company, opted_out_numbers(session=session))


def _visible(user: User, company: Company) -> bool:
    # A client user sees its own company only; staff see every company.
    return user.role != Role.client or user.company_id == company.id


# Unset parts of a document stay out of the answer, as they are out of the stored document.
@router.get("/clients", response_model=CompanyList, response_model_exclude_unset=True)
def list_clients(user: CurrentUser, session: SessionDep) -> Response:
    """Client companies with greeting, script, fields, contacts and routing."""
    companies = service.list_companies(session=session)
    opted_out = opted_out_numbers(session=session)
    items = [_as_json(c, opted_out) for c in companies if _visible(user, c)]
    # Stored documents were validated when saved: answered as stored, rather than validated
    # again one by one (most of the time of a list of a thousand companies).
    return JSONResponse({"items": items})


@router.get("/clients/{slug}", response_model=CompanyOut, response_model_exclude_unset=True)
def get_client(
    slug: str, user: CurrentUser, session: SessionDep, response: Response
) -> dict[str, Any]:
    """One client company; its `ETag` names its version, for `If-Match` on a later PUT."""
    company = company_for(session=session, slug=slug, user=user)
    return answer(company, response, session=session)


@router.put(
    "/clients/{slug}",
    response_model=CompanyOut,
    response_model_exclude_unset=True,
    responses={
        200: {"description": "replaced"},
        201: {"model": CompanyOut, "description": "created"},
        409: {"description": "`phone_number_taken`: a number belongs to another company"},
        412: {"description": "`version_conflict`: `If-Match` names a version since replaced"},
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
    request: Request,
    response: Response,
    if_match: Annotated[
        str | None,
        Header(description='the ETag of the version edited (`"v7"`); a newer one is 412'),
    ] = None,
    if_none_match: Annotated[
        str | None, Header(description="`*`: create only; 412 if the company exists")
    ] = None,
) -> dict[str, Any]:
    """Create or replace a client company; a change is kept as a new version.

    With `If-Match`, nothing is saved unless it names the current version (else 412
    `version_conflict`, naming who saved the newer one and when).
    """
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
    if if_none_match is not None and if_none_match.strip() == "*":
        existing = service.get_company(session=session, slug=slug)
        if existing is not None:
            raise RelayError(
                N_("%(slug)s already exists; open it and edit it instead."),
                status=412,
                code="company_exists",
                field="slug",
                slug=slug,
            )
    config = validate_document(document)
    outcome = service.save_company(
        session=session,
        config=config,
        changed_by=admin.email,
        expected_version=expected_version(if_match),
        actor=actor_of(request, admin),
    )
    if outcome.action == service.SaveAction.created:
        response.status_code = status.HTTP_201_CREATED
    return answer(outcome.company, response, session=session)
