"""The client portal: a company's own memos, to read, confirm, search and export.

Only users of role `client` get in, and every query is scoped to the user's own company: a
memo of any other company is "not found" here, exactly like one that does not exist.

Its pages and exports speak the user's own language, else the company's; the company's own
words (its name, custom field labels, contacts' names) stay as the company wrote them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from service import clock
from service.acks.service import AckVia, acknowledge
from service.audit import service as audit
from service.auth.models import User
from service.companies.models import Company
from service.followup.reminders import overdue_memos
from service.followup.schema import ResolutionIn
from service.followup.service import resolve
from service.http_deps import OptionalUser, SessionDep, actor_of, client_address
from service.i18n import N_, translate
from service.memos import service as memos
from service.memos.models import Memo, MemoStatus
from service.memos.resolutions import latest_resolutions
from service.web.caller_pages import client_company
from service.web.csrf import CsrfProtected, csrf_token
from service.web.memo_view import (
    CompanyView,
    acknowledged_by,
    company_view,
    fact_labels,
    label,
    local_time,
    memo_view,
    sortable_time,
)
from service.web.templating import page_locale

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30
EXPORT_BATCH = 200
PRIVATE_HEADERS = {"Cache-Control": "no-store"}
CSV_HEADERS = [
    N_("Received at"),
    N_("Category"),
    N_("Urgency"),
    N_("Caller name"),
    N_("Caller phone"),
    N_("Subject"),
    N_("Details"),
    N_("Status"),
    N_("Acknowledged at"),
    N_("Acknowledged by"),
    N_("Acknowledged via"),
    N_("Caller company"),
]
# A spreadsheet runs a cell that starts like a formula; numbers such as +81… are left alone.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _render(
    request: Request, name: str, context: dict[str, Any], status_code: int = status.HTTP_200_OK
) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=PRIVATE_HEADERS
    )
    return response


def _notice(request: Request, user: User, kind: str, status_code: int) -> Response:
    return _render(request, "portal_notice.html", {"user": user, "kind": kind}, status_code)


def _status(value: str | None) -> MemoStatus | None:
    try:
        return MemoStatus(value) if value else None
    except ValueError:
        return None


Q = Annotated[str | None, Query(max_length=200)]
StatusQ = Annotated[str | None, Query(alias="status", max_length=32)]


@router.get("/portal")
def portal(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    q: Q = None,
    status_filter: StatusQ = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    overdue: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """The company's memos, newest first; waiting ones stand out, overdue ones come first."""
    found = client_company(request, session, user)
    if isinstance(found, Response):
        return found
    me, company = found
    if overdue and overdue not in ("0", ""):
        return _overdue_page(request, session, me, company)
    wanted = _status(status_filter)
    try:
        page, next_cursor = memos.list_memos(
            session=session,
            company_id=company.id,
            status=wanted,
            query=q,
            cursor=cursor,
            limit=PAGE_SIZE,
        )
    except memos.MemoError:
        return _notice(request, me, "bad_cursor", status.HTTP_400_BAD_REQUEST)
    view = company_view(company)
    locale = page_locale(request)
    filters = {k: v for k, v in {"q": q or "", "status": wanted or ""}.items() if v}
    late = [] if cursor or q or wanted else overdue_memos(session=session, company_id=company.id)
    context = {
        "user": me,
        "company": company,
        "overdue": [_overdue_view(memo, view, locale) for memo in late],
        "overdue_only": False,
        "memos": [memo_view(memo, view, locale=locale) for memo, _ in page],
        "q": q or "",
        "status": wanted.value if wanted else "",
        "statuses": [(s.value, label("status", s.value, locale)) for s in MemoStatus],
        "next_url": (
            f"/portal?{urlencode({**filters, 'cursor': next_cursor})}" if next_cursor else None
        ),
        "first_url": f"/portal?{urlencode(filters)}" if cursor else None,
        "export_url": "/portal/export.csv" + (f"?{urlencode(filters)}" if filters else ""),
    }
    return _render(request, "portal.html", context)


