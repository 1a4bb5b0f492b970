"""One page per caller number: for staff every company's calls and memos from it with the
bureau's flags; in the portal, the company's own calls and memos only. Each has its export,
and each shows the notes and policies kept about the caller (see caller_notes_view).

The number may be written in any form people write it (090-1111-2222, +819011112222,
full-width digits); staff read it as a Japanese number, a company's users in its country.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response, status
from sqlmodel import Session

from service.auth.models import Role, User
from service.calls.models import Call
from service.companies.models import Company
from service.errors import NotFound
from service.http_deps import OptionalUser, SessionDep
from service.i18n import N_, translate
from service.memos.caller_record import CallerRecord, caller_record
from service.memos.models import Memo
from service.phones import display_for, to_e164
from service.settings import Settings
from service.web.auth_pages import login_redirect
from service.web.caller_export import PRIVATE_HEADERS, export_response, flag_kind_label
from service.web.caller_notes_view import CallerForms, notes_context
from service.web.caller_pdf import CALL_STATUS, pdf_response
from service.web.memo_view import CompanyView, company_view, local_time, memo_view
from service.web.pages import STAFF_ROLES, refusal_page, render
from service.web.templating import company_locale, page_locale

router = APIRouter(include_in_schema=False)

Format = Annotated[Literal["csv", "json", "pdf"], Query(alias="format")]


def caller_url(phone: str, *, portal: bool = False) -> str:
    """The caller page of an E.164 number, in the portal or for staff."""
    return ("/portal" if portal else "") + "/callers/" + quote(phone, safe="")


def bureau_view(request: Request) -> CompanyView:
    """The bureau's own zone and country, for what belongs to no company (flags, file names)."""
    settings: Settings = request.app.state.settings
    return CompanyView(
        name="", slug="", locale=page_locale(request), zone=ZoneInfo(settings.timezone)
    )


def _call_row(call: Call, view: CompanyView, record: CallerRecord, locale: str) -> dict[str, Any]:
    words = CALL_STATUS.get(call.status)
    return {
        "id": call.id,
        "call_sid": call.call_sid,
        "when": local_time(call.started_at, view, locale=locale),
        "iso": call.started_at.isoformat(),
        "company": view.name,
        "status_label": translate(locale, words) if words else call.status,
        "answered_by": record.names.get(call.answered_by or "", ""),
        "recording_url": call.recording_url,
    }


def _memo_row(memo: Memo, view: CompanyView, record: CallerRecord, locale: str) -> dict[str, Any]:
    accounts = record.resolutions.get(memo.id)
    latest = accounts[-1] if accounts else None
    return {
        **memo_view(memo, view, locale=locale),
        "client_name": view.name,
        "taken_by": record.names.get(memo.operator_id, ""),
        "handled": (
            {
                "state": translate(
                    locale, N_("Resolved") if latest.resolved else N_("Not resolved yet")
                ),
                "response": latest.response,
                "by": latest.by,
                "when": local_time(latest.at, view, locale=locale),
            }
            if latest is not None
            else None
        ),
    }


def _rows(record: CallerRecord, locale: str) -> dict[str, Any]:
    views: dict[str, CompanyView] = {}

    def view_of(company: Company) -> CompanyView:
        return views.setdefault(company.id, company_view(company))

    return {
        "calls": [_call_row(c, view_of(company), record, locale) for c, company in record.calls],
        "memos": [_memo_row(m, view_of(company), record, locale) for m, company in record.memos],
    }


