"""Memos shaped as the API returns them."""

from __future__ import annotations

from sqlmodel import Session

from service.auth.models import User
from service.calls.models import Call
from service.companies.models import Company
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
        deliveries=[],
    )
