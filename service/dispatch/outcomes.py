"""What a provider said of a delivery: when it was sent, and later (status callbacks, look-ups)."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlmodel import Session, select

from service import clock
from service.channels import Channel
from service.dispatch.chat_updates import enqueue_failed
from service.dispatch.delivery_queue import QueuePolicy
from service.dispatch.fallback import add_fallback
from service.dispatch.memo_status import refresh_memo_status
from service.dispatch.models import STATUS_RANK, Delivery, DeliveryStatus
from service.providers.base import Outcome, SendResult
from service.providers.twilio.statuses import DELIVERY_OUTCOMES

BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(minutes=10)
# Channels whose copies a receiver drops by themselves: email, by its Message-ID; LINE, by
# the X-Line-Retry-Key every push of one delivery carries (LINE answers a second one 409);
# a signed webhook, by the webhook-id every attempt of one delivery carries.
# One whose outcome is unknown is sent again, as a message lost is worse than one seen twice.
# A text or a call has no such key, so it is looked up at the provider instead.
# What lets the receiver drop the copy, as a delivery's error names it.
DEDUPLICATED_BY = {
    Channel.email: "Message-ID",
    Channel.line: "X-Line-Retry-Key",
    Channel.webhook: "webhook-id",
}
SEND_AGAIN_WHEN_UNKNOWN = frozenset(DEDUPLICATED_BY)


def record_outcome(
    *,
    session: Session,
    delivery_id: str,
    result: SendResult,
    worker: str,
    policy: QueuePolicy,
) -> Delivery | None:
    """Store what the provider said; None when this worker's claim was lost meanwhile."""
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.status != DeliveryStatus.sending:
        return None
    if delivery.claimed_by != worker:
        return None
    now = clock.now()
    delivery.updated_at = now
    delivery.error = result.error[:500] if result.error else None
    delivery.error_code = result.error_code
    send_again = result.outcome == Outcome.retryable or (
        result.outcome == Outcome.unknown and delivery.channel in SEND_AGAIN_WHEN_UNKNOWN
    )
    if result.outcome == Outcome.sent:
        delivery.status = DeliveryStatus.sent
        delivery.provider_id = result.provider_id
        delivery.sent_at = now
        delivery.error = None
    elif send_again and delivery.attempts < policy.max_attempts:
        delivery.status = DeliveryStatus.retrying
        delivery.due_at = now + _backoff(delivery.attempts, result.retry_after)
        if result.outcome == Outcome.unknown:
            delivery.error = error_text(
                f"outcome unknown ({result.error or 'no answer'}); "
                f"sending it again with the same {DEDUPLICATED_BY[delivery.channel]}"
            )
    elif send_again:
        delivery.error = error_text(
            f"gave up after {delivery.attempts} attempts: {result.error or 'no answer'}"
        )
        fail(session=session, delivery=delivery)
    elif result.outcome == Outcome.unknown:
        # It may have gone out: wait for the provider's word, then look it up; never re-send
        # blindly. The claim is let go; whichever dispatcher is alive then asks.
        delivery.deadline = now + policy.reconcile_after
        delivery.error = error_text(
            f"outcome unknown ({result.error or 'no answer'}); waiting for the provider's word"
        )
    else:
        fail(session=session, delivery=delivery)
    delivery.claimed_by = None
    session.add(delivery)
    session.flush()
    refresh_memo_status(session=session, memo_id=delivery.memo_id)
    return delivery


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    exponential = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(attempts - 1, 0)))
    jittered = exponential * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not secrecy
    asked = timedelta(seconds=retry_after) if retry_after else timedelta(0)
    return max(jittered, asked)


def error_text(text: str) -> str:
    """An error message cut to what a delivery's `error` column holds."""
    return text[:500]


def fail(*, session: Session, delivery: Delivery) -> None:
    """Fail a delivery for good; queue whoever is next in line, and tell the memo's webhooks."""
    delivery.status = DeliveryStatus.failed
    delivery.deadline = None
    delivery.claimed_by = None
    session.add(delivery)
    session.flush()
    add_fallback(session=session, failed=delivery)
    enqueue_failed(session=session, failed=delivery)


def advance_status(
    *, session: Session, delivery: Delivery, status: DeliveryStatus, error_code: str | None = None
) -> bool:
    """Apply a provider's later word (status callback, look-up); only ever forward."""
    if delivery.status in (DeliveryStatus.delivered, DeliveryStatus.failed):
        return False
    now = clock.now()
    if status == DeliveryStatus.failed:
        delivery.error_code = error_code
        delivery.error = f"the provider could not deliver it ({error_code or 'no code given'})"
        delivery.updated_at = now
        fail(session=session, delivery=delivery)
    elif STATUS_RANK[status] <= STATUS_RANK[delivery.status]:
        return False
    else:
        delivery.status = status
        delivery.deadline = None
        delivery.claimed_by = None
        delivery.error = None
        delivery.sent_at = delivery.sent_at or now
        if status == DeliveryStatus.delivered:
            delivery.delivered_at = now
        delivery.updated_at = now
        session.add(delivery)
        session.flush()
    refresh_memo_status(session=session, memo_id=delivery.memo_id)
    return True


# Twilio's words for where a message is; anything else found at the provider counts as sent.
PROVIDER_STATUS = {word: DeliveryStatus(outcome) for word, outcome in DELIVERY_OUTCOMES.items()}


def provider_status(word: str) -> DeliveryStatus | None:
    """A status callback's word as a delivery status; None for words that change nothing."""
    if word in PROVIDER_STATUS:
        return PROVIDER_STATUS[word]
    return DeliveryStatus.sent if word == "sent" else None


def find_delivery(
    *, session: Session, delivery_id: str | None, provider_id: str | None
) -> Delivery | None:
    """A delivery by our id (from the callback URL) or by the provider's id for it."""
    if delivery_id:
        found = session.get(Delivery, delivery_id, with_for_update=True)
        if found is not None and found.provider_id in (None, provider_id):
            return found
    if provider_id:
        return session.exec(
            select(Delivery).where(Delivery.provider_id == provider_id).with_for_update()
        ).first()
    return None
