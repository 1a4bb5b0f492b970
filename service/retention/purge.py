"""What a company's retention lets go: expired closed memos, old calls, recordings, notes.

A memo is never deleted while it is open: unacknowledged, its follow-up unresolved, an
operator still owing the company a callback, or a message of it still on its way. Its
dependents are deleted through the modules that own them, then the memo itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, literal, not_, tuple_
from sqlmodel import Session, col, func, select

from service.calls import caller_notes
from service.calls import service as calls
from service.calls.caller_notes import CallerNote
from service.calls.models import Call
from service.companies import service as companies
from service.companies.followthrough import Retention
from service.companies.models import Company
from service.companies.service import company_config
from service.db import UTCDateTime
from service.dispatch import delivery_queue
from service.dispatch.models import UNSENT, Delivery
from service.escalation import service as escalation
from service.escalation.models import CallbackTask, TaskStatus
from service.followup import reminders
from service.memos import lifecycle, resolutions
from service.memos.models import Memo
from service.retention.models import KINDS

_OWED = (TaskStatus.open, TaskStatus.taken)


@dataclass(frozen=True)
class Cutoffs:
    """Records older than these moments have expired; None where the company keeps them."""

    memos: datetime | None
    recordings: datetime | None
    calls: datetime | None
    caller_notes: datetime | None


def cutoffs(*, retention: Retention, now: datetime) -> Cutoffs:
    """The moments before which each kind of the company's records has expired."""

    def before(days: int | None) -> datetime | None:
        return None if days is None else now - timedelta(days=days)

    return Cutoffs(
        memos=before(retention.memo_days),
        recordings=before(retention.recording_days),
        calls=before(retention.call_days),
        caller_notes=before(retention.caller_note_days),
    )


def retention_of(company: Company) -> Retention | None:
    """The company's retention, when it limits how long any kind of record is kept."""
    retention = company_config(company).retention
    if retention is None or all(days is None for days in retention.model_dump().values()):
        return None
    return retention


def companies_after(*, session: Session, company_id: str | None, limit: int) -> list[Company]:
    """Up to `limit` companies in order of id, after `company_id` (from the first if None)."""
    statement = select(Company).order_by(col(Company.id)).limit(limit)
    if company_id is not None:
        statement = statement.where(col(Company.id) > company_id)
    return list(session.exec(statement).all())


def _settled(before: datetime) -> list[ColumnElement[bool]]:
    """A memo taken before `before` that no one is waiting on any more."""
    return [
        col(Memo.created_at) < literal(before, UTCDateTime()),
        col(Memo.acknowledged_at).is_not(None),
        not_(and_(col(Memo.follow_up_due).is_not(None), col(Memo.resolved_at).is_(None))),
        ~exists().where(
            col(CallbackTask.memo_id) == col(Memo.id), col(CallbackTask.status).in_(_OWED)
        ),
    ]


def _closed(before: datetime) -> list[ColumnElement[bool]]:
    """A memo taken before `before` that nothing is waiting on any more, its messages too."""
    return [
        *_settled(before),
        # The unsent deliveries read once, not once per memo: after a burst of intake with the
        # dispatchers behind they are many, and a planner whose statistics still say "none"
        # would otherwise compare each memo with every one of them.
        col(Memo.id).not_in(
            select(col(Delivery.memo_id)).where(
                col(Delivery.memo_id).is_not(None), col(Delivery.status).in_(UNSENT)
            )
        ),
    ]


