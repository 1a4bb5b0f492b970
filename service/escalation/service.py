"""Escalation: while a memo is unacknowledged, each step fires once when it falls due."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from service import clock, events
from service.companies.config import CompanyConfig, EscalationStep
from service.companies.models import Company
from service.companies.service import company_config
from service.dispatch.delivery_queue import enqueue
from service.dispatch.models import DeliveryReason
from service.escalation.models import CallbackTask, EscalationFiring, TaskStatus
from service.memos import lifecycle
from service.memos.lifecycle import step_due
from service.memos.models import Memo
from service.routing.optouts import opted_out_among
from service.routing.service import matching_rule, plan_recipients


def next_due(*, session: Session) -> datetime | None:
    """When the next escalation step of an unacknowledged memo falls due."""
    moment: datetime | None = session.exec(
        select(func.min(Memo.next_escalation_at)).where(col(Memo.acknowledged_at).is_(None))
    ).one()
    return moment


def fire_due(*, session: Session, worker: str, limit: int = 50) -> int:
    """Fire every escalation step that has fallen due; returns how many fired."""
    memos = session.exec(
        select(Memo)
        .where(
            col(Memo.next_escalation_at) <= clock.now(),
            col(Memo.acknowledged_at).is_(None),
        )
        .order_by(col(Memo.next_escalation_at))
        .limit(limit)
        # A memo being acknowledged right now is locked: skip it rather than fire behind it.
        .with_for_update(skip_locked=True)
    ).all()
    fired = 0
    for memo in memos:
        fired += _fire_next(session=session, memo=memo, worker=worker)
    return fired


def _fire_next(*, session: Session, memo: Memo, worker: str) -> int:
    company = session.get(Company, memo.company_id)
    assert company is not None
    config = company_config(company)
    index = int(
        session.exec(
            select(func.count())
            .select_from(EscalationFiring)
            .where(EscalationFiring.memo_id == memo.id)
        ).one()
    )
    due = step_due(memo=memo, config=config, index=index)
    now = clock.now()
    if due is None or due > now:
        # The company's steps changed: follow them.
        lifecycle.set_escalation_timer(session=session, memo=memo, at=due)
        return 0
    step = config.escalation[index]
    try:
        with session.begin_nested():
            session.add(
                EscalationFiring(
                    memo_id=memo.id,
                    step=index,
                    action=step.action or "notify",
                    due_at=due,
                    fired_at=now,
                    fired_by=worker,
                )
            )
    except IntegrityError:
        return 0  # another dispatcher fired this step first
    if step.action == "operator_callback":
        _open_callback(session=session, memo=memo, config=config, due=now)
    else:
        _notify(session=session, memo=memo, config=config, step=step)
    lifecycle.set_escalation_timer(
        session=session, memo=memo, at=step_due(memo=memo, config=config, index=index + 1)
    )
    session.flush()
    return 1


def _notify(*, session: Session, memo: Memo, config: CompanyConfig, step: EscalationStep) -> None:
    assert step.notify is not None and step.channels is not None
    plan = plan_recipients(
        config=config,
        contact_keys=step.notify,
        channels=step.channels,
        opted_out=lambda phones: opted_out_among(session=session, phones=phones),
    )
    enqueue(
        session=session,
        memo=memo,
        recipients=plan.recipients,
        reason=DeliveryReason.escalation,
        due_at=clock.now(),
    )
    lifecycle.add_skipped(
        session=session, memo=memo, records=(skipped.record() for skipped in plan.skipped)
    )


def _callee(*, memo: Memo, config: CompanyConfig) -> tuple[str | None, str | None]:
    """Whom the operator should phone: the first routed contact with a phone, else anyone's."""
    rule = matching_rule(config=config, category=memo.category.value, urgency=memo.urgency.value)
    routed = {contact.key: contact for contact in config.contacts}
    ordered = [routed[key] for key in rule.notify if key in routed] + list(config.contacts)
    for contact in ordered:
        if contact.phone:
            return contact.key, contact.phone
    return None, None


def _open_callback(*, session: Session, memo: Memo, config: CompanyConfig, due: datetime) -> None:
    contact_key, phone = _callee(memo=memo, config=config)
    task = CallbackTask(
        memo_id=memo.id,
        company_id=memo.company_id,
        contact_key=contact_key,
        phone=phone,
        status=TaskStatus.open,
        due_at=due,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(task)
    session.flush()
    events.emit(
        session=session,
        type="task.created",
        data={"id": task.id, "memo_id": memo.id, "due_at": due.isoformat()},
    )


def firings_of(*, session: Session, memo_id: str) -> list[EscalationFiring]:
    """The steps fired for a memo, in order."""
    return list(
        session.exec(
            select(EscalationFiring)
            .where(EscalationFiring.memo_id == memo_id)
            .order_by(col(EscalationFiring.step))
        ).all()
    )


def delete_for_memos(*, session: Session, memo_ids: Collection[str]) -> None:
    """Delete the escalation steps fired and the callback tasks of these memos."""
    if not memo_ids:
        return
    session.exec(delete(EscalationFiring).where(col(EscalationFiring.memo_id).in_(memo_ids)))
    session.exec(delete(CallbackTask).where(col(CallbackTask.memo_id).in_(memo_ids)))
