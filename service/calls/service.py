"""Inbound calls: recording them, following their progress, and what the operator must see."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, and_, case, delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from service import clock, events
from service.audit import service as audit
from service.audit.service import Action, Actor
from service.auth.models import User
from service.calls.models import Call, CallerFlag, WebhookReceipt
from service.companies.models import Company
from service.errors import Invalid
from service.i18n import N_
from service.providers.twilio.statuses import CALL_ACTIVE, CALL_FINAL

# Twilio may deliver progress late or out of order; a call's status only moves forward.
_RANK = {"queued": 0, "ringing": 1, "in-progress": 2, **{s: 3 for s in CALL_FINAL}}


class CallError(Invalid):
    """A call operation that cannot be done as asked."""


class CallNotFound(CallError):
    """No call (or flag) has this id."""

    status = 404
    code = "not_found"


class CallTaken(CallError):
    """Another operator has answered this call: it is theirs to handle and to end."""

    status = 409
    code = "call_taken"

    def __init__(self, *, call: Call, operator_name: str) -> None:
        super().__init__(N_("%(name)s has answered this call."), name=operator_name)
        self.call = call
        self.operator_name = operator_name


def operator_name(*, session: Session, user_id: str | None) -> str | None:
    """The name other operators know a user by; None when nobody is named."""
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None:
        return None
    return user.display_name or user.email


def operator_names(*, session: Session, user_ids: Iterable[str | None]) -> dict[str, str]:
    """The names of several users at once, by id (see `operator_name`)."""
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    users = session.exec(select(User).where(col(User.id).in_(wanted))).all()
    return {user.id: user.display_name or user.email for user in users}


def call_event_data(*, session: Session, call: Call, company: Company) -> dict[str, str | None]:
    """The JSON an event about `call` carries, with who answered it."""
    return {
        "id": call.id,
        "call_sid": call.call_sid,
        "client": company.slug,
        "from": call.from_number,
        "status": call.status,
        "answered_by": call.answered_by,
        "answered_by_name": operator_name(session=session, user_id=call.answered_by),
    }


def seen_webhook(*, session: Session, key: str) -> bool:
    """Record a webhook's identity; True when it was handled before (a replay)."""
    if session.get(WebhookReceipt, key) is not None:
        return True
    try:
        with session.begin_nested():
            session.add(WebhookReceipt(key=key, received_at=clock.now()))
    except IntegrityError:
        return True  # the same webhook is being handled at this very moment
    return False


def record_inbound_call(
    *,
    session: Session,
    company: Company,
    call_sid: str,
    from_number: str,
    to_number: str,
    source: str = "twilio",
) -> tuple[Call, bool]:
    """Record a ringing call once per CallSid; returns the call and whether it is new."""
    existing = find_call(session=session, call_sid=call_sid)
    if existing is not None:
        return existing, False
    now = clock.now()
    call = Call(
        call_sid=call_sid,
        company_id=company.id,
        company_version=company.version,
        from_number=from_number,
        to_number=to_number,
        status="ringing",
        source=source,
        started_at=now,
        updated_at=now,
    )
    session.add(call)
    session.flush()
    data = call_event_data(session=session, call=call, company=company)
    events.emit(session=session, type="call.ringing", data=data)
    return call, True


def update_call_status(*, session: Session, call_sid: str, status: str) -> Call | None:
    """Move a call's status forward; an older or unknown status changes nothing."""
    if status not in _RANK:
        raise CallError(
            N_("Unknown call status %(call_status)s."),
            status=400,
            code="bad_call_status",
            call_status=status,
        )
    call = find_call(session=session, call_sid=call_sid)
    if call is None or _RANK[status] <= _RANK.get(call.status, 0):
        return call
    call.status = status
    call.updated_at = clock.now()
    if status in CALL_FINAL:
        call.ended_at = call.updated_at
    session.add(call)
    session.flush()
    _emit_updated(session=session, call=call)
    return call


def _emit_updated(*, session: Session, call: Call) -> None:
    company = company_of(session=session, call=call)
    data = call_event_data(session=session, call=call, company=company)
    events.emit(session=session, type="call.updated", data=data)


