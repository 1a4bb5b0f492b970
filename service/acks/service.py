"""Acknowledging a memo: the first acknowledgement wins and stops escalation."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col

from service import clock, events
from service.escalation.models import CallbackTask, TaskOutcome, TaskStatus
from service.memos.models import Memo, MemoStatus


class AckVia(StrEnum):
    link = "link"
    sms = "sms"
    voice = "voice"
    portal = "portal"
    operator = "operator"


@dataclass(frozen=True)
class AckResult:
    memo: Memo
    first: bool  # False when someone had already acknowledged it


def acknowledge(*, session: Session, memo_id: str, by: str, via: AckVia) -> AckResult | None:
    """Mark a memo seen; later acknowledgements change nothing. None if there is no such memo."""
    now = clock.now()
    # One conditional UPDATE decides the race: whoever commits it first is the acknowledgement.
    result = session.execute(
        update(Memo)
        .where(col(Memo.id) == memo_id, col(Memo.acknowledged_at).is_(None))
        .values(
            status=MemoStatus.acknowledged,
            acknowledged_at=now,
            acknowledged_by=by[:200],
            acknowledged_via=via.value,
            next_escalation_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    memo = session.get(Memo, memo_id, populate_existing=True)
    if memo is None:
        return None
    first = result.rowcount == 1  # type: ignore[attr-defined]
    if first:
        _close_callbacks(session=session, memo_id=memo_id, via=via)
        events.emit(
            session=session,
            type="memo.updated",
            data={"id": memo.id, "status": MemoStatus.acknowledged.value, "via": via.value},
        )
    return AckResult(memo=memo, first=first)


def _close_callbacks(*, session: Session, memo_id: str, via: AckVia) -> None:
    """An acknowledged memo needs no more callbacks: its open tasks are done."""
    session.execute(
        update(CallbackTask)
        .where(
            col(CallbackTask.memo_id) == memo_id,
            col(CallbackTask.status).in_([TaskStatus.open, TaskStatus.taken]),
        )
        .values(
            status=TaskStatus.done,
            outcome=TaskOutcome.acknowledged,
            note=f"acknowledged ({via.value})",
            updated_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )
