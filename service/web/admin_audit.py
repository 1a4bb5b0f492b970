"""The audit trail as a page: who did what and when, filtered as the API filters it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from service.audit import service as audit
from service.companies.service import get_company, list_companies
from service.errors import Invalid, RelayError
from service.http_deps import OptionalUser, SessionDep, reader_locale
from service.i18n import N_, format_moment
from service.settings import Settings
from service.web.pages import ADMIN_ROLES, refusal_page, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100


class AuditRow(BaseModel):
    """One entry as the page shows it."""

    at: str
    actor: str
    action: str
    target: str
    company: str
    detail: str
    ip: str


def _day(text: str | None, *, zone: ZoneInfo, field: str) -> datetime | None:
    """The first moment of the bureau's day `text` (YYYY-MM-DD), in UTC."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        # Not a date, or one whose first moment lies outside the calendar in UTC.
        raise Invalid(N_("Enter a date and time."), field=field, code="not_a_time") from None


@router.get("/admin/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    actor: Annotated[str, Query(max_length=320)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    company: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=32)] = "",
    until: Annotated[str, Query(max_length=32)] = "",
    cursor: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The audit trail, newest first, with its filters as a form a URL can carry."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    settings: Settings = request.app.state.settings
    zone = ZoneInfo(settings.timezone)
    locale = reader_locale(request)
    companies = list_companies(session=session)
    chosen = get_company(session=session, slug=company) if company else None
    problem = None
    rows: list[audit.AuditEntry] = []
    next_cursor = None
    try:
        since_at = _day(since, zone=zone, field="since")
        until_at = _day(until, zone=zone, field="until")
        rows, next_cursor = audit.list_entries(
            session=session,
            actor=actor.strip() or None,
            action=action or None,
            company_id=chosen.id if chosen is not None else ("-" if company else None),
            since=since_at,
            until=until_at,
            cursor=cursor or None,
            limit=PAGE_SIZE,
        )
    except RelayError as error:
        problem = error.text(locale)
    names = {c.id: c.name for c in companies}
    shown = [
        AuditRow(
            at=format_moment(row.at, locale=locale, zone=zone),
            actor=row.actor,
            action=row.action,
            target=row.target,
            company=names.get(row.company_id, "") if row.company_id else "",
            detail=", ".join(f"{key}: {value}" for key, value in sorted(row.detail.items())),
            ip=row.ip or "",
        )
        for row in rows
    ]
    filters = {
        "actor": actor,
        "action": action,
        "company": company,
        "since": since,
        "until": until,
    }
    return render(
        request,
        "admin_audit.html",
        {
            "user": user,
            "rows": shown,
            "filters": filters,
            "actions": [a.value for a in audit.Action],
            "companies": [(c.slug, c.name) for c in companies],
            "next_href": (
                "/admin/audit?" + urlencode({**filters, "cursor": next_cursor})
                if next_cursor
                else None
            ),
            "problem": problem,
            "zone": settings.timezone,
        },
    )
