"""A caller's evidence export for staff: every company's calls and memos from one number and
the bureau's flags on it, as CSV, JSON or PDF. A client company's own is at /portal/callers/."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from service.http_deps import CurrentStaff, SessionDep
from service.memos.caller_record import caller_record
from service.phones import PhoneNumberError, to_e164
from service.web.caller_export import CallerExport, export_response
from service.web.caller_pages import bureau_view
from service.web.caller_pdf import MEDIA_TYPE, pdf_response
from service.web.csrf import verify_csrf

router = APIRouter(prefix="/api/v1", tags=["calls"], dependencies=[Depends(verify_csrf)])


@router.get(
    "/callers/{phone}/export",
    response_model=CallerExport,
    responses={
        200: {
            "description": "`format=json`: the record below; `format=csv`: one table in time "
            "order, UTF-8 with a BOM; `format=pdf`: an A4 document in the reader's language, "
            "every page footed with the export's reference and its page number",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        422: {"description": "`bad_phone`: not a phone number"},
    },
)
def export_caller(
    phone: str,
    request: Request,
    session: SessionDep,
    user: CurrentStaff,
    export_format: Annotated[Literal["csv", "json", "pdf"], Query(alias="format")] = "json",
) -> Response:
    """Everything on record about one caller number, for the record; every export is audited."""
    try:
        number = to_e164(phone)
    except PhoneNumberError as error:
        error.field = "phone"
        raise
    home = bureau_view(request)
    record = caller_record(session=session, phone=number, company_id=None)
    if export_format == "pdf":
        return pdf_response(
            request=request,
            session=session,
            user=user,
            record=record,
            company=None,
            locale=home.locale,
            home=home,
        )
    return export_response(
        request=request,
        session=session,
        user=user,
        record=record,
        company=None,
        export_format=export_format,
        locale=home.locale,
        home=home,
    )
