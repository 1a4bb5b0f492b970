"""The delivery queue: deliveries enqueued, claimed when due, their words fixed before sending."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, update
from sqlmodel import Session, col, func, or_, select

from service import clock
from service.channels import Channel
from service.db import new_id
from service.dispatch.models import (
    DELIVERIES,
    UNSENT,
    Delivery,
    DeliveryReason,
    DeliveryStatus,
)
from service.memos.models import Memo
from service.providers import outbox
from service.routing.service import Recipient

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class QueuePolicy:
    """How hard the dispatcher pushes: claim lifetime, throttle and retry bounds."""

    claim_timeout: timedelta = timedelta(seconds=60)
    reconcile_after: timedelta = timedelta(minutes=2)
    per_destination_per_minute: int = 10
    max_attempts: int = MAX_ATTEMPTS
    # A provider that cannot be asked about an unknown outcome is asked again, at growing
    # intervals within these bounds, until this long after the attempt; then it is failed.
    ask_again_min: timedelta = timedelta(seconds=30)
    ask_again_max: timedelta = timedelta(minutes=10)
    give_up_asking_after: timedelta = timedelta(hours=1)


def enqueue(
    *,
    session: Session,
    memo: Memo | None,
    recipients: Sequence[Recipient],
    reason: DeliveryReason,
    due_at: datetime,
    words: Sequence[dict[str, str | None]] | None = None,
    recap_id: str | None = None,
) -> list[Delivery]:
    """Add one pending delivery per recipient, in the caller's transaction.

    `words`, one per recipient, are their rendered words when known already (a chat
    message updated after acknowledgement); the others are rendered at their first attempt.
    A report of the company's day has no memo: it names its recap and brings its words.
    """
    now = clock.now()
    rows = [
        Delivery(
            id=new_id(),
            memo_id=memo.id if memo is not None else None,
            recap_id=recap_id,
            contact_key=r.contact_key,
            channel=Channel(r.channel),
            to=r.to,
            reason=reason,
            status=DeliveryStatus.pending,
            due_at=due_at,
            created_at=now,
            updated_at=now,
        )
        for r in recipients
    ]
    for row, values in zip(rows, words or [], strict=False):
        for column, value in values.items():
            setattr(row, column, value)
    if rows:
        # One INSERT of plain rows, without the unit of work: new deliveries are only ever
        # written here, and the objects returned are what was written.
        session.execute(insert(DELIVERIES), [row.model_dump() for row in rows])
    return rows


def next_due(*, session: Session) -> datetime | None:
    """When the next waiting delivery falls due, if any waits."""
    moment: datetime | None = session.exec(
        select(func.min(Delivery.due_at)).where(
            col(Delivery.status).in_([DeliveryStatus.pending, DeliveryStatus.retrying])
        )
    ).one()
    return moment


# The order a memo's deliveries are shown in: as they were made.
DELIVERY_ORDER = (
    col(Delivery.created_at),
    col(Delivery.contact_key),
    col(Delivery.channel),
    col(Delivery.id),
)


def deliveries_of(*, session: Session, memo_id: str) -> list[Delivery]:
    """A memo's deliveries in the order they were made."""
    return list(
        session.exec(
            select(Delivery).where(Delivery.memo_id == memo_id).order_by(*DELIVERY_ORDER)
        ).all()
    )


def _recent_sends(*, session: Session, to: Collection[str], since: datetime) -> dict[str, int]:
    """Messages to each address sent since `since` or on their way now (absent: none)."""
    rows = session.exec(
        select(Delivery.to, func.count())
        .where(
            col(Delivery.to).in_(sorted(set(to))),
            or_(col(Delivery.sent_at) >= since, Delivery.status == DeliveryStatus.sending),
        )
        .group_by(col(Delivery.to))
    ).all()
    return {address: int(count) for address, count in rows}


