"""A company's versions: the list, one as it was, a diff between two, and restoring one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from pydantic import BaseModel, Field, field_serializer
from sqlmodel import Session

from service.api.clients import (
    CompanyOut,
    actor_of,
    answer,
    company_for,
    expected_version,
)
from service.companies import service
from service.companies.config import CompanyConfig
from service.companies.models import Company, CompanyVersion
from service.companies.validation import validate_document
from service.companies.versions import diff_lines, document_yaml, summary_text
from service.errors import NotFound
from service.http_deps import CurrentAdmin, SessionDep, reader_locale
from service.i18n import N_
from service.web.csrf import verify_csrf

router = APIRouter(prefix="/api/v1", tags=["clients"], dependencies=[Depends(verify_csrf)])

# A version number as the database holds it (a 32-bit integer).
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="a version of the company")]


class VersionItem(BaseModel):
    """One saved state of a company: which, when, by whom, and what it changed."""

    version: int
    at: datetime = Field(json_schema_extra={"format": "date-time"})
    by: str
    summary: str = Field(description="one line in the reader's language")
    changed: list[str] = Field(description="the top-level keys that differ from the version before")
    restored_from: int | None = Field(description="the version this one brought back")

    @field_serializer("at", when_used="json")
    def _as_stored(self, moment: datetime) -> str:
        return moment.isoformat()


class VersionList(BaseModel):
    """Every version of a company, newest first."""

    items: list[VersionItem]


class VersionDocument(CompanyConfig):
    """A company's document (CONTRACT §4) as it was saved at one version."""

    version: int
    at: datetime = Field(json_schema_extra={"format": "date-time"})
    by: str
    summary: str

    @field_serializer("at", when_used="json")
    def _as_stored(self, moment: datetime) -> str:
        return moment.isoformat()


class DiffLineOut(BaseModel):
    """One line of the YAML of two versions: in both, only in the newer, only in the older."""

    op: Literal["same", "add", "remove"]
    text: str


class VersionDiff(BaseModel):
    """Two versions' YAML, line by line, as `relay clients export` writes it."""

    from_: int = Field(alias="from", serialization_alias="from")
    to: int
    lines: list[DiffLineOut]

    model_config = {"populate_by_name": True}


def _item(version: CompanyVersion, locale: str) -> VersionItem:
    return VersionItem(
        version=version.version,
        at=version.changed_at,
        by=version.changed_by,
        summary=summary_text(
            locale=locale, changed=version.changed, restored_from=version.restored_from
        ),
        changed=version.changed,
        restored_from=version.restored_from,
    )


def _version(*, session: Session, company: Company, version: int, field: str) -> CompanyVersion:
    found = service.version_of(session=session, company=company, version=version)
    if found is None:
        raise NotFound(
            N_("%(slug)s has no version %(version)s."),
            field=field,
            slug=company.slug,
            version=version,
        )
    return found


@router.get("/clients/{slug}/versions", response_model=VersionList)
def list_versions(
    slug: str, admin: CurrentAdmin, session: SessionDep, request: Request
) -> VersionList:
    """Every saved version of a company, newest first, each with who, when and a summary."""
    company = company_for(session=session, slug=slug, user=admin)
    locale = reader_locale(request)
    versions = service.company_versions(session=session, company=company, newest_first=True)
    return VersionList(items=[_item(version, locale) for version in versions])


@router.get(
    "/clients/{slug}/versions/{version}",
    response_model=VersionDocument,
    response_model_exclude_unset=True,
)
def read_version(
    slug: str, version: VersionNumber, admin: CurrentAdmin, session: SessionDep, request: Request
) -> dict[str, Any]:
    """The company's document as it was saved at one version."""
    company = company_for(session=session, slug=slug, user=admin)
    found = _version(session=session, company=company, version=version, field="version")
    item = _item(found, reader_locale(request))
    return {
        **found.config,
        "version": found.version,
        "at": found.changed_at,
        "by": found.changed_by,
        "summary": item.summary,
    }


@router.post(
    "/clients/{slug}/versions/{version}/restore",
    response_model=CompanyOut,
    response_model_exclude_unset=True,
    responses={
        200: {"description": "already the current document: nothing saved"},
        201: {"model": CompanyOut, "description": "restored as a new version"},
        409: {"description": "`phone_number_taken`: a number now belongs to another company"},
        412: {"description": "`version_conflict`: `If-Match` names a version since replaced"},
        422: {"description": "`invalid_company`: the old document breaks a rule of today"},
    },
)
def restore_version(
    slug: str,
    version: VersionNumber,
    admin: CurrentAdmin,
    session: SessionDep,
    request: Request,
    response: Response,
    if_match: Annotated[
        str | None, Header(description="the ETag of the version the restore replaces")
    ] = None,
) -> dict[str, Any]:
    """Save an earlier version again, as a new version (201); its ETag is in the answer."""
    company = company_for(session=session, slug=slug, user=admin)
    found = _version(session=session, company=company, version=version, field="version")
    # Checked like any save: a rule added since, or a number another company took, refuses it.
    config = validate_document(dict(found.config))
    outcome = service.save_company(
        session=session,
        config=config,
        changed_by=admin.email,
        expected_version=expected_version(if_match),
        restored_from=found.version,
        actor=actor_of(request, admin),
    )
    if outcome.action != service.SaveAction.unchanged:
        response.status_code = status.HTTP_201_CREATED
    return answer(outcome.company, response, session=session)


@router.get("/clients/{slug}/diff", response_model=VersionDiff, response_model_by_alias=True)
def diff_versions(
    slug: str,
    admin: CurrentAdmin,
    session: SessionDep,
    from_: Annotated[
        int | None,
        Query(
            alias="from",
            ge=1,
            le=2**31 - 1,
            description="the older version; by default the one before `to`",
        ),
    ] = None,
    to: Annotated[
        int | None,
        Query(ge=1, le=2**31 - 1, description="the newer version; by default the current"),
    ] = None,
) -> VersionDiff:
    """The YAML of two versions line by line: `same`, `add` (only in `to`), `remove`."""
    company = company_for(session=session, slug=slug, user=admin)
    newer = _version(
        session=session,
        company=company,
        version=company.version if to is None else to,
        field="to",
    )
    older_number = max(newer.version - 1, 1) if from_ is None else from_
    older = _version(session=session, company=company, version=older_number, field="from")
    lines = diff_lines(before=document_yaml(older.config), after=document_yaml(newer.config))
    return VersionDiff(
        from_=older.version,
        to=newer.version,
        lines=[DiffLineOut(op=line.op, text=line.text) for line in lines],
    )
