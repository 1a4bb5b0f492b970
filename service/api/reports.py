"""A period's figures, for staff across companies and for a client company on its own; and the
monthly statement per company for billing, for admins."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response

from service import clock
from service.audit import service as audit
from service.auth.models import Role
from service.companies.models import Company
from service.companies.service import get_company
from service.errors import Forbidden, Invalid, NotFound
from service.http_deps import CurrentAdmin, CurrentUser, SessionDep, actor_of, reader_locale
from service.i18n import N_
from service.reports.figures import period_report, period_start
from service.reports.schema import Period, Report
from service.reports.statement import monthly_statement, statement_csv
from service.settings import Settings
from service.web.memo_view import company_view

router = APIRouter(prefix="/api/v1", tags=["reports"])

# The days a report may start in: wide enough for any history, narrow enough that a period
# and the one before it are always inside the calendar.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
PRIVATE_HEADERS = {"Cache-Control": "no-store"}


def _company(session: SessionDep, slug: str) -> Company:
    company = get_company(session=session, slug=slug)
    if company is None:
        raise NotFound(N_("No company by that name."), field="company")
    return company


def _in_range(day: date, *, field: str) -> date:
    if not EARLIEST <= day <= LATEST:
        raise Invalid(
            N_("Choose a date between %(first)s and %(last)s."),
            field=field,
            code="out_of_range",
            first=EARLIEST.isoformat(),
            last=LATEST.isoformat(),
        )
    return day


def _without_flags(report: Report) -> Report:
    # The bureau's flags on callers are its own: a client company sees neither list nor mark.
    return report.model_copy(
        update={
            "flagged_callers": [],
            "repeat_callers": [
                caller.model_copy(update={"flagged": False}) for caller in report.repeat_callers
            ],
        }
    )


@router.get(
    "/reports",
    response_model=Report,
    responses={
        404: {"description": "`not_found`: no company has that slug"},
        422: {"description": "`out_of_range`: a start outside 2000-01-01 … 2100-12-31"},
    },
)
def read_report(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    period: Period = "month",
    start: Annotated[
        date | None, Query(description="any day of the period; today's period without one")
    ] = None,
    company: Annotated[
        str | None,
        Query(max_length=64, description="a company's slug; the whole bureau without one"),
    ] = None,
) -> Report:
    """The figures of one day, week (from Monday) or month, in the company's zone (the bureau's
    without a company). A client user always gets their own company's, without caller flags."""
    chosen: Company | None = None
    if user.role == Role.client:
        chosen = session.get(Company, user.company_id) if user.company_id else None
        if chosen is None:
            raise Forbidden(N_("Your role may not do this."))
    elif company:
        chosen = _company(session, company)
    if chosen is not None:
        view = company_view(chosen)
        zone, country = view.zone, view.country
    else:
        settings: Settings = request.app.state.settings
        zone, country = ZoneInfo(settings.timezone), "JP"
    day = _in_range(start or clock.now().astimezone(zone).date(), field="start")
    report = period_report(
        session=session,
        company_id=chosen.id if chosen is not None else None,
        period=period,
        start=period_start(period=period, day=day),
        tz=zone,
        country=country,
    )
    return _without_flags(report) if user.role == Role.client else report


@router.get(
    "/reports/statement",
    response_class=Response,
    responses={
        200: {
            "description": "one row per company (or the one asked for), UTF-8 with a BOM",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        404: {"description": "`not_found`: no company has that slug"},
        422: {"description": "`out_of_range`: a month outside 2000-01 … 2100-12"},
    },
)
def read_statement(
    request: Request,
    session: SessionDep,
    user: CurrentAdmin,
    month: Annotated[
        str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM, e.g. 2026-11")
    ],
    company: Annotated[str | None, Query(max_length=64, description="a company's slug")] = None,
) -> Response:
    """The month's statement for billing as CSV, each company's month in its own zone; every
    download is audited."""
    # Year 0 is outside what a date holds; as year 1 it is refused as out of range like 1999.
    year = max(int(month[:4]), 1)
    first = _in_range(date(year, int(month[5:]), 1), field="month")
    chosen = _company(session, company) if company else None
    rows = monthly_statement(
        session=session, month=first, company_id=chosen.id if chosen is not None else None
    )
    audit.record(
        session=session,
        actor=actor_of(request, user),
        action=audit.Action.exported,
        target=f"statement:{month}",
        company_id=chosen.id if chosen is not None else None,
        detail={
            "format": "csv",
            "scope": chosen.slug if chosen is not None else "bureau",
            "companies": str(len(rows)),
        },
    )
    scope = chosen.slug if chosen is not None else "all"
    filename = f"relay-statement-{month}-{scope}.csv"
    return Response(
        content=statement_csv(rows, locale=reader_locale(request)),
        media_type="text/csv; charset=utf-8",
        headers={**PRIVATE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )
