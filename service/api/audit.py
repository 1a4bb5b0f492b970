"""The audit trail, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col, select

from service.api.values import ZonedTime
from service.audit import service as audit
from service.audit.schema import AuditItem, AuditPage
from service.companies.models import Company
from service.companies.service import get_company
from service.errors import Invalid
from service.http_deps import CurrentAdmin, SessionDep
from service.i18n import N_

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit", response_model=AuditPage)
def read_audit(
    session: SessionDep,
    _admin: CurrentAdmin,
    actor: Annotated[str | None, Query(max_length=320)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    company: Annotated[str | None, Query(max_length=64, description="a company's slug")] = None,
    since: ZonedTime | None = None,
    until: ZonedTime | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:
    """Who did what and when, newest first; filtered by person, action, company and time."""
    company_id = None
    if company:
        found = get_company(session=session, slug=company)
        if found is None:
            raise Invalid(
                N_("No client company %(slug)s."),
                field="company",
                code="unknown_client",
                slug=company,
            )
        company_id = found.id
    rows, next_cursor = audit.list_entries(
        session=session,
        actor=actor,
        action=action,
        company_id=company_id,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    wanted = {row.company_id for row in rows if row.company_id}
    slugs = (
        dict(
            session.exec(select(Company.id, Company.slug).where(col(Company.id).in_(wanted))).all()
        )
        if wanted
        else {}
    )
    return AuditPage(
        items=[
            AuditItem(
                at=row.at,
                actor=row.actor,
                action=row.action,
                target=row.target,
                company=slugs.get(row.company_id) if row.company_id else None,
                detail=row.detail,
                ip=row.ip,
            )
            for row in rows
        ],
        next_cursor=next_cursor,
    )
