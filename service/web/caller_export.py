"""One caller's evidence export: their calls, memos and flags as CSV or JSON, audited.

CSV is one table in time order, UTF-8 with a BOM so spreadsheet software in Japan reads it
right, its times in each company's zone; JSON keeps every time in ISO 8601 (UTC).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Literal

from fastapi import Request, Response
from pydantic import BaseModel
from sqlmodel import Session

from service import clock
from service.audit import service as audit
from service.auth.models import User
from service.calls.models import Call
from service.companies.models import Company
from service.http_deps import actor_of
from service.i18n import N_, translate
from service.memos.caller_record import CallerRecord, FlagRecord
from service.memos.models import Memo
from service.phones import display_for
from service.web.memo_view import CompanyView, acknowledged_by, company_view, label

PRIVATE_HEADERS = {"Cache-Control": "no-store"}


# The words of a flag's kind, as the console offers them.
FLAG_KINDS = {
    "harassment": N_("Harassment"),
    "abusive": N_("Abusive language"),
    "repeat": N_("Repeated nuisance calls"),
    "other": N_("Other"),
}
RECORD_KINDS = {"call": N_("Incoming call"), "memo": N_("Memo"), "flag": N_("Flagged caller")}
CSV_HEADERS = [
    N_("Record"),
    N_("Time"),
    N_("Time zone"),
    N_("Company"),
    N_("Reference"),
    N_("Status"),
    N_("Category"),
    N_("Urgency"),
    N_("Caller name"),
    N_("Caller company"),
    N_("Subject"),
    N_("Details"),
    N_("Handled by"),
    N_("Acknowledged at"),
    N_("Acknowledged by"),
    N_("Acknowledged via"),
    N_("Recording"),
]
# A spreadsheet runs a cell that starts like a formula; numbers such as +81… are left alone.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def flag_kind_label(kind: str, locale: str) -> str:
    """A flag's kind in words of `locale`."""
    message = FLAG_KINDS.get(kind)
    return translate(locale, message) if message else kind


class ExportCall(BaseModel):
    """A call from the number."""

    id: str
    call_sid: str
    client: str
    client_name: str
    to: str
    started_at: str
    ended_at: str | None
    status: str
    source: str
    answered_by: str | None
    recording_url: str | None


class ExportAcknowledgement(BaseModel):
    at: str
    by: str
    via: str | None
    recorded_by: str | None


class ExportMemo(BaseModel):
    """A memo about one of the number's calls."""

    id: str
    client: str
    client_name: str
    call_id: str | None
    created_at: str
    taken_by: str
    category: str
    urgency: str
    caller_name: str
    caller_phone: str | None
    caller_company: str | None
    subject: str
    body: str
    fields: dict[str, str | int | float | bool | None]
    status: str
    acknowledged: ExportAcknowledgement | None


class ExportFlag(BaseModel):
    """A bureau's flag on the number, lifted ones too."""

    id: str
    kind: str
    note: str
    flagged_by: str
    flagged_at: str
    cleared_at: str | None
    cleared_by: str | None


class CallerExport(BaseModel):
    """Everything on record about one caller number, for the record."""

    phone: str
    phone_display: str
    client: str | None
    exported_at: str
    exported_by: str
    calls: list[ExportCall]
    memos: list[ExportMemo]
    flags: list[ExportFlag] | None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _call(call: Call, company: Company, names: dict[str, str]) -> ExportCall:
    return ExportCall(
        id=call.id,
        call_sid=call.call_sid,
        client=company.slug,
        client_name=company.name,
        to=call.to_number,
        started_at=call.started_at.isoformat(),
        ended_at=_iso(call.ended_at),
        status=call.status,
        source=call.source,
        answered_by=names.get(call.answered_by or ""),
        recording_url=call.recording_url,
    )


def _memo(memo: Memo, company: Company, names: dict[str, str]) -> ExportMemo:
    view = company_view(company)
    acknowledged = None
    if memo.acknowledged_at is not None:
        acknowledged = ExportAcknowledgement(
            at=memo.acknowledged_at.isoformat(),
            by=acknowledged_by(memo, view),
            via=memo.acknowledged_via,
            recorded_by=memo.acknowledged_recorded_by,
        )
    return ExportMemo(
        id=memo.id,
        client=company.slug,
        client_name=company.name,
        call_id=memo.call_id,
        created_at=memo.created_at.isoformat(),
        taken_by=names.get(memo.operator_id, ""),
        category=memo.category.value,
        urgency=memo.urgency.value,
        caller_name=memo.caller_name,
        caller_phone=memo.caller_phone,
        caller_company=memo.caller_company,
        subject=memo.subject,
        body=memo.body,
        fields=dict(memo.fields or {}),
        status=memo.status.value,
        acknowledged=acknowledged,
    )


def _flag(found: FlagRecord) -> ExportFlag:
    flag = found.flag
    return ExportFlag(
        id=flag.id,
        kind=flag.kind,
        note=flag.note,
        flagged_by=found.flagged_by,
        flagged_at=flag.flagged_at.isoformat(),
        cleared_at=_iso(flag.cleared_at),
        cleared_by=found.cleared_by,
    )


