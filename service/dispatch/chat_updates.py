"""Telling chat destinations what became of a memo.

Acknowledged: each message that can be edited is updated, and webhooks hear
`memo.acknowledged`. One of its messages failed for good: webhooks hear `memo.failed`.
"""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from service import clock
from service.channels import CHAT_CHANNELS, Channel
from service.companies.models import Company
from service.companies.service import company_config
from service.dispatch.delivery_queue import deliveries_of, enqueue
from service.dispatch.memo_status import memo_status_from
from service.dispatch.models import REPORTS, Delivery, DeliveryReason, DeliveryStatus
from service.memos.models import Memo, MemoStatus
from service.messages.chat import ChatCard
from service.providers.base import ChatEvent, ChatPayload
from service.providers.chat.webhook import FAILED_KEY
from service.routing.service import Recipient

# Platforms whose posted message can be edited afterwards (Slack, Chatwork) or that take
# events (webhooks). LINE, LINE WORKS and Teams Workflows cannot edit a message once posted.
UPDATABLE = frozenset({Channel.slack, Channel.chatwork, Channel.webhook})
# Deliveries that told a destination of the memo itself, rather than of what became of it.
_ANNOUNCED = [reason for reason in DeliveryReason if reason not in REPORTS]
# A destination counts as told once its event went out, or while it is going out: a
# delivery that fails in the same pass as the event is sent is not missed.
_TOLD = frozenset({DeliveryStatus.sent, DeliveryStatus.delivered, DeliveryStatus.sending})


def _words(*, card: ChatCard, payload: ChatPayload) -> dict[str, str | None]:
    """A report's delivery columns, fixed when it is queued."""
    return {
        "locale": card.locale,
        "subject": card.title[:500],
        "text": card.text,
        "html": None,
        "payload": payload.to_json(),
    }


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
        words.append(_words(card=card, payload=after))
    return enqueue(
        session=session,
        memo=memo,
        recipients=recipients,
        reason=DeliveryReason.acknowledged,
        due_at=clock.now(),
        words=words,
    )


def failure_data(failed: Delivery) -> dict[str, object]:
    """What a memo.failed event says of the delivery that failed (never its address)."""
    return {
        "delivery": failed.id,
        "contact": failed.contact_key,
        "channel": failed.channel.value,
        "reason": failed.reason.value,
        "attempts": failed.attempts,
        "error": failed.error,
        "error_code": failed.error_code,
        "at": clock.now().isoformat().replace("+00:00", "Z"),
    }


def enqueue_failed(*, session: Session, failed: Delivery) -> list[Delivery]:
    """Queue a memo.failed event to each webhook destination told of the memo, once each."""
    if failed.reason in REPORTS:
        return []
    # The memo's row is locked first, as its status refresh does: two of its deliveries
    # failing at once then queue one event per destination between them, not two.
    memo = session.exec(
        select(Memo)
        .where(col(Memo.id) == failed.memo_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if memo is None or memo.status == MemoStatus.acknowledged:
        return []  # once seen, nobody needs to hear that a copy did not arrive
    rows = deliveries_of(session=session, memo_id=memo.id)
    webhooks = [row for row in rows if row.channel == Channel.webhook]
    told = {row.contact_key for row in webhooks if row.reason == DeliveryReason.memo_failed}
    if failed.channel == Channel.webhook:
        told.add(failed.contact_key)  # an endpoint that failed is not told of its own failure
    status = memo_status_from(rows).value
    recipients: list[Recipient] = []
    words: list[dict[str, str | None]] = []
    for row in webhooks:
        if row.reason in REPORTS or row.status not in _TOLD or row.payload is None:
            continue
        if row.contact_key in told:
            continue
        told.add(row.contact_key)
        before = ChatPayload.from_json(row.payload)
        after = dataclasses.replace(
            before,
            event=ChatEvent.failed,
            memo={**before.memo, "status": status, FAILED_KEY: failure_data(failed)},
            replaces=None,
        )
        recipients.append(Recipient(row.contact_key, row.channel, row.to))
        words.append(_words(card=before.card, payload=after))
    return enqueue(
        session=session,
        memo=memo,
        recipients=recipients,
        reason=DeliveryReason.memo_failed,
        due_at=clock.now(),
        words=words,
    )
