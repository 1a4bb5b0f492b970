"""Memos shaped as the API returns them."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from service.auth.models import User
from service.calls.models import Call
from service.companies.models import Company
from service.dispatch.models import Delivery
from service.dispatch.outbox import deliveries_of
from service.memos.models import Memo
from service.memos.schema import Acknowledgement, MemoOut


def memo_out(*, session: Session, memo: Memo, company: Company) -> MemoOut:
    """The JSON shape of CONTRACT §5 for one memo."""
    call = session.get(Call, memo.call_id) if memo.call_id else None
    operator = session.get(User, memo.operator_id)
    acknowledged = None
    if memo.acknowledged_at is not None:
        acknowledged = Acknowledgement(
            at=memo.acknowledged_at.isoformat(),
            by=memo.acknowledged_by,
            via=memo.acknowledged_via,
        )
    return MemoOut(
        id=memo.id,
        client=company.slug,
        client_name=company.name,
        status=memo.status.value,
        created_at=memo.created_at.isoformat(),
        updated_at=memo.updated_at.isoformat(),
        ack_code=memo.ack_code,
        acknowledged=acknowledged,
        call_sid=call.call_sid if call else None,
        category=memo.category.value,
        urgency=memo.urgency.value,
        caller={
            "name": memo.caller_name,
            "phone": memo.caller_phone,
            "company": memo.caller_company,
        },
        subject=memo.subject,
        body=memo.body,
        fields=dict(memo.fields),
        script_version=memo.company_version,
        operator=operator.display_name if operator else "",
        deliveries=[delivery_out(d) for d in deliveries_of(session=session, memo_id=memo.id)],
        skipped=list(memo.skipped),
    )


def delivery_out(delivery: Delivery) -> dict[str, Any]:
    """One delivery as CONTRACT §5 shows it."""
    return {
        "id": delivery.id,
        "channel": delivery.channel.value,
        "to": delivery.to,
        "contact": delivery.contact_key,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "provider_id": delivery.provider_id,
        "error": delivery.error,
        "reason": delivery.reason.value,
        "due_at": delivery.due_at.isoformat(),
    }
