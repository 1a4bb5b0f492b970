"""Report pages: a period's figures with charts, for staff across companies and for each
client company on its own, and each chart's numbers as CSV.

Staff (admins and operators) choose a company or the whole bureau; a client user sees their
own company only, and never the bureau's flags on callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_interval, format_skeleton
from babel.numbers import format_decimal, format_percent
from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session

from service import clock
from service.companies.models import Company
from service.companies.service import get_company, list_companies
from service.errors import BadRequest, Invalid, NotFound
from service.http_deps import OptionalUser, SessionDep
from service.i18n import N_, supported, translate
from service.reports.charts import (
    CHART_NAMES,
    TITLES,
    ChartName,
    category_label,
    chart_csv,
    chart_has_data,
    chart_svg,
    format_duration,
)
from service.reports.figures import period_end, period_report, period_start, previous_start
from service.reports.schema import Durations, Period, Report, Share
from service.settings import Settings
from service.web.caller_pages import caller_url, client_company
from service.web.memo_view import company_view
from service.web.pages import STAFF_ROLES, refusal_page, render
from service.web.security import csp_nonce
from service.web.templating import page_locale

router = APIRouter(include_in_schema=False)

PRIVATE_HEADERS = {"Cache-Control": "no-store"}
# Reports reach back and ahead this far; outside it a date is a typing slip.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)

PERIOD_WORDS: dict[Period, str] = {
    "day": N_("Day"),
    "week": N_("Week"),
    "month": N_("Month"),
}

PeriodQ = Annotated[Period, Query()]
StartQ = Annotated[date | None, Query()]
CompanyQ = Annotated[str | None, Query(max_length=64)]


@dataclass(frozen=True)
class Scope:
    """Whose figures a report page shows, and the zone and country it reads them in."""

    company: Company | None  # None: the whole bureau
    zone: ZoneInfo
    country: str


def _bureau_scope(request: Request) -> Scope:
    settings: Settings = request.app.state.settings
    return Scope(company=None, zone=ZoneInfo(settings.timezone), country="JP")


def _company_scope(company: Company) -> Scope:
    view = company_view(company)
    return Scope(company=company, zone=view.zone, country=view.country)


def _staff_scope(request: Request, session: Session, slug: str | None) -> Scope:
    """The company named by `slug`, or the bureau without one; an unknown slug is refused."""
    if not slug:
        return _bureau_scope(request)
    company = get_company(session=session, slug=slug)
    if company is None:
        raise NotFound(N_("No company by that name."), field="company")
    return _company_scope(company)


def _first_day(scope: Scope, period: Period, start: date | None) -> date:
    """The first day of the period asked for; today's period when none is."""
    day = start if start is not None else clock.now().astimezone(scope.zone).date()
    if not EARLIEST <= day <= LATEST:
        raise BadRequest(
            N_("Choose a date between %(first)s and %(last)s."),
            field="start",
            code="out_of_range",
            first=EARLIEST.isoformat(),
            last=LATEST.isoformat(),
        )
    return period_start(period=period, day=day)


def _report(session: Session, scope: Scope, period: Period, first: date) -> Report:
    return period_report(
        session=session,
        company_id=scope.company.id if scope.company is not None else None,
        period=period,
        start=first,
        tz=scope.zone,
        country=scope.country,
    )


def _without_flags(report: Report) -> Report:
    """`report` as a client company may see it: the bureau's flags on callers left out."""
    return report.model_copy(
        update={
            "flagged_callers": [],
            "repeat_callers": [
                caller.model_copy(update={"flagged": False}) for caller in report.repeat_callers
            ],
        }
    )


def period_label(*, period: Period, start: date, locale: str) -> str:
    """The period as a reader names it: 2026年11月, 2026年11月2日～8日, 2026年11月2日(月)."""
    lang = supported(locale)
    if period == "month":
        return format_skeleton("yMMMM", start, locale=lang)
    if period == "week":
        last = date.fromordinal(period_end(period=period, start=start).toordinal() - 1)
        return format_interval(start, last, "yMMMd", locale=lang)
    return format_skeleton("yMMMEd", start, locale=lang)