def _overdue_view(memo: Memo, view: CompanyView, locale: str) -> dict[str, Any]:
    """A memo as the portal shows it, with the follow-up deadline it has passed."""
    shown = memo_view(memo, view, locale=locale)
    assert memo.follow_up_due is not None
    shown["follow_up_due"] = local_time(memo.follow_up_due, view, locale=locale)
    shown["follow_up_due_iso"] = memo.follow_up_due.isoformat()
    return shown


def _overdue_page(request: Request, session: Session, me: User, company: Company) -> Response:
    """The company's memos past their follow-up deadline, most overdue first."""
    view = company_view(company)
    locale = page_locale(request)
    late = overdue_memos(session=session, company_id=company.id)
    context = {
        "user": me,
        "company": company,
        "overdue": [_overdue_view(memo, view, locale) for memo in late],
        "overdue_only": True,
        "memos": [],
        "q": "",
        "status": "",
        "statuses": [(s.value, label("status", s.value, locale)) for s in MemoStatus],
        "next_url": None,
        "first_url": "/portal",
        "export_url": "/portal/export.csv",
    }
    return _render(request, "portal.html", context)


def _own_memo(
    request: Request, session: Session, user: User | None, memo_id: str
) -> tuple[User, Company, Memo] | Response:
    """The signed-in client user, their company and one of its memos; else the page to show."""
    found = client_company(request, session, user)
    if isinstance(found, Response):
        return found
    me, company = found
    memo = memos.get_memo(session=session, memo_id=memo_id, company_id=company.id)
    if memo is None:
        return _notice(request, me, "not_found", status.HTTP_404_NOT_FOUND)
    return me, company, memo


@router.get("/portal/memos/{memo_id}")
def portal_memo(
    memo_id: str,
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    done: str | None = None,
) -> Response:
    """One memo in full, with the confirm button while it waits and how it was handled."""
    found = _own_memo(request, session, user, memo_id)
    if isinstance(found, Response):
        return found
    me, company, memo = found
    return _memo_page(request, session, me, company, memo, done=done if done in _DONE else None)


_DONE = ("first", "already", "resolved")
_EMPTY_RESOLUTION: dict[str, object] = {
    "response": "",
    "cause": "",
    "result": "",
    "resolved": False,
    "error": None,
}


