"""Small builders of the rows a report counts: memos, calls, deliveries, firings, flags."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from service.calls.models import Call, CallerFlag
from service.channels import Channel
from service.companies.models import Company, CompanyTestSend
from service.db import new_id
from service.dispatch.models import Delivery, DeliveryReason, DeliveryStatus
from service.escalation.models import EscalationFiring
from service.memos.models import Memo, MemoStatus
from tests.factories import make_unsaved_memo


def make_memo(
    session: Session,
    *,
    company: Company,
    operator_id: str,
    taken: datetime,
    acknowledged_after: float | None = None,
    resolved_after: float | None = None,
    **columns: Any,
) -> Memo:
    """A memo taken at `taken`, acknowledged and resolved so many seconds later if given."""
    acknowledged = (
        taken + timedelta(seconds=acknowledged_after) if acknowledged_after is not None else None
    )
    memo = make_unsaved_memo(
        id=new_id(),
        company_id=company.id,
        operator_id=operator_id,
        created_at=taken,
        updated_at=taken,
        status=MemoStatus.acknowledged if acknowledged else MemoStatus.delivered,
        acknowledged_at=acknowledged,
        resolved_at=(
            taken + timedelta(seconds=resolved_after) if resolved_after is not None else None
        ),
        ack_code=new_id()[:8],
        **columns,
    )
    session.add(memo)
    session.flush()
    return memo


def make_test_send(session: Session, *, memo: Memo, company: Company) -> None:
    """Mark `memo` as a company's test send."""
    session.add(
        CompanyTestSend(
            memo_id=memo.id,
            company_id=company.id,
            contact_key="director",
            channel="sms",
            sent_by="admin@relay.example",
            sent_at=memo.created_at,
        )
    )
    session.flush()


def make_call(
    session: Session,
    *,
    company: Company,
    caller: str,
    started: datetime,
    answered_by: str | None = None,
    status: str = "completed",
) -> Call:
    """An inbound call from `caller` that rang at `started`."""
    call = Call(
        call_sid="CA" + new_id(),
        company_id=company.id,
        company_version=company.version,
        from_number=caller,
        to_number="+81501234567",
        status=status,
        answered_by=answered_by,
        started_at=started,
        updated_at=started,
        ended_at=started + timedelta(minutes=3),
    )
    session.add(call)
    session.flush()
    return call


def make_delivery(
    session: Session,
    *,
    memo: Memo,
    channel: Channel,
    status: DeliveryStatus,
    error_code: str | None = None,
    text: str | None = None,
    sent_at: datetime | None = None,
) -> Delivery:
    """One delivery of `memo`, created when the memo was taken."""
    delivery = Delivery(
        memo_id=memo.id,
        contact_key="director",
        channel=channel,
        to="+819012345678",
        reason=DeliveryReason.routing,
        status=status,
        error_code=error_code,
        due_at=memo.created_at,
        created_at=memo.created_at,
        updated_at=memo.created_at,
        sent_at=sent_at,
        text=text,
    )
    session.add(delivery)
    session.flush()
    return delivery


def make_firing(session: Session, *, memo: Memo, after: float, step: int = 0) -> None:
    """Escalation step `step` of `memo`, fired `after` seconds after it was taken."""
    fired = memo.created_at + timedelta(seconds=after)
    session.add(
        EscalationFiring(
            memo_id=memo.id,
            step=step,
            action="notify",
            due_at=fired,
            fired_at=fired,
            fired_by="test",
        )
    )
    session.flush()


def make_flag(
    session: Session, *, phone: str, flagged_by: str, at: datetime, cleared: bool = False
) -> None:
    """A flag on `phone`, cleared an hour later if asked."""
    session.add(
        CallerFlag(
            phone=phone,
            kind="harassment",
            note="",
            flagged_by=flagged_by,
            flagged_at=at,
            cleared_at=at + timedelta(hours=1) if cleared else None,
        )
    )
    session.flush()
