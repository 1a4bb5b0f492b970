"""One caller's evidence export: their calls, memos, flags, notes and policies as CSV or JSON,
audited.

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
from service.calls.caller_notes import CallerNote
from service.calls.caller_policies import CallerPolicy
from service.calls.models import Call
from service.companies.models import Company
from service.http_deps import actor_of
from service.i18n import N_, translate
from service.memos.caller_record import CallerRecord, FlagRecord
from service.memos.models import Memo
from service.memos.resolutions import MemoResolution
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
RECORD_KINDS = {
    "call": N_("Incoming call"),
    "memo": N_("Memo"),
    "resolution": N_("How it was handled"),
    "flag": N_("Flagged caller"),
    "note": N_("Note about the caller"),
    "policy": N_("Policy for the caller"),
}
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
    N_("Cause"),
    N_("Result"),
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


class ExportResolution(BaseModel):
    """One account of how the company handled a memo."""

    at: str
    by: str
    via: str
    recorded_by: str | None
    response: str
    cause: str
    result: str
    resolved: bool


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
    resolutions: list[ExportResolution]


class ExportFlag(BaseModel):
    """A bureau's flag on the number, lifted ones too."""

    id: str
    kind: str
    note: str
    flagged_by: str
    flagged_at: str
    cleared_at: str | None
    cleared_by: str | None


class ExportNote(BaseModel):
    """A note a company, or the bureau for it, keeps about the caller."""

    id: str
    client: str
    client_name: str
    text: str
    written_by: str
    written_by_bureau: bool
    written_at: str


class ExportPolicy(BaseModel):
    """How a company wants the caller handled, and for how many minutes at most."""

    client: str
    client_name: str
    text: str
    time_limit_minutes: int | None
    set_by: str
    set_at: str


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
    notes: list[ExportNote]
    policies: list[ExportPolicy]


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


def _resolution(found: MemoResolution) -> ExportResolution:
    return ExportResolution(
        at=found.at.isoformat(),
        by=found.by,
        via=found.via,
        recorded_by=found.recorded_by,
        response=found.response,
        cause=found.cause,
        result=found.result,
        resolved=found.resolved,
    )


def _memo(memo: Memo, company: Company, record: CallerRecord) -> ExportMemo:
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
        taken_by=record.names.get(memo.operator_id, ""),
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
        resolutions=[_resolution(r) for r in record.resolutions.get(memo.id, [])],
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
        memos=[_memo(memo, c, record) for memo, c in reversed(record.memos)],
        flags=[_flag(f) for f in reversed(record.flags)] if record.flags is not None else None,
        notes=[_note(note, c, record) for note, c in reversed(record.notes)],
        policies=[_policy(policy, c, record) for policy, c in record.policies],
    )


def _note(note: CallerNote, company: Company, record: CallerRecord) -> ExportNote:
    writer = record.writers.get(note.written_by)
    return ExportNote(
        id=note.id,
        client=company.slug,
        client_name=company.name,
        text=note.text,
        written_by=writer.name if writer else "",
        written_by_bureau=writer.bureau if writer else False,
        written_at=note.written_at.isoformat(),
    )


def _policy(policy: CallerPolicy, company: Company, record: CallerRecord) -> ExportPolicy:
    setter = record.writers.get(policy.set_by)
    return ExportPolicy(
        client=company.slug,
        client_name=company.name,
        text=policy.text,
        time_limit_minutes=policy.time_limit_minutes,
        set_by=setter.name if setter else "",
        set_at=policy.set_at.isoformat(),
    )


def _cell(value: str) -> str:
    if value.startswith(_FORMULA_STARTS) and not value.lstrip("+-").isdigit():
        return "'" + value
    return value


def _local(moment: datetime | None, view: CompanyView) -> str:
    return moment.astimezone(view.zone).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


# The CSV's columns, in CSV_HEADERS order, as `_row` names them.
_COLUMNS = (
    "kind",
    "time",
    "zone",
    "company",
    "reference",
    "status",
    "category",
    "urgency",
    "caller_name",
    "caller_company",
    "subject",
    "details",
    "handled_by",
    "acknowledged_at",
    "acknowledged_by",
    "acknowledged_via",
    "recording",
    "cause",
    "result",
)


def _row(**values: str) -> list[str]:
    return [values.get(column, "") for column in _COLUMNS]


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
        row = _row(
            kind=kinds["call"],
            time=_local(call.started_at, view),
            zone=str(view.zone),
            company=company.name,
            reference=call.call_sid,
            status=call.status,
            handled_by=record.names.get(call.answered_by or "", ""),
            recording=call.recording_url or "",
        )
        rows.append((call.started_at, row))
    for memo, company in record.memos:
        view = view_of(company)
        row = _row(
            kind=kinds["memo"],
            time=_local(memo.created_at, view),
            zone=str(view.zone),
            company=company.name,
            reference=memo.id,
            status=label("status", memo.status.value, locale),
            category=label("category", memo.category.value, locale),
            urgency=label("urgency", memo.urgency.value, locale),
            caller_name=memo.caller_name,
            caller_company=memo.caller_company or "",
            subject=memo.subject,
            details=memo.body,
            handled_by=record.names.get(memo.operator_id, ""),
            acknowledged_at=_local(memo.acknowledged_at, view),
            acknowledged_by=acknowledged_by(memo, view),
            acknowledged_via=(
                label("via", memo.acknowledged_via, locale) if memo.acknowledged_via else ""
            ),
        )
        rows.append((memo.created_at, row))
        for account in record.resolutions.get(memo.id, []):
            resolved = N_("Resolved") if account.resolved else N_("Not resolved yet")
            row = _row(
                kind=kinds["resolution"],
                time=_local(account.at, view),
                zone=str(view.zone),
                company=company.name,
                reference=memo.id,
                status=translate(locale, resolved),
                subject=memo.subject,
                details=account.response,
                handled_by=account.by,
                cause=account.cause,
                result=account.result,
            )
            rows.append((account.at, row))
    for found in record.flags or []:
        flag = found.flag
        lifted = ""
        if flag.cleared_at is not None:
            lifted = translate(locale, N_("Lifted %(when)s by %(person)s")) % {
                "when": _local(flag.cleared_at, home),
                "person": found.cleared_by or "?",
            }
        row = _row(
            kind=kinds["flag"],
            time=_local(flag.flagged_at, home),
            zone=str(home.zone),
            reference=flag.id,
            status=lifted or translate(locale, N_("In force")),
            category=flag_kind_label(flag.kind, locale),
            details=flag.note,
            handled_by=found.flagged_by,
        )
        rows.append((flag.flagged_at, row))
    for note, company in record.notes:
        view = view_of(company)
        writer = record.writers.get(note.written_by)
        row = _row(
            kind=kinds["note"],
            time=_local(note.written_at, view),
            zone=str(view.zone),
            company=company.name,
            reference=note.id,
            details=note.text,
            handled_by=writer.name if writer else "",
        )
        rows.append((note.written_at, row))
    for policy, company in record.policies:
        view = view_of(company)
        setter = record.writers.get(policy.set_by)
        limit = ""
        if policy.time_limit_minutes is not None:
            limit = translate(locale, N_("Time limit: %(minutes)s minutes")) % {
                "minutes": policy.time_limit_minutes
            }
        row = _row(
            kind=kinds["policy"],
            time=_local(policy.set_at, view),
            zone=str(view.zone),
            company=company.name,
            reference=policy.id,
            status=limit,
            details=policy.text,
            handled_by=setter.name if setter else "",
        )
        rows.append((policy.set_at, row))
    # Stable: a memo stays after the call it was taken on, an account after its memo.
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
