"""Fallback: after a permanent failure, the same contact's other channel is tried once."""

from __future__ import annotations

from sqlmodel import Session, select

from service import clock
from service.channels import Channel
from service.companies.models import Company
from service.companies.service import company_config
from service.dispatch.delivery_queue import enqueue
from service.dispatch.models import Delivery, DeliveryReason
from service.memos.models import Memo, MemoStatus
from service.routing.service import Recipient, address_of

# The other channel of the same contact to try after a permanent failure.
FALLBACK = {Channel.email: Channel.sms, Channel.sms: Channel.email, Channel.voice: Channel.sms}


def add_fallback(*, session: Session, failed: Delivery) -> Delivery | None:
    """After a permanent failure, try the same contact's other channel once."""
    memo = session.get(Memo, failed.memo_id)
    if memo is None or memo.status == MemoStatus.acknowledged:
        return None
    channel = FALLBACK[failed.channel]
    already = session.exec(
        select(Delivery).where(
            Delivery.memo_id == failed.memo_id,
            Delivery.contact_key == failed.contact_key,
            Delivery.channel == channel,
        )
    ).first()
    if already is not None:
        return None
    company = session.get(Company, memo.company_id)
    assert company is not None
    try:
        config = company_config(company)
        to = address_of(config=config, contact_key=failed.contact_key, channel=channel)
    except KeyError:
        return None
    if to is None:
        return None
    [row] = enqueue(
        session=session,
        memo=memo,
        recipients=[Recipient(failed.contact_key, channel, to)],
        reason=DeliveryReason.fallback,
        due_at=clock.now(),
    )
    return row
