"""Telling chat destinations a memo was acknowledged: their message updated where possible."""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from service import clock
from service.channels import CHAT_CHANNELS, Channel
from service.companies.models import Company
from service.companies.service import company_config
from service.dispatch.compose import EVENTS
from service.dispatch.delivery_queue import enqueue
from service.dispatch.models import Delivery, DeliveryReason, DeliveryStatus
from service.memos.models import Memo
from service.providers.base import ChatEvent, ChatPayload
from service.routing.service import Recipient

# Platforms whose posted message can be edited afterwards (Slack, Chatwork) or that take
# events (webhooks). LINE, LINE WORKS and Teams Workflows cannot edit a message once posted.
UPDATABLE = frozenset({Channel.slack, Channel.chatwork, Channel.webhook})
# Deliveries that told a destination of the memo itself, rather than of what became of it.
_ANNOUNCED = [reason for reason, event in EVENTS.items() if event != ChatEvent.acknowledged]


def enqueue_acknowledged(*, session: Session, memo: Memo) -> list[Delivery]:
    """Queue an update of each chat message of `memo` that can be updated, once."""
    rows = session.exec(
        select(Delivery)
        .where(
            Delivery.memo_id == memo.id,
            col(Delivery.channel).in_(list(CHAT_CHANNELS & UPDATABLE)),
            col(Delivery.reason).in_(_ANNOUNCED),
            col(Delivery.status).in_([DeliveryStatus.sent, DeliveryStatus.delivered]),
        )
        .order_by(col(Delivery.created_at))
    ).all()
    company = session.get(Company, memo.company_id)
    if not rows or company is None or memo.acknowledged_at is None:
        return []
    config = company_config(company)
    zone = ZoneInfo(config.hours.timezone if config.hours else "Asia/Tokyo")
    at = memo.acknowledged_at.astimezone(zone).strftime("%H:%M")
    recipients: list[Recipient] = []
    words: list[dict[str, str | None]] = []
    told: set[tuple[str, str | None]] = set()
    for row in rows:
        # A webhook hears of the acknowledgement once; each posted chat message is edited.
        key = (row.contact_key, None if row.channel == Channel.webhook else row.provider_id)
        if row.payload is None or key in told:
            continue
        if row.channel != Channel.webhook and row.provider_id is None:
            continue  # nothing to edit: the platform gave no id for the message
        told.add(key)
        before = ChatPayload.from_json(row.payload)
        card = before.card.seen(by=memo.acknowledged_by or "", at=at)
        memo_data = {
            **before.memo,
            "status": memo.status.value,
            "acknowledged": {
                "by": memo.acknowledged_by,
                "via": memo.acknowledged_via,
                "at": memo.acknowledged_at.isoformat().replace("+00:00", "Z"),
            },
        }
        after = dataclasses.replace(
            before,
            event=ChatEvent.acknowledged,
            card=card,
            memo=memo_data,
            replaces=row.provider_id,
        )
        recipients.append(Recipient(row.contact_key, row.channel, row.to))
        words.append(
            {
                "locale": card.locale,
                "subject": card.title[:500],
                "text": card.text,
                "html": None,
                "payload": after.to_json(),
            }
        )
    return enqueue(
        session=session,
        memo=memo,
        recipients=recipients,
        reason=DeliveryReason.acknowledged,
        due_at=clock.now(),
        words=words,
    )