def _count(value: int, locale: str) -> str:
    return format_decimal(value, locale=supported(locale))


def _percent(value: float | None, locale: str) -> str:
    return "" if value is None else format_percent(value, locale=supported(locale))


def _points(change: float | None, locale: str) -> str:
    """A change of a share in percentage points, signed (+5.0 pts)."""
    if change is None:
        return ""
    return translate(locale, N_("%(points)s pts")) % {"points": f"{change * 100:+.1f}"}


def _share(share: Share, locale: str) -> dict[str, str]:
    return {
        "value": _percent(share.value, locale),
        "previous": _percent(share.previous, locale),
        "change": _points(share.change, locale),
    }


def _durations(durations: Durations, locale: str) -> dict[str, Any]:
    return {
        "count": durations.count,
        "median": format_duration(durations.median_seconds, locale=locale),
        "p90": format_duration(durations.p90_seconds, locale=locale),
    }


def _change(now: int, before: int, locale: str) -> str:
    """The difference from the previous period, signed."""
    difference = now - before
    sign = "+" if difference > 0 else ""
    return sign + _count(difference, locale)


def _query(**values: str | None) -> str:
    return urlencode({key: value for key, value in values.items() if value})


def _context(
    request: Request,
    *,
    report: Report,
    base: str,
    slug: str | None,
    staff: bool,
) -> dict[str, Any]:
    """What the report templates show of `report` for a page at `base`."""
    locale = page_locale(request)
    period = report.period
    nonce = csp_nonce(request)
    before = previous_start(period=period, start=report.start)
    complaints = sum(c.count for c in report.by_category if c.key == "complaint")
    urgent = sum(c.count for c in report.by_urgency if c.key == "urgent")

    def link(start: date, chosen: Period = period) -> str:
        return f"{base}?{_query(period=chosen, start=start.isoformat(), company=slug)}"

    charts = [
        {
            "name": name,
            "title": translate(locale, TITLES[name]),
            "svg": (
                chart_svg(report=report, name=name, locale=locale, nonce=nonce)
                if chart_has_data(report=report, name=name)
                else ""
            ),
            "has_data": chart_has_data(report=report, name=name),
            "csv_url": (
                f"{base}/chart/{name}.csv?"
                + _query(period=period, start=report.start.isoformat(), company=slug)
            ),
        }
        for name in CHART_NAMES
    ]
    return {
        "report": report,
        "period": period,
        "periods": [(value, translate(locale, words)) for value, words in PERIOD_WORDS.items()],
        "period_label": period_label(period=period, start=report.start, locale=locale),
        "start": report.start.isoformat(),
        "previous_url": link(before),
        "next_url": link(report.end),
        "today_url": f"{base}?{_query(period=period, company=slug)}",
        "zone": report.timezone,
        "figures": {
            "calls": _count(report.calls, locale),
            "previous_calls": _count(report.previous_calls, locale),
            "calls_change": _change(report.calls, report.previous_calls, locale),
            "memos": _count(report.memos, locale),
            "previous_memos": _count(report.previous_memos, locale),
            "memos_change": _change(report.memos, report.previous_memos, locale),
            "complaints": _count(complaints, locale),
            "urgent": _count(urgent, locale),
            "complaint_share": _share(report.complaint_share, locale),
            "before_escalation": _share(report.acknowledged_before_escalation, locale),
            "acknowledge": _durations(report.time_to_acknowledge, locale),
            "resolve": _durations(report.time_to_resolve, locale),
        },
        "categories": [
            {"label": category_label(c.key, locale=locale), "count": _count(c.count, locale)}
            for c in report.by_category
        ],
        "charts": charts,
        "repeat_callers": [
            {
                "display": c.display,
                "url": caller_url(c.phone, portal=not staff),
                "calls": _count(c.calls, locale),
                "memos": _count(c.memos, locale),
                "flagged": staff and c.flagged,
            }
            for c in report.repeat_callers
        ],
        "flagged_callers": [
            {
                "display": c.display,
                "url": caller_url(c.phone),
                "calls": _count(c.calls, locale),
                "memos": _count(c.memos, locale),
            }
            for c in (report.flagged_callers if staff else [])
        ],
        "show_flags": staff,
    }


