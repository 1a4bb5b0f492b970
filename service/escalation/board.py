"""The supervisor's board: what is late, what failed, what escalated."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from service import clock
from service.channels import Channel
from service.companies.models import Company
from service.companies.service import TEST_MEMO_IDS, company_config
from service.dispatch.models import Delivery, DeliveryStatus
from service.escalation.models import CallbackTask, EscalationFiring, TaskStatus
from service.escalation.schema import (
    Board,
    BoardMemo,
    EscalationFired,
    FailedAttempt,
    FailedDelivery,
    OverdueCallback,
    OverdueFollowUp,
    UnreachedMemo,
    WaitingMemo,
)
from service.memos.models import Memo, MemoStatus
from service.phones import display_for


def board(*, session: Session, limit: int = 100) -> Board:
    """Everything a supervisor watches, oldest trouble first."""
    now = clock.now()
    waiting = session.exec(
        select(Memo, Company)
        .join(Company, col(Company.id) == col(Memo.company_id))
        .where(col(Memo.status) != MemoStatus.acknowledged, col(Memo.id).not_in(TEST_MEMO_IDS))
        .order_by(col(Memo.created_at))
        .limit(limit)
    ).all()
    unreached = session.exec(
        select(Memo, Company)
        .join(Company, col(Company.id) == col(Memo.company_id))
        .where(col(Memo.status) == MemoStatus.failed, col(Memo.id).not_in(TEST_MEMO_IDS))
        .order_by(col(Memo.updated_at).desc(), col(Memo.id))
        .limit(limit)
    ).all()
    reasons = _failures_of(
        session=session,
        countries={memo.id: company_config(company).country for memo, company in unreached},
    )
    failed = session.exec(
        select(Delivery, Memo, Company)
        .join(Memo, col(Memo.id) == col(Delivery.memo_id))
        .join(Company, col(Company.id) == col(Memo.company_id))
        .where(Delivery.status == DeliveryStatus.failed, col(Memo.id).not_in(TEST_MEMO_IDS))
        .order_by(col(Delivery.updated_at).desc())
        .limit(limit)
    ).all()
    fired = session.exec(
        select(EscalationFiring, Memo, Company)
        .join(Memo, col(Memo.id) == col(EscalationFiring.memo_id))
        .join(Company, col(Company.id) == col(Memo.company_id))
        .order_by(col(EscalationFiring.fired_at).desc(), col(EscalationFiring.step).desc())
        .limit(limit)
    ).all()
    overdue = session.exec(
        select(CallbackTask, Memo, Company)
        .join(Memo, col(Memo.id) == col(CallbackTask.memo_id))
        .join(Company, col(Company.id) == col(CallbackTask.company_id))
        .where(
            col(CallbackTask.status).in_([TaskStatus.open, TaskStatus.taken]),
            col(CallbackTask.due_at) <= now,
        )
        .order_by(col(CallbackTask.due_at))
        .limit(limit)
    ).all()
    late_follow_ups = session.exec(
        select(Memo, Company)
        .join(Company, col(Company.id) == col(Memo.company_id))
        .where(
            col(Memo.follow_up_due) <= now,
            col(Memo.resolved_at).is_(None),
            col(Memo.id).not_in(TEST_MEMO_IDS),
        )
        .order_by(col(Memo.follow_up_due))
        .limit(limit)
    ).all()
    return Board(
        waiting=[
            WaitingMemo(
                **_memo_ref(memo, company),
                status=memo.status.value,
                age_seconds=int((now - memo.created_at).total_seconds()),
                next_escalation_at=memo.next_escalation_at.isoformat()
                if memo.next_escalation_at
                else None,
            )
            for memo, company in waiting
        ],
        unreached=[
            UnreachedMemo(
                **_memo_ref(memo, company),
                failed_at=memo.updated_at.isoformat(),
                deliveries=reasons.get(memo.id, []),
            )
            for memo, company in unreached
        ],
        failed_deliveries=[
            FailedDelivery(
                **_memo_ref(memo, company),
                delivery_id=d.id,
                channel=d.channel.value,
                to=d.to,
                to_display=_to_display(d, country=company_config(company).country),
                contact=d.contact_key,
                error=d.error,
                error_code=d.error_code,
                failed_at=d.updated_at.isoformat(),
            )
            for d, memo, company in failed
        ],
        escalations=[
            EscalationFired(
                **_memo_ref(memo, company),
                step=f.step,
                action=f.action,
                due_at=f.due_at.isoformat(),
                fired_at=f.fired_at.isoformat(),
                acknowledged=memo.status == MemoStatus.acknowledged,
            )
            for f, memo, company in fired
        ],
        overdue_callbacks=[
            OverdueCallback(
                **_memo_ref(memo, company),
                task_id=t.id,
                status=t.status.value,
                contact=t.contact_key,
                phone=t.phone,
                phone_display=display_for(t.phone, country=company_config(company).country),
                due_at=t.due_at.isoformat(),
                overdue_seconds=int((now - t.due_at).total_seconds()),
            )
            for t, memo, company in overdue
        ],
        overdue_follow_ups=[
            OverdueFollowUp(
                **_memo_ref(memo, company),
                follow_up_due=memo.follow_up_due.isoformat(),
                overdue_seconds=int((now - memo.follow_up_due).total_seconds()),
            )
            for memo, company in late_follow_ups
            if memo.follow_up_due is not None
        ],
    )


def _failures_of(*, session: Session, countries: dict[str, str]) -> dict[str, list[FailedAttempt]]:
    """Each memo's failed deliveries, in the order they were made, with their reasons;
    `countries` maps each memo to its company's country, to show the numbers."""
    memo_ids = list(countries)
    if not memo_ids:
        return {}
    rows = session.exec(
        select(Delivery)
        .where(col(Delivery.memo_id).in_(memo_ids), Delivery.status == DeliveryStatus.failed)
        .order_by(col(Delivery.created_at), col(Delivery.contact_key), col(Delivery.id))
    ).all()
    found: dict[str, list[FailedAttempt]] = {}
    for d in rows:
        if d.memo_id is None:
            continue  # not a memo's (a recap): selected by memo, so never here
        found.setdefault(d.memo_id, []).append(
            FailedAttempt(
                delivery_id=d.id,
                channel=d.channel.value,
                to=d.to,
                to_display=_to_display(d, country=countries[d.memo_id]),
                contact=d.contact_key,
                reason=d.reason.value,
                error=d.error,
                error_code=d.error_code,
            )
        )
    return found


def _memo_ref(memo: Memo, company: Company) -> dict[str, Any]:
    """The fields of BoardMemo every line of the board starts with."""
    return BoardMemo(
        memo_id=memo.id,
        client=company.slug,
        client_name=company.name,
        subject=memo.subject,
        urgency=memo.urgency.value,
        category=memo.category.value,
        created_at=memo.created_at.isoformat(),
    ).model_dump()


def _to_display(delivery: Delivery, *, country: str) -> str:
    """Where a delivery goes, as people read it: an address as is, a number as in `country`."""
    if delivery.channel == Channel.email:
        return delivery.to
    return display_for(delivery.to, country=country)
