"""A memo's life after it is taken: its relay status, its acknowledgement, its escalation timer.

The one module that changes those columns of the memo row; dispatch, escalation and
acknowledgements call it rather than writing the row themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col

from service import clock, events
from service.auth.models import User
from service.companies.config import CompanyConfig
from service.memos.models import Memo, MemoStatus, Urgency


class AckVia(StrEnum):
    link = "link"
    sms = "sms"
    voice = "voice"
    portal = "portal"
    operator = "operator"
    # Where a chat message was seen (CONTRACT §8): its button, postback or reply.
    slack = "slack"
    chatwork = "chatwork"
    line = "line"
    lineworks = "lineworks"


def step_due(*, memo: Memo, config: CompanyConfig, index: int) -> datetime | None:
    """When escalation step `index` of a memo falls due; None when the company has no such step."""
    if index >= len(config.escalation):
        return None
    step = config.escalation[index]
    return memo.created_at + step.delay(urgent=memo.urgency == Urgency.urgent)


def schedule_escalation(*, memo: Memo, config: CompanyConfig) -> None:
    """Set a new memo's first escalation timer, before it is written."""
    memo.next_escalation_at = step_due(memo=memo, config=config, index=0)


def set_escalation_timer(*, session: Session, memo: Memo, at: datetime | None) -> None:
    """Set when the memo's next escalation step falls due; None when no step is left."""
    memo.next_escalation_at = at
    session.add(memo)


def add_skipped(*, session: Session, memo: Memo, records: Iterable[dict[str, str]]) -> None:
    """Record more contacts that could not be reached, with the reason."""
    more = list(records)
    if more:
        memo.skipped = [*memo.skipped, *more]
        session.add(memo)


def set_relay_status(*, session: Session, memo: Memo, status: MemoStatus) -> bool:
    """Move an unacknowledged memo to a relay status; False if an acknowledgement came first."""
    # Conditional, like the acknowledgement itself: one committed since the memo was read
    # stands (and keeps its code out of use).
    moved = session.execute(
        update(Memo)
        .where(col(Memo.id) == memo.id, col(Memo.status) != MemoStatus.acknowledged)
        .values(status=status, updated_at=clock.now())
    )
    if moved.rowcount == 0:  # type: ignore[attr-defined]
        session.refresh(memo)
        return False
    events.emit(session=session, type="memo.updated", data={"id": memo.id, "status": status.value})
    return True


def acknowledge(
    *,
    session: Session,
    memo_id: str,
    by: str,
    via: AckVia,
    recorded_by: User | None = None,
) -> tuple[Memo | None, bool]:
    """Mark a memo seen and stop its escalation timer; the memo, and whether this was first.

    `recorded_by` is the Relay user who entered it, kept beside the person named in `by`.
    """
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
            acknowledged_by_user_id=recorded_by.id if recorded_by else None,
            acknowledged_recorded_by=(
                (recorded_by.display_name or recorded_by.email)[:320] if recorded_by else None
            ),
            next_escalation_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    memo = session.get(Memo, memo_id, populate_existing=True)
    if memo is None:
        return None, False
    first = result.rowcount == 1  # type: ignore[attr-defined]
    if first:
        events.emit(
            session=session,
            type="memo.updated",
            data={"id": memo.id, "status": MemoStatus.acknowledged.value, "via": via.value},
        )
    return memo, first
