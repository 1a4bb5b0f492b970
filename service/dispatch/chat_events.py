"""Telling webhook destinations that a memo's message did not arrive somewhere: memo.failed."""

from __future__ import annotations

import dataclasses

from sqlmodel import Session, col, select

from service import clock
from service.channels import Channel
from service.dispatch.delivery_queue import deliveries_of, enqueue
from service.dispatch.memo_status import memo_status_from
from service.dispatch.models import Delivery, DeliveryReason, DeliveryStatus
from service.memos.models import Memo, MemoStatus
from service.providers.base import ChatEvent, ChatPayload
from service.providers.chat.webhook import FAILED_KEY
from service.routing.service import Recipient

# Deliveries that told a destination of the memo itself.
_ANNOUNCING = frozenset(
    {DeliveryReason.routing, DeliveryReason.fallback, DeliveryReason.escalation}
)
# Deliveries that report on the memo: one of them failing is no news of the memo.
_REPORTING = frozenset({DeliveryReason.acknowledged, DeliveryReason.memo_failed})
# A destination counts as told once its event went out, or while it is going out: a
# delivery that fails in the same pass as the event is sent is not missed.
_TOLD = frozenset({DeliveryStatus.sent, DeliveryStatus.delivered, DeliveryStatus.sending})


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
    if failed.reason in _REPORTING:
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
        if row.reason not in _ANNOUNCING or row.status not in _TOLD or row.payload is None:
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
        words.append(
            {
                "locale": before.card.locale,
                "subject": before.card.title[:500],
                "text": before.card.text,
                "html": None,
                "payload": after.to_json(),
            }
        )
    return enqueue(
        session=session,
        memo=memo,
        recipients=recipients,
        reason=DeliveryReason.memo_failed,
        due_at=clock.now(),
        words=words,
    )