@router.get("/callers/{phone}")
def caller_page(phone: str, request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """Every company's calls and memos from one number, and the bureau's flags on it."""
    refused = refusal_page(request, user, STAFF_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    return staff_caller_page(request, session, user, to_e164(phone))


def staff_caller_page(
    request: Request,
    session: Session,
    user: User,
    number: str,
    *,
    forms: CallerForms | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    """The staff's page of one number; `forms` holds what was entered when a form was refused."""
    record = caller_record(session=session, phone=number, company_id=None)
    home = bureau_view(request)
    locale = home.locale
    flags = [
        {
            "id": found.flag.id,
            "kind_label": flag_kind_label(found.flag.kind, locale),
            "note": found.flag.note,
            "flagged_by": found.flagged_by,
            "when": local_time(found.flag.flagged_at, home, locale=locale),
            "iso": found.flag.flagged_at.isoformat(),
            "lifted": (
                local_time(found.flag.cleared_at, home, locale=locale)
                if found.flag.cleared_at
                else None
            ),
            "cleared_by": found.cleared_by,
        }
        for found in record.flags or []
    ]
    export = f"/api/v1/callers/{quote(number, safe='')}/export"
    context = {
        "user": user,
        "section": "memos",
        "phone": number,
        "phone_display": display_for(number, country=home.country),
        "flags": flags,
        "zone": str(home.zone),
        "export_csv": export + "?format=csv",
        "export_json": export + "?format=json",
        "export_pdf": export + "?format=pdf",
        **_rows(record, locale),
        **notes_context(
            request=request,
            session=session,
            record=record,
            user=user,
            locale=locale,
            base=caller_url(number),
            forms=forms,
        ),
    }
    return render(request, "caller.html", context, status_code=status_code)


def client_company(
    request: Request, session: Session, user: User | None
) -> tuple[User, Company] | Response:
    """The signed-in client user and their company, or the answer for anyone else."""
    if user is None:
        return login_redirect(request)
    company = session.get(Company, user.company_id) if user.company_id else None
    if user.role != Role.client or company is None:
        response = render(
            request,
            "portal_notice.html",
            {"user": user, "kind": "forbidden"},
            status_code=status.HTTP_403_FORBIDDEN,
        )
        response.headers.update(PRIVATE_HEADERS)
        return response
    # As in the rest of the portal: the company's language unless the user chose their own.
    company_locale(request, company_view(company).locale)
    return user, company


@router.get("/portal/callers/{phone}")
def portal_caller_page(
    phone: str, request: Request, session: SessionDep, user: OptionalUser
) -> Response:
    """The company's own calls and memos from one number."""
    found = client_company(request, session, user)
    if isinstance(found, Response):
        return found
    me, company = found
    number = to_e164(phone, country=company_view(company).country)
    return portal_caller_page_of(request, session, me, company, number)


def portal_caller_page_of(
    request: Request,
    session: Session,
    me: User,
    company: Company,
    number: str,
    *,
    forms: CallerForms | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    """The company's page of one number; `forms` holds what was entered when one was refused."""
    view = dataclasses.replace(company_view(company), locale=page_locale(request))
    record = caller_record(session=session, phone=number, company_id=company.id)
    export = caller_url(number, portal=True) + "/export"
    context = {
        "user": me,
        "company": company,
        "phone": number,
        "phone_display": display_for(number, country=view.country),
        "zone": str(view.zone),
        "export_csv": export + "?format=csv",
        "export_json": export + "?format=json",
        "export_pdf": export + "?format=pdf",
        **_rows(record, view.locale),
        **notes_context(
            request=request,
            session=session,
            record=record,
            user=me,
            locale=view.locale,
            base=caller_url(number, portal=True),
            forms=forms,
        ),
    }
    response = render(request, "portal_caller.html", context, status_code=status_code)
    response.headers.update(PRIVATE_HEADERS)
    return response


@router.get("/portal/callers/{phone}/export")
def portal_caller_export(
    phone: str,
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    export_format: Format = "json",
) -> Response:
    """The company's own calls and memos from one number as CSV, JSON or PDF; audited."""
    found = client_company(request, session, user)
    if isinstance(found, Response):
        return found
    me, company = found
    view = dataclasses.replace(company_view(company), locale=page_locale(request))
    number = to_e164(phone, country=view.country)
    record = caller_record(session=session, phone=number, company_id=company.id)
    if not (record.calls or record.memos or record.notes or record.policies):
        # Nothing of the company's own: no empty document that reads like evidence.
        raise NotFound(N_("Nothing on record for this number."))
    if export_format == "pdf":
        return pdf_response(
            request=request,
            session=session,
            user=me,
            record=record,
            company=company,
            locale=view.locale,
            home=view,
        )
    return export_response(
        request=request,
        session=session,
        user=me,
        record=record,
        company=company,
        export_format=export_format,
        locale=view.locale,
        home=view,
    )
