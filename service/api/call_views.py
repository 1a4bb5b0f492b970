"""Calls and callers shaped as the API returns them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from service.auth.models import User
from service.calls.models import Call, CallerFlag
from service.calls.schema import (
    CallCompany,
    CallDetail,
    CallerFlagOut,
    CallerMemo,
    CallerOut,
    CallSummary,
)
from service.calls.service import caller_history, operator_names
from service.companies.models import Company
from service.companies.service import company_config
from service.memos.service import memos_from_caller
from service.phones import display_for


def call_summaries(*, session: Session, rows: Sequence[tuple[Call, Company]]) -> list[CallSummary]:
    """Calls as listed, with who answered each."""
    names = operator_names(session=session, user_ids=[call.answered_by for call, _ in rows])
    return [
        call_summary(call, company, answered_by_name=names.get(call.answered_by or ""))
        for call, company in rows
    ]


def call_summary(call: Call, company: Company, *, answered_by_name: str | None) -> CallSummary:
    """A call as listed (CONTRACT §5); `answered_by_name` names the operator who has it."""
    return CallSummary(
        id=call.id,
        call_sid=call.call_sid,
        client=company.slug,
        client_name=company.name,
        from_=call.from_number,
        from_display=display_for(call.from_number, country=company_config(company).country),
        to=call.to_number,
        status=call.status,
        source=call.source,
        answered_by=call.answered_by,
        answered_by_name=answered_by_name,
        recording_url=call.recording_url,
        started_at=call.started_at.isoformat(),
    )


def flag_out(session: Session, flag: CallerFlag) -> CallerFlagOut:
    """A caller flag with who raised it."""
    user = session.get(User, flag.flagged_by)
    return CallerFlagOut(
        id=flag.id,
        phone=flag.phone,
        kind=flag.kind,
        note=flag.note,
        flagged_by=user.display_name if user else "",
        flagged_at=flag.flagged_at.isoformat(),
    )


def caller_out(
    *, session: Session, phone: str, country: str = "JP", exclude_call_id: str | None = None
) -> CallerOut:
    """What an operator should know about a caller before saying a word; the number is shown
    as written in `country` (the called company's)."""
    history = caller_history(session=session, phone=phone, exclude_call_id=exclude_call_id)
    memos = memos_from_caller(session=session, phone=phone)
    return CallerOut(
        phone=phone,
        phone_display=display_for(phone, country=country),
        earlier_calls=history.earlier_calls,
        repeat_caller=history.earlier_calls > 0,
        calls=call_summaries(session=session, rows=history.calls),
        memos=[
            CallerMemo(
                id=memo.id,
                client=company.slug,
                client_name=company.name,
                subject=memo.subject,
                category=memo.category.value,
                status=memo.status.value,
                created_at=memo.created_at.isoformat(),
            )
            for memo, company in memos
        ],
        flags=[flag_out(session, flag) for flag in history.flags],
    )


def call_detail(*, session: Session, call: Call, company: Company) -> CallDetail:
    """A ringing call with everything the console shows: company, greeting, script, caller."""
    config = company_config(company)
    return CallDetail(
        **call_summaries(session=session, rows=[(call, company)])[0].model_dump(),
        company=CallCompany(
            slug=company.slug,
            name=company.name,
            version=call.company_version,
            locale=config.locale,
            greeting=config.greeting,
            script=config.script,
            fields=config.fields,
        ),
        caller=caller_out(
            session=session,
            phone=call.from_number,
            country=config.country,
            exclude_call_id=call.id,
        ),
    )
