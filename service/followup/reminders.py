"""Follow-up reminders: an open memo's contacts are told its deadline is near, then that it passed.

Each memo with a follow-up deadline carries when it is next looked at
(`memo.next_follow_up_at`); what was sent is kept in `follow_up_notices`, one row per notice
under a unique key, so each goes out once whichever dispatcher gets there first, and a
restart resumes from the database. For a deadline D and the company's rule:

- a reminder once at D - `remind_before`, only while D is still ahead;
- with `renotify_every`, an overdue notice at D and again every interval while unresolved
  (after a pause of the worker only the latest one missed is sent, not each of them).

A resolved memo has no timer; reopened, it is due anew and reminded anew.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, func, select

from service import clock
from service.audit import service as audit
from service.audit.service import Action, Actor
from service.companies.config import CompanyConfig
from service.companies.followthrough import FollowUp
from service.companies.models import Company
from service.companies.service import company_config
from service.dispatch.delivery_queue import enqueue
from service.dispatch.models import Delivery, DeliveryReason
from service.errors import Conflict, Invalid
from service.followup.models import FollowUpNotice, NoticeKind
from service.i18n import N_
from service.memos import lifecycle
from service.memos.models import Memo
from service.routing.optouts import opted_out_among
from service.routing.service import plan_recipients

REASONS = {
    NoticeKind.reminder: DeliveryReason.follow_up_reminder,
    NoticeKind.overdue: DeliveryReason.follow_up_overdue,
}


@dataclass(frozen=True)
class NextNotice:
    """The notice a memo is owed next, and from when."""

    kind: NoticeKind
    due_at: datetime


def next_notice(
    *, rule: FollowUp, deadline: datetime, sent: list[FollowUpNotice], now: datetime
) -> NextNotice | None:
    """The next notice for `deadline` after those `sent` for it; None when none is left.

    A notice already due at `now` is the latest one missed: re-notifications a stopped
    worker missed are not sent one after another.
    """
    reminded = any(notice.kind == NoticeKind.reminder for notice in sent)
    if rule.remind_before is not None and not reminded and now < deadline:
        return NextNotice(NoticeKind.reminder, deadline - rule.remind_before)
    every = rule.renotify_every
    if every is None:
        return None
    overdue = [notice.due_at for notice in sent if notice.kind == NoticeKind.overdue]
    following = max(overdue) + every if overdue else deadline
    if following <= now:
        # The latest slot at or before now, on the deadline's own rhythm.
        following = deadline + ((now - deadline) // every) * every
    return NextNotice(NoticeKind.overdue, following)


def next_due(*, session: Session) -> datetime | None:
    """When the next follow-up reminder of an open memo is looked at."""
    moment: datetime | None = session.exec(
        select(func.min(Memo.next_follow_up_at)).where(col(Memo.resolved_at).is_(None))
    ).one()
    return moment


def send_due(*, session: Session, worker: str, limit: int = 50) -> int:
    """Send every follow-up reminder and re-notification that has fallen due; how many went."""
    memos = session.exec(
        select(Memo)
        .where(col(Memo.next_follow_up_at) <= clock.now(), col(Memo.resolved_at).is_(None))
        .order_by(col(Memo.next_follow_up_at))
        .limit(limit)
        # A memo being resolved right now is locked: skip it rather than remind behind it.
        .with_for_update(skip_locked=True)
    ).all()
    return sum(_send_next(session=session, memo=memo, worker=worker) for memo in memos)


def notices_of(*, session: Session, memo_id: str) -> list[FollowUpNotice]:
    """The follow-up notices sent for a memo, oldest first."""
    return list(
        session.exec(
            select(FollowUpNotice)
            .where(FollowUpNotice.memo_id == memo_id)
            .order_by(col(FollowUpNotice.sent_at), col(FollowUpNotice.kind))
        ).all()
    )


def _rule_of(*, session: Session, memo: Memo) -> tuple[CompanyConfig, FollowUp] | None:
    company = session.get(Company, memo.company_id)
    if company is None:
        return None
    try:
        config = company_config(company)
    except ValidationError:
        return None  # a document a later rule refuses: nobody to remind by it
    return config, config.follow_up_rule()


def _send_next(*, session: Session, memo: Memo, worker: str) -> int:
    found = _rule_of(session=session, memo=memo)
    deadline = memo.follow_up_due
    if found is None or deadline is None:
        lifecycle.set_follow_up_timer(session=session, memo=memo, at=None)
        return 0
    config, rule = found
    now = clock.now()
    notices = notices_of(session=session, memo_id=memo.id)
    sent = [notice for notice in notices if notice.deadline == deadline]
    owed = next_notice(rule=rule, deadline=deadline, sent=sent, now=now)
    if owed is None or owed.due_at > now:
        # Not yet (or the company's rule changed): look again when it is due.
        lifecycle.set_follow_up_timer(session=session, memo=memo, at=owed.due_at if owed else None)
        return 0
    notice = FollowUpNotice(
        memo_id=memo.id,
        kind=owed.kind,
        # Counted over the memo's life, so a reopened memo's notices have numbers of their own.
        number=1 + sum(1 for earlier in notices if earlier.kind == owed.kind),
        deadline=deadline,
        due_at=owed.due_at,
        sent_at=now,
        sent_by=worker[:64],
    )
    try:
        with session.begin_nested():
            session.add(notice)
    except IntegrityError:
        return 0  # another dispatcher sent this one first
    notice.recipients = _notify(
        session=session, memo=memo, config=config, rule=rule, kind=owed.kind
    )
    session.add(notice)
    following = next_notice(rule=rule, deadline=deadline, sent=[*sent, notice], now=now)
    lifecycle.set_follow_up_timer(
        session=session, memo=memo, at=following.due_at if following else None
    )
    session.flush()
    return 1


def _first_contacts(*, session: Session, memo: Memo) -> list[str]:
    """The contacts the memo was first sent to, in the order they were."""
    keys = session.exec(
        select(Delivery.contact_key)
        .where(Delivery.memo_id == memo.id, Delivery.reason == DeliveryReason.routing)
        .order_by(col(Delivery.created_at), col(Delivery.id))
    ).all()
    return list(dict.fromkeys(keys))


def _notify(
    *, session: Session, memo: Memo, config: CompanyConfig, rule: FollowUp, kind: NoticeKind
) -> int:
    """Queue the notice for each contact on each of the rule's channels; how many were queued."""
    contacts = rule.notify or _first_contacts(session=session, memo=memo)
    plan = plan_recipients(
        config=config,
        contact_keys=contacts,
        channels=rule.channels,
        opted_out=lambda phones: opted_out_among(session=session, phones=phones),
    )
    queued = enqueue(
        session=session,
        memo=memo,
        recipients=plan.recipients,
        reason=REASONS[kind],
        due_at=clock.now(),
    )
    return len(queued)