def export_document(
    record: CallerRecord, *, company: Company | None, user: User, country: str
) -> CallerExport:
    """The record as the JSON export gives it, oldest first."""
    return CallerExport(
        phone=record.phone,
        phone_display=display_for(record.phone, country=country),
        client=company.slug if company is not None else None,
        exported_at=clock.now().isoformat(),
        exported_by=user.display_name or user.email,
        calls=[_call(call, c, record.names) for call, c in reversed(record.calls)],
        memos=[_memo(memo, c, record.names) for memo, c in reversed(record.memos)],
        flags=[_flag(f) for f in reversed(record.flags)] if record.flags is not None else None,
    )


def _cell(value: str) -> str:
    if value.startswith(_FORMULA_STARTS) and not value.lstrip("+-").isdigit():
        return "'" + value
    return value


def _local(moment: datetime | None, view: CompanyView) -> str:
    return moment.astimezone(view.zone).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _csv_rows(
    record: CallerRecord, *, locale: str, home: CompanyView
) -> list[tuple[datetime, list[str]]]:
    views: dict[str, CompanyView] = {}

    def view_of(company: Company) -> CompanyView:
        return views.setdefault(company.id, company_view(company))

    kinds = {key: translate(locale, message) for key, message in RECORD_KINDS.items()}
    rows: list[tuple[datetime, list[str]]] = []
    for call, company in record.calls:
        view = view_of(company)
        rows.append(
            (
                call.started_at,
                [
                    kinds["call"],
                    _local(call.started_at, view),
                    str(view.zone),
                    company.name,
                    call.call_sid,
                    call.status,
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    record.names.get(call.answered_by or "", ""),
                    "",
                    "",
                    "",
                    call.recording_url or "",
                ],
            )
        )
    for memo, company in record.memos:
        view = view_of(company)
        rows.append(
            (
                memo.created_at,
                [
                    kinds["memo"],
                    _local(memo.created_at, view),
                    str(view.zone),
                    company.name,
                    memo.id,
                    label("status", memo.status.value, locale),
                    label("category", memo.category.value, locale),
                    label("urgency", memo.urgency.value, locale),
                    memo.caller_name,
                    memo.caller_company or "",
                    memo.subject,
                    memo.body,
                    record.names.get(memo.operator_id, ""),
                    _local(memo.acknowledged_at, view),
                    acknowledged_by(memo, view),
                    label("via", memo.acknowledged_via, locale) if memo.acknowledged_via else "",
                    "",
                ],
            )
        )
    for found in record.flags or []:
        flag = found.flag
        lifted = ""
        if flag.cleared_at is not None:
            lifted = translate(locale, N_("Lifted %(when)s by %(person)s")) % {
                "when": _local(flag.cleared_at, home),
                "person": found.cleared_by or "?",
            }
        rows.append(
            (
                flag.flagged_at,
                [
                    kinds["flag"],
                    _local(flag.flagged_at, home),
                    str(home.zone),
                    "",
                    flag.id,
                    lifted or translate(locale, N_("In force")),
                    flag_kind_label(flag.kind, locale),
                    "",
                    "",
                    "",
                    "",
                    flag.note,
                    found.flagged_by,
                    "",
                    "",
                    "",
                    "",
                ],
            )
        )
    rows.sort(key=lambda row: row[0])
    return rows


def export_csv(record: CallerRecord, *, locale: str, home: CompanyView) -> bytes:
    """The record as one CSV table in time order, UTF-8 with a BOM."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([translate(locale, header) for header in CSV_HEADERS])
    for _, row in _csv_rows(record, locale=locale, home=home):
        writer.writerow([_cell(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_response(
    *,
    request: Request,
    session: Session,
    user: User,
    record: CallerRecord,
    company: Company | None,
    export_format: Literal["csv", "json"],
    locale: str,
    home: CompanyView,
) -> Response:
    """The export as a download, recorded in the audit trail."""
    audit.record(
        session=session,
        actor=actor_of(request, user),
        action=audit.Action.exported,
        target=f"caller:{record.phone}",
        company_id=company.id if company is not None else None,
        detail={
            "format": export_format,
            "scope": company.slug if company is not None else "bureau",
            "calls": str(len(record.calls)),
            "memos": str(len(record.memos)),
            "flags": str(len(record.flags or [])),
        },
    )
    stamp = clock.now().astimezone(home.zone).strftime("%Y%m%d-%H%M")
    filename = f"relay-caller-{record.phone.lstrip('+')}-{stamp}.{export_format}"
    headers = {**PRIVATE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
    if export_format == "csv":
        return Response(
            content=export_csv(record, locale=locale, home=home),
            media_type="text/csv; charset=utf-8",
            headers=headers,
        )
    document = export_document(record, company=company, user=user, country=home.country)
    return Response(
        content=document.model_dump_json(),
        media_type="application/json",
        headers=headers,
    )