def settled_memos(
    *,
    session: Session,
    company_id: str,
    before: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[tuple[str, datetime]]:
    """The company's memos taken before `before` that no one waits on, oldest first, after
    the position; some may still have a message on its way."""
    statement = (
        select(Memo.id, Memo.created_at)
        .where(col(Memo.company_id) == company_id, *_settled(before))
        .order_by(col(Memo.created_at), col(Memo.id))
        .limit(limit)
    )
    if after is not None:
        # Open memos already passed over are not read again batch after batch.
        statement = statement.where(
            tuple_(col(Memo.created_at), col(Memo.id))
            > tuple_(literal(after[0], UTCDateTime()), literal(after[1]))
        )
    return [(memo_id, created) for memo_id, created in session.exec(statement).all()]


def delete_memos(*, session: Session, memo_ids: Sequence[str]) -> int:
    """Delete these memos and everything recorded about them; returns how many memos."""
    delivery_queue.delete_for_memos(session=session, memo_ids=memo_ids)
    resolutions.delete_for_memos(session=session, memo_ids=memo_ids)
    escalation.delete_for_memos(session=session, memo_ids=memo_ids)
    reminders.delete_for_memos(session=session, memo_ids=memo_ids)
    companies.delete_test_sends(session=session, memo_ids=memo_ids)
    deleted = lifecycle.delete_memos(session=session, memo_ids=memo_ids)
    session.flush()
    return deleted


def _old_calls(company_id: str, before: datetime) -> list[ColumnElement[bool]]:
    return [
        col(Call.company_id) == company_id,
        col(Call.started_at) < literal(before, UTCDateTime()),
    ]


def _unreferenced_calls(*, session: Session, company_id: str, before: datetime, limit: int) -> int:
    ids = session.exec(
        select(Call.id)
        .where(
            *_old_calls(company_id, before),
            ~exists().where(col(Memo.call_id) == col(Call.id)),
        )
        .limit(limit)
    ).all()
    deleted = calls.delete_calls(session=session, call_ids=list(ids))
    session.flush()
    return deleted


def _recordings(*, session: Session, company_id: str, before: datetime, limit: int) -> int:
    ids = session.exec(
        select(Call.id)
        .where(*_old_calls(company_id, before), col(Call.recording_url).is_not(None))
        .limit(limit)
    ).all()
    cleared = calls.clear_recordings(session=session, call_ids=list(ids))
    session.flush()
    return cleared


def purge_some(
    *,
    session: Session,
    company_id: str,
    retention: Retention,
    now: datetime,
    state: dict[str, Any],
    limit: int,
) -> int:
    """Delete up to `limit` of the company's expired records, going on from `state`.

    `state` says which kind is being purged and where in its memos the purge is; it is
    updated along with the counts of what was deleted, and its kind becomes "done" once
    nothing of the company's is left to purge. Returns how many records it went through:
    those deleted, and memos passed over because a message of theirs is still on its way.
    """
    limits = cutoffs(retention=retention, now=now)
    spent = 0
    while state.setdefault("kind", KINDS[0]) != "done" and spent < limit:
        kind = state["kind"]
        budget = limit - spent
        before: datetime | None = getattr(limits, kind)
        done = 0
        went_through: int | None = None  # memos read, where some may have been passed over
        if before is not None and kind == "memos":
            position = state.get("after")
            found = settled_memos(
                session=session,
                company_id=company_id,
                before=before,
                after=(datetime.fromisoformat(position[0]), position[1]) if position else None,
                limit=budget,
            )
            memo_ids = [memo_id for memo_id, _ in found]
            # Asked of the batch's own memos: however many messages intake has left waiting,
            # a batch, and the write lock it holds, takes no longer.
            sending = delivery_queue.memos_with_unsent(session=session, memo_ids=memo_ids)
            done = delete_memos(
                session=session,
                memo_ids=[memo_id for memo_id in memo_ids if memo_id not in sending],
            )
            went_through = len(found)
            if found:
                state["after"] = [found[-1][1].isoformat(), found[-1][0]]
        elif before is not None and kind == "recordings":
            done = _recordings(session=session, company_id=company_id, before=before, limit=budget)
        elif before is not None and kind == "calls":
            done = _unreferenced_calls(
                session=session, company_id=company_id, before=before, limit=budget
            )
        elif before is not None and kind == "caller_notes":
            done = caller_notes.purge_caller_notes(
                session=session, company_id=company_id, before=before
            )
        state[kind] = state.get(kind, 0) + done
        if went_through is None:
            went_through = done
        spent += went_through
        if before is None or went_through < budget or kind == "caller_notes":
            state["kind"] = _after(kind)
    return spent


def _after(kind: str) -> str:
    index = KINDS.index(kind) + 1
    return KINDS[index] if index < len(KINDS) else "done"


def expired_counts(
    *, session: Session, company_id: str, retention: Retention, now: datetime
) -> dict[str, int]:
    """How many of the company's records a purge now would delete, by kind; deletes nothing."""
    limits = cutoffs(retention=retention, now=now)
    counts = dict.fromkeys(KINDS, 0)

    def count(statement: Any) -> int:
        return int(session.exec(statement).one())

    if limits.memos is not None:
        counts["memos"] = count(
            select(func.count())
            .select_from(Memo)
            .where(col(Memo.company_id) == company_id, *_closed(limits.memos))
        )
    if limits.recordings is not None:
        counts["recordings"] = count(
            select(func.count())
            .select_from(Call)
            .where(*_old_calls(company_id, limits.recordings), col(Call.recording_url).is_not(None))
        )
    if limits.calls is not None:
        # Kept: a call a memo refers to that this purge keeps.
        referring = [col(Memo.call_id) == col(Call.id)]
        if limits.memos is not None:
            referring.append(not_(and_(*_closed(limits.memos))))
        counts["calls"] = count(
            select(func.count())
            .select_from(Call)
            .where(*_old_calls(company_id, limits.calls), ~exists().where(*referring))
        )
    if limits.caller_notes is not None:
        counts["caller_notes"] = count(
            select(func.count())
            .select_from(CallerNote)
            .where(
                col(CallerNote.company_id) == company_id,
                col(CallerNote.written_at) < limits.caller_notes,
            )
        )
    return counts