def _memo_page(
    request: Request,
    session: Session,
    me: User,
    company: Company,
    memo: Memo,
    *,
    done: str | None = None,
    form: dict[str, object] | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    view = company_view(company)
    locale = page_locale(request)
    resolution = latest_resolutions(session=session, memo_ids=[memo.id]).get(memo.id)
    context = {
        "user": me,
        "company": company,
        "m": memo_view(memo, view, locale=locale),
        "L": fact_labels(locale),
        "done": done,
        "resolution": resolution,
        "resolution_by": view.contact_names.get(resolution.by) if resolution else None,
        "resolution_form": form or _EMPTY_RESOLUTION,
        "resolution_action": f"/portal/memos/{memo.id}/resolution",
        "csrf": csrf_token(request),
    }
    return _render(request, "portal_memo.html", context, status_code)


@router.post("/portal/memos/{memo_id}/resolution")
async def portal_resolution(
    memo_id: str, request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected
) -> Response:
    """Record how the company handled a memo, as the signed-in user (confirming it if need be)."""
    found = _own_memo(request, session, user, memo_id)
    if isinstance(found, Response):
        return found
    me, company, memo = found
    form = await request.form()
    entered: dict[str, object] = {
        "response": _form_text(form.get("response")),
        "cause": _form_text(form.get("cause")),
        "result": _form_text(form.get("result")),
        "resolved": form.get("resolved") == "on",
    }
    try:
        data = ResolutionIn.model_validate(entered)
    except ValidationError as error:
        loc = error.errors()[0]["loc"]
        return _memo_page(
            request,
            session,
            me,
            company,
            memo,
            form={**entered, "error": str(loc[0]) if loc else "response"},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    resolve(
        session=session,
        memo=memo,
        data=data,
        by=me.display_name or me.email,
        via=AckVia.portal,
        recorded_by=me,
        ip=client_address(request),
    )
    return RedirectResponse(
        f"/portal/memos/{memo.id}?done=resolved", status_code=status.HTTP_303_SEE_OTHER
    )


def _form_text(value: object) -> str:
    return value if isinstance(value, str) else ""


@router.post("/portal/memos/{memo_id}/ack")
def portal_ack(
    memo_id: str, request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected
) -> Response:
    """Confirm a memo as the signed-in user; a second time changes nothing."""
    found = _own_memo(request, session, user, memo_id)
    if isinstance(found, Response):
        return found
    me, _company, memo = found
    result = acknowledge(
        session=session, memo_id=memo.id, by=me.display_name or me.email, via=AckVia.portal
    )
    outcome = "first" if result is not None and result.first else "already"
    return RedirectResponse(
        f"/portal/memos/{memo.id}?done={outcome}", status_code=status.HTTP_303_SEE_OTHER
    )


def _cell(value: str) -> str:
    if value.startswith(_FORMULA_STARTS) and not value.lstrip("+-").isdigit():
        return "'" + value
    return value


def _csv_row(memo: Memo, view: CompanyView, field_keys: list[str], locale: str) -> list[str]:
    row = [
        sortable_time(memo.created_at, view),
        label("category", memo.category.value, locale),
        label("urgency", memo.urgency.value, locale),
        memo.caller_name,
        memo.caller_phone or "",
        memo.subject,
        memo.body,
        label("status", memo.status.value, locale),
        sortable_time(memo.acknowledged_at, view),
        acknowledged_by(memo, view),
        label("via", memo.acknowledged_via, locale) if memo.acknowledged_via else "",
        memo.caller_company or "",
    ]
    values = memo.fields or {}
    row += ["" if values.get(key) is None else str(values[key]) for key in field_keys]
    return [_cell(value) for value in row]


def _export_rows(
    session: Session, company: Company, wanted: MemoStatus | None, q: str | None
) -> Iterator[Memo]:
    cursor: str | None = None
    while True:
        page, cursor = memos.list_memos(
            session=session,
            company_id=company.id,
            status=wanted,
            query=q,
            cursor=cursor,
            limit=EXPORT_BATCH,
        )
        yield from (memo for memo, _ in page)
        if cursor is None:
            return


@router.get("/portal/export.csv")
def portal_export(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    q: Q = None,
    status_filter: StatusQ = None,
) -> Response:
    """The company's memos as CSV, UTF-8 with a BOM so spreadsheet software reads it right."""
    found = client_company(request, session, user)
    if isinstance(found, Response):
        return found
    _, company = found
    view = company_view(company)
    field_keys = list(view.field_labels)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    locale = page_locale(request)
    headers = [translate(locale, header) for header in CSV_HEADERS]
    writer.writerow(headers + list(view.field_labels.values()))
    rows = 0
    for memo in _export_rows(session, company, _status(status_filter), q):
        writer.writerow(_csv_row(memo, view, field_keys, locale))
        rows += 1
    assert user is not None
    audit.record(
        session=session,
        actor=actor_of(request, user),
        action=audit.Action.exported,
        target=f"company:{company.slug}",
        company_id=company.id,
        detail={
            "format": "csv",
            "rows": str(rows),
            "q": q or "",
            "status": status_filter or "",
        },
    )
    stamp = clock.now().astimezone(view.zone).strftime("%Y%m%d-%H%M")
    filename = f"relay-{company.slug}-{stamp}.csv"
    return Response(
        content=("\ufeff" + buffer.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={**PRIVATE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )
