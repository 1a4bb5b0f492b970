"""Calls and callers shaped as the API returns them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from service.auth.models import Role, User
from service.calls.caller_notes import CallerNote, caller_notes
from service.calls.caller_policies import CallerPolicy, caller_policy
from service.calls.models import Call, CallerFlag
from service.calls.schema import (
    CallCompany,
    CallDetail,
    CallerFlagOut,
    CallerMemo,
    CallerNoteOut,
    CallerOut,
    CallerPolicyOut,
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


# How many of the called company's notes the console shows when a call comes in.
POP_NOTES = 5


def note_outs(*, session: Session, notes: Sequence[CallerNote]) -> list[CallerNoteOut]:
    """Caller notes with the names of who wrote them and of their companies."""
    writers = {
        user.id: user
        for user in session.exec(
            select(User).where(col(User.id).in_({note.written_by for note in notes}))
        ).all()
    }
    companies = _companies(session, {note.company_id for note in notes})
    out = []
    for note in notes:
        writer = writers.get(note.written_by)
        company = companies[note.company_id]
        out.append(
            CallerNoteOut(
                id=note.id,
                client=company.slug,
                client_name=company.name,
                phone=note.phone,
                text=note.text,
                written_by=(writer.display_name or writer.email) if writer else "",
                written_by_bureau=writer is not None and writer.role != Role.client,
                written_at=note.written_at.isoformat(),
            )
        )
    return out


def policy_out(*, session: Session, policy: CallerPolicy) -> CallerPolicyOut:
    """A company's policy for a caller with who set it."""
    company = _companies(session, {policy.company_id})[policy.company_id]
    names = operator_names(session=session, user_ids=[policy.set_by])
    return CallerPolicyOut(
        client=company.slug,
        client_name=company.name,
        phone=policy.phone,
        text=policy.text,
        time_limit_minutes=policy.time_limit_minutes,
        set_by=names.get(policy.set_by, ""),
        set_at=policy.set_at.isoformat(),
    )


def _companies(session: Session, ids: set[str]) -> dict[str, Company]:
    if not ids:
        return {}
    found = session.exec(select(Company).where(col(Company.id).in_(ids))).all()
    return {company.id: company for company in found}


def caller_out(
    *,
    session: Session,
    phone: str,
    country: str = "JP",
    exclude_call_id: str | None = None,
    company: Company | None = None,
) -> CallerOut:
    """What an operator should know about a caller before saying a word; the number is shown
    as written in `country` (the called company's), with `company`'s policy and notes."""
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
        policy=_policy_of(session=session, company=company, phone=phone),
        notes=(
            note_outs(
                session=session,
                notes=caller_notes(
                    session=session, phone=phone, company_id=company.id, limit=POP_NOTES
                ),
            )
            if company is not None
            else []
        ),
    )


def _policy_of(*, session: Session, company: Company | None, phone: str) -> CallerPolicyOut | None:
    if company is None:
        return None
    policy = caller_policy(session=session, company_id=company.id, phone=phone)
    return policy_out(session=session, policy=policy) if policy is not None else None


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
            company=company,
        ),
    )