def company_zone(config: CompanyConfig) -> ZoneInfo:
    """The zone a company's deadlines are read and shown in."""
    return ZoneInfo(config.hours.timezone if config.hours else "Asia/Tokyo")


def set_deadline(*, session: Session, memo: Memo, due: datetime, actor: Actor) -> None:
    """Give an open memo its own follow-up deadline, audited; its reminders follow it.

    A deadline without an offset is read in the company's zone.
    """
    if memo.resolved_at is not None:
        raise Conflict(
            N_("This memo is resolved: reopen it before giving it a deadline."), field="due"
        )
    if due.tzinfo is None:
        company = session.get(Company, memo.company_id)
        assert company is not None
        due = due.replace(tzinfo=company_zone(company_config(company)))
    due = due.astimezone(UTC)
    if due <= clock.now():
        raise Invalid(N_("The deadline must be in the future."), field="due")
    previous = memo.follow_up_due
    lifecycle.set_follow_up_due(session=session, memo=memo, due=due)
    audit.record(
        session=session,
        actor=actor,
        action=Action.memo_follow_up_set,
        target=f"memo:{memo.id}",
        company_id=memo.company_id,
        detail={
            "due": memo.follow_up_due.isoformat() if memo.follow_up_due else "",
            "was": previous.isoformat() if previous else "",
        },
    )
    session.flush()


def delete_for_memos(*, session: Session, memo_ids: Collection[str]) -> None:
    """Delete the reminders and re-notifications sent for these memos."""
    if memo_ids:
        session.exec(delete(FollowUpNotice).where(col(FollowUpNotice.memo_id).in_(memo_ids)))


def overdue_memos(*, session: Session, company_id: str, limit: int = 200) -> list[Memo]:
    """The company's memos still unresolved past their follow-up deadline, most overdue first."""
    return list(
        session.exec(
            select(Memo)
            .where(
                Memo.company_id == company_id,
                col(Memo.follow_up_due) <= clock.now(),
                col(Memo.resolved_at).is_(None),
            )
            .order_by(col(Memo.follow_up_due), col(Memo.id))
            .limit(limit)
        ).all()
    )
