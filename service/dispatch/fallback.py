"""Fallback: after a permanent failure, the same contact's other channel is tried once.

A destination that fails for good hands over to the contact or destination its `fallback:`
names, on that one's own channel.
"""

from __future__ import annotations

from sqlmodel import Session, select

from service import clock
from service.channels import Channel, is_chat
from service.companies.config import CompanyConfig
from service.companies.models import Company, CompanyTestSend
from service.companies.service import company_config
from service.dispatch.delivery_queue import enqueue
from service.dispatch.models import REPORTS, Delivery, DeliveryReason
from service.memos.models import Memo, MemoStatus
from service.routing.service import Recipient, address_of

# The other channel of the same contact to try after a permanent failure.
FALLBACK = {Channel.email: Channel.sms, Channel.sms: Channel.email, Channel.voice: Channel.sms}


def _next_in_line(*, config: CompanyConfig, failed: Delivery) -> Recipient | None:
    """Whom a permanently failed delivery hands over to, if anyone."""
    try:
        if not is_chat(failed.channel):
            channel = FALLBACK[failed.channel]
            to = address_of(config=config, contact_key=failed.contact_key, channel=channel)
            return Recipient(failed.contact_key, channel, to) if to else None
        key = config.destination(failed.contact_key).fallback
        if key is None:
            return None
        if any(destination.key == key for destination in config.destinations):
            destination = config.destination(key)
            return Recipient(key, Channel(destination.kind), destination.address)
        contact = config.contact(key)
    except KeyError:
        return None
    if contact.email:
        return Recipient(key, Channel.email, contact.email)
    return Recipient(key, Channel.sms, contact.phone) if contact.phone else None


def add_fallback(*, session: Session, failed: Delivery) -> Delivery | None:
    """After a permanent failure, try the next in line once."""
    if failed.reason in REPORTS:
        return None  # news of the memo, not the memo: nobody else needs to hear of it
    if session.get(CompanyTestSend, failed.memo_id) is not None:
        return None  # a test asks its one recipient; a destination's fallback is someone else
    memo = session.get(Memo, failed.memo_id)
    if memo is None or memo.status == MemoStatus.acknowledged:
        return None
    company = session.get(Company, memo.company_id)
    assert company is not None
    recipient = _next_in_line(config=company_config(company), failed=failed)
    if recipient is None:
        return None
    already = session.exec(
        select(Delivery).where(
            Delivery.memo_id == failed.memo_id,
            Delivery.contact_key == recipient.contact_key,
            Delivery.channel == recipient.channel,
        )
    ).first()
    if already is not None:
        return None
    [row] = enqueue(
        session=session,
        memo=memo,
        recipients=[recipient],
        reason=DeliveryReason.fallback,
        due_at=clock.now(),
    )
    return row
