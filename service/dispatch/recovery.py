"""Recovery: deliveries whose send outcome is unknown, after a crash or a provider's silence."""

from __future__ import annotations

from sqlalchemy import and_
from sqlmodel import Session, col, or_, select

from service import clock
from service.dispatch import liveness
from service.dispatch.delivery_queue import QueuePolicy
from service.dispatch.memo_status import refresh_memo_status
from service.dispatch.models import Delivery, DeliveryStatus
from service.dispatch.outcomes import (
    DEDUPLICATED_BY,
    PROVIDER_STATUS,
    SEND_AGAIN_WHEN_UNKNOWN,
    advance_status,
    error_text,
    fail,
)
from service.providers.base import Found, LookupResult


def take_unsettled(
    *, session: Session, worker: str, limit: int, policy: QueuePolicy
) -> tuple[list[Delivery], int]:
    """Take deliveries whose send outcome is not known: their wait for the provider's word
    is over, or the dispatcher that claimed them is dead (a crash mid-send).

    Those that need no look-up are settled at once: one never handed to a provider (no
    words yet) and an email, which are sent again. The rest are held for this worker while
    it asks the provider. Returns those, and how many were settled at once.
    """
    now = clock.now()
    dead_owner = and_(
        col(Delivery.claimed_by).is_not(None),
        col(Delivery.claimed_by) != worker,
        col(Delivery.claimed_by).not_in(liveness.alive(now=now)),
    )
    statement = (
        select(Delivery)
        .where(
            Delivery.status == DeliveryStatus.sending,
            or_(col(Delivery.deadline) < now, dead_owner),
        )
        .order_by(col(Delivery.deadline))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    to_ask: list[Delivery] = []
    settled = 0
    for delivery in session.exec(statement).all():
        if delivery.text is None:
            # Its words are fixed before any provider is called: none was.
            delivery.attempts = max(delivery.attempts - 1, 0)
            _send_again(
                session=session,
                delivery=delivery,
                policy=policy,
                why="its dispatcher stopped before sending it; sending it now",
            )
            settled += 1
        elif delivery.channel in SEND_AGAIN_WHEN_UNKNOWN:
            _send_again(
                session=session,
                delivery=delivery,
                policy=policy,
                why="sent or not when its dispatcher stopped; sending it again with the "
                f"same {DEDUPLICATED_BY[delivery.channel]}",
            )
            settled += 1
        else:
            # Held for this worker while it asks the provider.
            delivery.claimed_by = worker
            delivery.deadline = now + policy.claim_timeout
            session.add(delivery)
            to_ask.append(delivery)
    session.flush()
    return to_ask, settled


def _send_again(*, session: Session, delivery: Delivery, policy: QueuePolicy, why: str) -> None:
    """Send a delivery that certainly or harmlessly did not go out again, now."""
    now = clock.now()
    delivery.updated_at = now
    delivery.claimed_by = None
    delivery.deadline = None
    if delivery.attempts >= policy.max_attempts:
        delivery.error = error_text(f"gave up after {delivery.attempts} attempts: {why}")
        fail(session=session, delivery=delivery)
    else:
        delivery.status = DeliveryStatus.retrying
        delivery.due_at = now
        delivery.error = error_text(why)
        session.add(delivery)
        session.flush()
    refresh_memo_status(session=session, memo_id=delivery.memo_id)


def settle_unknown(
    *,
    session: Session,
    delivery_id: str,
    lookup: LookupResult,
    worker: str,
    policy: QueuePolicy,
) -> Delivery | None:
    """Decide a delivery whose send outcome was unknown by what the provider's records say.

    Found: its status there settles it. Absent: it never went out, so it is sent now. The
    provider could not be asked: it is asked again later, and after a long while failed.
    The records cannot tell: failed, not sent again. A text or a call is never sent twice.
    """
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.status != DeliveryStatus.sending:
        return delivery  # a status callback settled it meanwhile
    if delivery.claimed_by != worker:
        return delivery
    now = clock.now()
    if lookup.state == Found.found:
        delivery.provider_id = lookup.provider_id or delivery.provider_id
        status = PROVIDER_STATUS.get(lookup.status or "", DeliveryStatus.sent)
        advance_status(session=session, delivery=delivery, status=status)
        return delivery
    if lookup.state == Found.absent:
        _send_again(
            session=session,
            delivery=delivery,
            policy=policy,
            why="the provider has no record of it, so it never went out; sending it now",
        )
        return delivery
    attempted = delivery.attempted_at or delivery.updated_at
    waited = now - attempted
    delivery.updated_at = now
    if lookup.state == Found.unreachable and waited < policy.give_up_asking_after:
        delivery.claimed_by = None
        delivery.deadline = now + min(max(waited, policy.ask_again_min), policy.ask_again_max)
        delivery.error = error_text(
            "outcome unknown; checking with the provider again shortly "
            f"(could not ask it: {lookup.detail or 'no answer'})"
        )
        session.add(delivery)
        session.flush()
        return delivery
    if lookup.state == Found.unreachable:
        hours = policy.give_up_asking_after.total_seconds() / 3600
        delivery.error = error_text(
            f"the provider could not be asked for {hours:g} h whether it went out, so it was "
            f"not sent again; check the provider's log for {delivery.to} "
            f"({lookup.detail or 'no answer'})"
        )
    else:
        delivery.error = error_text(
            "the provider's records cannot tell whether it went out, so it was not sent again; "
            f"check the provider's log for {delivery.to} ({lookup.detail or 'no detail'})"
        )
    fail(session=session, delivery=delivery)
    refresh_memo_status(session=session, memo_id=delivery.memo_id)
    return delivery