def answer_call(*, session: Session, call_id: str, operator_id: str) -> Call:
    """Claim a call for an operator: one operator has it; answering it again is harmless.

    Raises CallTaken when another operator has it, CallNotFound when there is no such call.
    """
    # A real call's progress comes from Twilio; a simulated one moves when picked up.
    picked_up = case(
        (
            and_(col(Call.source) == "simulated", col(Call.status).in_(("queued", "ringing"))),
            "in-progress",
        ),
        else_=col(Call.status),
    )
    # One conditional UPDATE: when two operators press at once, the database lets one row
    # change through and the other finds the call already someone else's.
    claimed = session.execute(
        update(Call)
        .where(
            col(Call.id) == call_id,
            or_(col(Call.answered_by).is_(None), col(Call.answered_by) == operator_id),
        )
        .values(answered_by=operator_id, status=picked_up, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    call = session.get(Call, call_id, populate_existing=True)
    if call is None:
        raise CallNotFound(N_("No such call."))
    if cast(CursorResult[Any], claimed).rowcount == 0:
        name = operator_name(session=session, user_id=call.answered_by) or "?"
        raise CallTaken(call=call, operator_name=name)
    _emit_updated(session=session, call=call)
    return call


def end_call(*, session: Session, call_id: str, operator_id: str, supervisor: bool) -> Call:
    """Hang up a simulated call (a real one ends through Twilio's status callback).

    Only the operator who answered it, or a supervisor, may; a call nobody answered, anyone.
    """
    # Locked, so an answer committed meanwhile is seen before deciding whose call it is.
    call = session.get(Call, call_id, with_for_update=True, populate_existing=True)
    if call is None:
        raise CallNotFound(N_("No such call."))
    if call.answered_by not in (None, operator_id) and not supervisor:
        name = operator_name(session=session, user_id=call.answered_by) or "?"
        raise CallTaken(call=call, operator_name=name)
    updated = update_call_status(session=session, call_sid=call.call_sid, status="completed")
    assert updated is not None
    return updated


def attach_recording(*, session: Session, call_sid: str, recording_url: str) -> Call | None:
    """Keep the voicemail a caller left when nobody could answer."""
    call = find_call(session=session, call_sid=call_sid)
    if call is None:
        return None
    call.recording_url = recording_url
    call.updated_at = clock.now()
    session.add(call)
    session.flush()
    return call


def active_calls(*, session: Session) -> list[tuple[Call, Company]]:
    """Calls ringing or in progress, oldest first."""
    rows = session.exec(
        select(Call, Company)
        .join(Company, col(Company.id) == col(Call.company_id))
        .where(col(Call.status).in_(CALL_ACTIVE))
        .order_by(col(Call.started_at))
    ).all()
    return [(call, company) for call, company in rows]


@dataclass(frozen=True)
class CallerHistory:
    phone: str
    earlier_calls: int
    calls: list[tuple[Call, Company]]
    flags: list[CallerFlag]


def caller_history(
    *, session: Session, phone: str, exclude_call_id: str | None = None, limit: int = 10
) -> CallerHistory:
    """Earlier calls from a number, across companies, with its active flags."""
    conditions = [col(Call.from_number) == phone]
    if exclude_call_id is not None:
        conditions.append(col(Call.id) != exclude_call_id)
    count = session.exec(select(func.count()).select_from(Call).where(*conditions)).one()
    calls = session.exec(
        select(Call, Company)
        .join(Company, col(Company.id) == col(Call.company_id))
        .where(*conditions)
        .order_by(col(Call.started_at).desc())
        .limit(limit)
    ).all()
    flags = session.exec(
        select(CallerFlag)
        .where(CallerFlag.phone == phone, col(CallerFlag.cleared_at).is_(None))
        .order_by(col(CallerFlag.flagged_at).desc())
    ).all()
    return CallerHistory(
        phone=phone,
        earlier_calls=int(count),
        calls=[(call, company) for call, company in calls],
        flags=list(flags),
    )


def flag_caller(
    *, session: Session, phone: str, kind: str, note: str, flagged_by: str
) -> CallerFlag:
    """Warn every operator about a caller from now on."""
    note = note.strip()
    if not note:
        raise CallError(N_("Say what happened in the note."), field="note", code="missing")
    flag = CallerFlag(
        phone=phone, kind=kind, note=note, flagged_by=flagged_by, flagged_at=clock.now()
    )
    session.add(flag)
    session.flush()
    _audit_flag(session=session, flag=flag, user_id=flagged_by, action=Action.caller_flagged)
    return flag


def _audit_flag(*, session: Session, flag: CallerFlag, user_id: str, action: Action) -> None:
    user = session.get(User, user_id)
    audit.record(
        session=session,
        actor=Actor(name=user.email if user else user_id, user_id=user_id),
        action=action,
        target=f"caller:{flag.phone}",
        detail={"flag": flag.id, "kind": flag.kind, "note": flag.note[:200]},
    )


def clear_flag(*, session: Session, flag_id: str, cleared_by: str) -> CallerFlag:
    """Lift a flag; it stays on record, and so does who lifted it."""
    flag = session.get(CallerFlag, flag_id)
    if flag is None:
        raise CallNotFound(N_("No such flag."))
    if flag.cleared_at is None:
        flag.cleared_at = clock.now()
        session.add(flag)
        session.flush()
        _audit_flag(
            session=session, flag=flag, user_id=cleared_by, action=Action.caller_flag_cleared
        )
    return flag


def find_call(*, session: Session, call_sid: str) -> Call | None:
    """The call with this CallSid, if recorded."""
    return session.exec(select(Call).where(Call.call_sid == call_sid)).first()


def company_of(*, session: Session, call: Call) -> Company:
    """The company a call was made to."""
    company = session.get(Company, call.company_id)
    assert company is not None  # a foreign key guarantees it
    return company


def delete_calls(*, session: Session, call_ids: Collection[str]) -> int:
    """Delete calls no memo refers to any more; returns how many were deleted."""
    if not call_ids:
        return 0
    session.exec(delete(Call).where(col(Call.id).in_(call_ids)))
    return len(call_ids)


def clear_recordings(*, session: Session, call_ids: Collection[str]) -> int:
    """Forget where these calls' recordings are kept; returns how many were cleared."""
    if not call_ids:
        return 0
    session.exec(update(Call).where(col(Call.id).in_(call_ids)).values(recording_url=None))
    return len(call_ids)
