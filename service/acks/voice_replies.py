"""Replies to voice call-outs: what an answer, key press or missed call means for a delivery."""

from __future__ import annotations

from sqlmodel import Session

from service.acks.service import AckResult, AckVia, acknowledge
from service.channels import Channel
from service.dispatch.models import Delivery, DeliveryStatus
from service.dispatch.outcomes import advance_status, find_delivery
from service.memos.models import Memo
from service.providers.twilio.statuses import MISSED_CALLS


def find_callout(*, session: Session, delivery_id: str | None, call_sid: str) -> Delivery | None:
    """The voice delivery a call-out webhook is about, by our id or Twilio's CallSid."""
    delivery = find_delivery(session=session, delivery_id=delivery_id, provider_id=call_sid or None)
    if delivery is None or delivery.channel != Channel.voice:
        return None
    return delivery


def memo_of(*, session: Session, delivery: Delivery) -> Memo | None:
    """The memo a call-out reads."""
    return session.get(Memo, delivery.memo_id)


def _adopt_call_sid(delivery: Delivery, call_sid: str) -> None:
    # An attempt whose answer was lost learns its call this way.
    if call_sid and delivery.provider_id is None:
        delivery.provider_id = call_sid[:200]


def call_answered(*, session: Session, delivery: Delivery, call_sid: str) -> None:
    """The contact picked up: the memo reached them, whatever key comes next."""
    _adopt_call_sid(delivery, call_sid)
    advance_status(session=session, delivery=delivery, status=DeliveryStatus.delivered)


def acknowledge_by_key(*, session: Session, delivery: Delivery) -> AckResult | None:
    """The contact pressed 1: the memo is acknowledged by them, via voice."""
    if delivery.memo_id is None:
        return None  # a call-out always carries a memo
    return acknowledge(
        session=session, memo_id=delivery.memo_id, by=delivery.contact_key, via=AckVia.voice
    )


def record_call_outcome(
    *, session: Session, delivery: Delivery, call_status: str, call_sid: str
) -> bool:
    """Apply a call's final status to its delivery, only ever forward; True if it moved."""
    word = call_status.strip().lower()
    if word == "completed":
        _adopt_call_sid(delivery, call_sid)
        return advance_status(session=session, delivery=delivery, status=DeliveryStatus.delivered)
    if word not in MISSED_CALLS:
        return False  # progress on the way (ringing, in-progress): the end will tell
    _adopt_call_sid(delivery, call_sid)
    # The failure makes dispatch add the contact's other channel as a fallback.
    moved = advance_status(
        session=session, delivery=delivery, status=DeliveryStatus.failed, error_code=word
    )
    if moved:
        delivery.error = f"{word}: {MISSED_CALLS[word]}"
        session.add(delivery)
        session.flush()
    return moved
