"""Everything on record about one caller number: calls, memos, flags, notes and policies.

Staff read it bureau-wide; a client company reads only its own calls and memos. Flags are the
bureau's (a flag names a number, not a company, and its note may speak of another company's
calls), so a company's record holds none. Notes and policies belong to one company each: a
company's record holds its own, the bureau's every company's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, or_, select

from service.audit.models import AuditEntry
from service.audit.service import Action
from service.auth.models import Role, User
from service.calls.caller_notes import CallerNote
from service.calls.caller_policies import CallerPolicy
from service.calls.models import Call, CallerFlag
from service.calls.service import operator_names
from service.companies.models import Company
from service.companies.service import TEST_MEMO_IDS
from service.memos.models import Memo
from service.memos.resolutions import MemoResolution, resolutions_by_memo


@dataclass(frozen=True)
class FlagRecord:
    """A flag with the names of who raised it and, once lifted, who lifted it."""

    flag: CallerFlag
    flagged_by: str
    cleared_by: str | None


@dataclass(frozen=True)
class CallerRecord:
    """A number's calls and memos, newest first; `flags` is None in a company's record."""

    phone: str
    calls: list[tuple[Call, Company]]
    memos: list[tuple[Memo, Company]]
    flags: list[FlagRecord] | None
    # Names of the operators who answered the calls and took the memos, by user id.
    names: dict[str, str]
    # How the company said it handled each memo, every account oldest first, by memo id.
    resolutions: dict[str, list[MemoResolution]]
    # Notes kept about the caller, newest first, and how each company wants them handled.
    notes: list[tuple[CallerNote, Company]] = field(default_factory=list)
    policies: list[tuple[CallerPolicy, Company]] = field(default_factory=list)
    # Who wrote the notes and set the policies, by user id.
    writers: dict[str, Writer] = field(default_factory=dict)


@dataclass(frozen=True)
class Writer:
    """Who wrote a note or set a policy: their name, and whether they are bureau staff."""

    name: str
    bureau: bool


def caller_record(*, session: Session, phone: str, company_id: str | None) -> CallerRecord:
    """The record of calls from `phone` (E.164) and memos about them, of one company or all."""
    call_query = (
        select(Call, Company)
        .join(Company, col(Company.id) == col(Call.company_id))
        .where(col(Call.from_number) == phone)
    )
    # A memo belongs to the caller when the operator wrote the number down, or when it was
    # taken during one of their calls (the operator may have noted another number to call).
    calls_from = select(Call.id).where(col(Call.from_number) == phone)
    memo_query = (
        select(Memo, Company)
        .join(Company, col(Company.id) == col(Memo.company_id))
        .where(
            or_(col(Memo.caller_phone) == phone, col(Memo.call_id).in_(calls_from)),
            col(Memo.id).not_in(TEST_MEMO_IDS),
        )
    )
    if company_id is not None:
        call_query = call_query.where(col(Call.company_id) == company_id)
        memo_query = memo_query.where(col(Memo.company_id) == company_id)
    calls = [
        (call, company)
        for call, company in session.exec(
            call_query.order_by(col(Call.started_at).desc(), col(Call.id).desc())
        ).all()
    ]
    memos = [
        (memo, company)
        for memo, company in session.exec(
            memo_query.order_by(col(Memo.created_at).desc(), col(Memo.id).desc())
        ).all()
    ]
    flags = None if company_id is not None else _flags(session=session, phone=phone)
    names = operator_names(
        session=session,
        user_ids=[call.answered_by for call, _ in calls] + [memo.operator_id for memo, _ in memos],
    )
    notes, policies = _notes_and_policies(session=session, phone=phone, company_id=company_id)
    return CallerRecord(
        phone=phone,
        calls=calls,
        memos=memos,
        flags=flags,
        names=names,
        resolutions=resolutions_by_memo(session=session, memo_ids=[memo.id for memo, _ in memos]),
        notes=notes,
        policies=policies,
        writers=_writers(
            session=session,
            user_ids={note.written_by for note, _ in notes} | {p.set_by for p, _ in policies},
        ),
    )


def _notes_and_policies(
    *, session: Session, phone: str, company_id: str | None
) -> tuple[list[tuple[CallerNote, Company]], list[tuple[CallerPolicy, Company]]]:
    note_query = (
        select(CallerNote, Company)
        .join(Company, col(Company.id) == col(CallerNote.company_id))
        .where(col(CallerNote.phone) == phone)
    )
    policy_query = (
        select(CallerPolicy, Company)
        .join(Company, col(Company.id) == col(CallerPolicy.company_id))
        .where(col(CallerPolicy.phone) == phone)
    )
    if company_id is not None:
        note_query = note_query.where(col(CallerNote.company_id) == company_id)
        policy_query = policy_query.where(col(CallerPolicy.company_id) == company_id)
    notes = session.exec(
        note_query.order_by(col(CallerNote.written_at).desc(), col(CallerNote.id).desc())
    ).all()
    policies = session.exec(policy_query.order_by(col(Company.name), col(Company.slug))).all()
    return [(n, c) for n, c in notes], [(p, c) for p, c in policies]


def _writers(*, session: Session, user_ids: set[str]) -> dict[str, Writer]:
    if not user_ids:
        return {}
    users = session.exec(select(User).where(col(User.id).in_(user_ids))).all()
    return {
        user.id: Writer(name=user.display_name or user.email, bureau=user.role != Role.client)
        for user in users
    }


def _flags(*, session: Session, phone: str) -> list[FlagRecord]:
    """Every flag ever raised on `phone`, lifted ones too, newest first."""
    flags = session.exec(
        select(CallerFlag)
        .where(col(CallerFlag.phone) == phone)
        .order_by(col(CallerFlag.flagged_at).desc(), col(CallerFlag.id).desc())
    ).all()
    if not flags:
        return []
    # The flag keeps when it was lifted; who lifted it is in the audit trail.
    lifted = session.exec(
        select(AuditEntry).where(
            col(AuditEntry.action) == Action.caller_flag_cleared.value,
            col(AuditEntry.target) == f"caller:{phone}",
        )
    ).all()
    lifted_by = {entry.detail.get("flag", ""): entry for entry in lifted}
    names = operator_names(
        session=session,
        user_ids=[f.flagged_by for f in flags] + [e.actor_id for e in lifted_by.values()],
    )
    return [
        FlagRecord(
            flag=flag,
            flagged_by=names.get(flag.flagged_by, ""),
            cleared_by=_lifter(lifted_by.get(flag.id), names) if flag.cleared_at else None,
        )
        for flag in flags
    ]


def _lifter(entry: AuditEntry | None, names: dict[str, str]) -> str:
    """Who lifted a flag: their name, else the trail's name for them."""
    if entry is None:
        return ""
    return names.get(entry.actor_id or "", entry.actor)