def claim_due(*, session: Session, worker: str, limit: int, policy: QueuePolicy) -> list[Delivery]:
    """Take up to `limit` due deliveries for this worker; commit before calling any provider."""
    now = clock.now()
    statement = (
        select(Delivery)
        .where(
            col(Delivery.status).in_([DeliveryStatus.pending, DeliveryStatus.retrying]),
            col(Delivery.due_at) <= now,
        )
        .order_by(col(Delivery.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed: list[Delivery] = []
    due = session.exec(statement).all()
    if not due:
        return claimed
    # One count for the whole batch, not one per address.
    recent = _recent_sends(
        session=session, to=[d.to for d in due], since=now - timedelta(minutes=1)
    )
    for delivery in due:
        recent.setdefault(delivery.to, 0)
        if recent[delivery.to] >= policy.per_destination_per_minute:
            # Throttled, never dropped: try again when the oldest send leaves the window.
            delivery.due_at = now + timedelta(seconds=15)
            delivery.updated_at = now
            session.add(delivery)
            continue
        recent[delivery.to] += 1
        delivery.status = DeliveryStatus.sending
        delivery.attempts += 1
        delivery.claimed_by = worker
        delivery.deadline = now + policy.claim_timeout
        delivery.attempted_at = now
        delivery.updated_at = now
        session.add(delivery)
        claimed.append(delivery)
    session.flush()
    return claimed


def store_words(
    *, session: Session, worker: str, words: dict[str, dict[str, str | None]]
) -> set[str]:
    """Fix the words of claimed deliveries before any is sent; the ids still this worker's.

    Kept before the provider is called, so a look-up after a crash searches for the very
    words that may have gone out, and a retry sends them again.
    """
    if not words:
        return set()
    table = DELIVERIES.c
    # One UPDATE run for the whole batch, not a statement each.
    session.execute(
        update(DELIVERIES)
        .where(
            table.id == bindparam("of_id"),
            table.status == DeliveryStatus.sending.value,
            table.claimed_by == worker,
        )
        .values(
            locale=bindparam("new_locale"),
            subject=bindparam("new_subject"),
            text=bindparam("new_text"),
            html=bindparam("new_html"),
            payload=bindparam("new_payload"),
        ),
        [
            {
                "of_id": delivery_id,
                "new_locale": values["locale"],
                "new_subject": values["subject"],
                "new_text": values["text"],
                "new_payload": values.get("payload"),
                "new_html": values["html"],
            }
            for delivery_id, values in words.items()
        ],
    )
    # A claim lost meanwhile (its dispatcher taken for dead) was not written: not ours.
    kept = session.exec(
        select(Delivery.id).where(
            col(Delivery.id).in_(list(words)),
            Delivery.status == DeliveryStatus.sending,
            Delivery.claimed_by == worker,
        )
    ).all()
    return set(kept)


def delete_for_recaps(*, session: Session, recap_ids: Collection[str]) -> None:
    """Delete every delivery of these daily recaps, and what the dev outbox kept of them."""
    if not recap_ids:
        return
    delivery_ids = list(
        session.exec(select(Delivery.id).where(col(Delivery.recap_id).in_(recap_ids))).all()
    )
    outbox.delete_for_deliveries(session=session, delivery_ids=delivery_ids)
    session.exec(delete(Delivery).where(col(Delivery.recap_id).in_(recap_ids)))


def memos_with_unsent(*, session: Session, memo_ids: Collection[str]) -> set[str]:
    """Those of these memos with a delivery still on its way."""
    if not memo_ids:
        return set()
    # Read by memo alone, the status checked here: a database asked for both may choose to
    # read every unsent delivery instead, and after a burst of intake those are many.
    found = session.exec(
        select(col(Delivery.memo_id), col(Delivery.status)).where(
            col(Delivery.memo_id).in_(memo_ids)
        )
    ).all()
    return {memo_id for memo_id, status in found if memo_id is not None and status in UNSENT}


def delete_for_memos(*, session: Session, memo_ids: Collection[str]) -> None:
    """Delete every delivery of these memos, and what the dev outbox kept of them."""
    if not memo_ids:
        return
    delivery_ids = list(
        session.exec(select(Delivery.id).where(col(Delivery.memo_id).in_(memo_ids))).all()
    )
    outbox.delete_for_deliveries(session=session, delivery_ids=delivery_ids)
    session.exec(delete(Delivery).where(col(Delivery.memo_id).in_(memo_ids)))