@router.get("/admin/reports")
def staff_reports(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    period: PeriodQ = "month",
    start: StartQ = None,
    company: CompanyQ = None,
) -> Response:
    """A period's figures and charts for one company or the whole bureau."""
    refused = refusal_page(request, user, STAFF_ROLES)
    if refused is not None:
        return refused
    scope = _staff_scope(request, session, company)
    first = _first_day(scope, period, start)
    report = _report(session, scope, period, first)
    slug = scope.company.slug if scope.company is not None else None
    context = {
        "user": user,
        "section": "reports",
        "company": scope.company,
        "companies": [(c.slug, c.name) for c in list_companies(session=session)],
        **_context(request, report=report, base="/admin/reports", slug=slug, staff=True),
    }
    response = render(request, "report_admin.html", context)
    response.headers.update(PRIVATE_HEADERS)
    return response


def chart_name(name: str) -> ChartName:
    """`name` as one of the charts; anything else is refused."""
    for known in CHART_NAMES:
        if name == known:
            return known
    raise Invalid(
        N_("Choose one of: %(expected)s."),
        field="name",
        code="not_a_choice",
        expected=", ".join(CHART_NAMES),
    )


def _chart_download(request: Request, report: Report, name: ChartName, scope: Scope) -> Response:
    owner = scope.company.slug if scope.company is not None else "bureau"
    filename = f"relay-report-{owner}-{report.period}-{report.start.isoformat()}-{name}.csv"
    return Response(
        content=chart_csv(report=report, name=name, locale=page_locale(request)),
        media_type="text/csv; charset=utf-8",
        headers={**PRIVATE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/admin/reports/chart/{name}.csv")
def staff_chart_csv(
    name: str,
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    period: PeriodQ = "month",
    start: StartQ = None,
    company: CompanyQ = None,
) -> Response:
    """The numbers of one chart of a report for staff, as CSV."""
    refused = refusal_page(request, user, STAFF_ROLES)
    if refused is not None:
        return refused
    chart = chart_name(name)
    scope = _staff_scope(request, session, company)
    report = _report(session, scope, period, _first_day(scope, period, start))
    return _chart_download(request, report, chart, scope)


@router.get("/portal/reports")
def portal_reports(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    period: PeriodQ = "month",
    start: StartQ = None,
) -> Response:
    """A period's figures and charts for the user's own company."""
    found = client_company(request, session, user)
    if isinstance(found, Response):
        return found
    me, company = found
    scope = _company_scope(company)
    report = _without_flags(_report(session, scope, period, _first_day(scope, period, start)))
    context = {
        "user": me,
        "company": company,
        **_context(request, report=report, base="/portal/reports", slug=None, staff=False),
    }
    response = render(request, "report_portal.html", context)
    response.headers.update(PRIVATE_HEADERS)
    return response


@router.get("/portal/reports/chart/{name}.csv")
def portal_chart_csv(
    name: str,
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    period: PeriodQ = "month",
    start: StartQ = None,
) -> Response:
    """The numbers of one chart of the company's own report, as CSV."""
    found = client_company(request, session, user)
    if isinstance(found, Response):
        return found
    _, company = found
    chart = chart_name(name)
    scope = _company_scope(company)
    report = _without_flags(_report(session, scope, period, _first_day(scope, period, start)))
    return _chart_download(request, report, chart, scope)
