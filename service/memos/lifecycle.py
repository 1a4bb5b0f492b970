"""A memo's life after it is taken: relay status, acknowledgement, timers, resolution.

The one module that changes those columns of the memo row; dispatch, escalation and
acknowledgements call it rather than writing the row themselves.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import ValidationError
from sqlalchemy import delete, update
from sqlmodel import Session, col

from service import clock, events
from service.auth.models import User
from service.companies.config import CompanyConfig
from service.companies.followthrough import FollowUp
from service.companies.models import Company
from service.companies.service import company_config
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
        _start_follow_up(session=session, memo=memo)
        events.emit(
            session=session,
            type="memo.updated",
            data={"id": memo.id, "status": MemoStatus.acknowledged.value, "via": via.value},
        )
    return memo, first


def _follow_up_rule(*, session: Session, memo: Memo) -> FollowUp | None:
    """The follow-up rule of the memo's company; None when its document cannot be read."""
    company = session.get(Company, memo.company_id)
    if company is None:
        return None
    try:
        return company_config(company).follow_up_rule()
    except ValidationError:
        # A stored document a later rule refuses still lets its memos be acknowledged.
        return None


def _follow_up_due(*, session: Session, memo: Memo, start: datetime) -> datetime | None:
    """When a memo open from `start` should be resolved by; None if its company's rule skips it."""
    rule = _follow_up_rule(session=session, memo=memo)
    if rule is None:
        return None
    return rule.due(category=memo.category.value, acknowledged_at=start)


def _first_follow_up_at(*, session: Session, memo: Memo, due: datetime | None) -> datetime | None:
    """When an open memo due at `due` is first looked at for a reminder: the earliest one."""
    if due is None:
        return None
    rule = _follow_up_rule(session=session, memo=memo)
    remind_before = rule.remind_before if rule is not None else None
    return due - remind_before if remind_before is not None else due


def set_follow_up_due(*, session: Session, memo: Memo, due: datetime) -> None:
    """Give an open memo its own deadline; its reminders follow the new one."""
    memo.follow_up_due = due
    memo.next_follow_up_at = _first_follow_up_at(session=session, memo=memo, due=due)
    memo.updated_at = clock.now()
    session.add(memo)
    events.emit(
        session=session, type="memo.updated", data={"id": memo.id, "status": memo.status.value}
    )


def set_follow_up_timer(*, session: Session, memo: Memo, at: datetime | None) -> None:
    """Set when the memo's next follow-up reminder is looked at; None when none is left."""
    memo.next_follow_up_at = at
    session.add(memo)


def _start_follow_up(*, session: Session, memo: Memo) -> None:
    """Set when a just-acknowledged memo should be resolved by, if the company follows it up."""
    if memo.acknowledged_at is None or memo.resolved_at is not None:
        return
    if memo.follow_up_due is not None:
        return  # a deadline given before the memo was seen stands
    due = _follow_up_due(session=session, memo=memo, start=memo.acknowledged_at)
    if due is not None:
        memo.follow_up_due = due
        memo.next_follow_up_at = _first_follow_up_at(session=session, memo=memo, due=due)
        session.add(memo)


def record_resolution(*, session: Session, memo: Memo, resolved: bool) -> None:
    """Keep when an acknowledged memo was resolved, or reopen it; the follow-up due goes with it.

    A memo stays resolved from the first time it was said to be until a later account says it
    is not; then it is open again, due anew from that moment under the company's rule.
    """
    now = clock.now()
    if resolved:
        if memo.resolved_at is None:
            memo.resolved_at = now
        memo.follow_up_due = None
        memo.next_follow_up_at = None
    elif memo.resolved_at is not None:
        memo.resolved_at = None
        memo.follow_up_due = _follow_up_due(session=session, memo=memo, start=now)
        memo.next_follow_up_at = _first_follow_up_at(
            session=session, memo=memo, due=memo.follow_up_due
        )
    memo.updated_at = now
    session.add(memo)
    events.emit(
        session=session, type="memo.updated", data={"id": memo.id, "status": memo.status.value}
    )


def delete_memos(*, session: Session, memo_ids: Collection[str]) -> int:
    """Delete memos whose dependents are already gone; returns how many were deleted."""
    if not memo_ids:
        return 0
    session.exec(delete(Memo).where(col(Memo.id).in_(memo_ids)))
    return len(memo_ids)
