"""The delivery state machine: enqueue, claim, record outcomes, reconcile, fall back."""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, insert, update
from sqlmodel import Session, col, func, or_, select

from service import clock, events
from service.companies.models import Company
from service.companies.service import company_config
from service.db import new_id
from service.dispatch import liveness
from service.dispatch.models import (
    DELIVERIES,
    STATUS_RANK,
    Delivery,
    DeliveryReason,
    DeliveryStatus,
)
from service.memos.models import Memo, MemoStatus
from service.providers.base import Channel, Found, LookupResult, Outcome, SendResult
from service.routing.service import Recipient, address_of

# The other channel of the same contact to try after a permanent failure.
FALLBACK = {Channel.email: Channel.sms, Channel.sms: Channel.email, Channel.voice: Channel.sms}
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(minutes=10)
# Channels whose copies a receiver drops by themselves: email, by its Message-ID. One whose
# outcome is unknown is sent again, as an email lost is worse than one seen twice. A text
# or a call has no such key, so it is looked up at the provider instead.
SEND_AGAIN_WHEN_UNKNOWN = frozenset({Channel.email})


@dataclass(frozen=True)
class OutboxPolicy:
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
    memo: Memo,
    recipients: Sequence[Recipient],
    reason: DeliveryReason,
    due_at: datetime,
) -> list[Delivery]:
    """Add one pending delivery per recipient, in the caller's transaction."""
    now = clock.now()
    rows = [
        Delivery(
            id=new_id(),
            memo_id=memo.id,
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


def claim_due(*, session: Session, worker: str, limit: int, policy: OutboxPolicy) -> list[Delivery]:
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


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    exponential = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(attempts - 1, 0)))
    jittered = exponential * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not secrecy
    asked = timedelta(seconds=retry_after) if retry_after else timedelta(0)
    return max(jittered, asked)


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
        ),
        [
            {
                "of_id": delivery_id,
                "new_locale": values["locale"],
                "new_subject": values["subject"],
                "new_text": values["text"],
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


def record_outcome(
    *,
    session: Session,
    delivery_id: str,
    result: SendResult,
    worker: str,
    policy: OutboxPolicy,
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
            delivery.error = _words(
                f"outcome unknown ({result.error or 'no answer'}); "
                "sending it again with the same Message-ID"
            )
    elif send_again:
        delivery.error = _words(
            f"gave up after {delivery.attempts} attempts: {result.error or 'no answer'}"
        )
        _fail(session=session, delivery=delivery)
    elif result.outcome == Outcome.unknown:
        # It may have gone out: wait for the provider's word, then look it up; never re-send
        # blindly. The claim is let go; whichever dispatcher is alive then asks.
        delivery.deadline = now + policy.reconcile_after
        delivery.error = _words(
            f"outcome unknown ({result.error or 'no answer'}); waiting for the provider's word"
        )
    else:
        _fail(session=session, delivery=delivery)
    delivery.claimed_by = None
    session.add(delivery)
    session.flush()
    refresh_memo_status(session=session, memo_id=delivery.memo_id)
    return delivery


def _words(text: str) -> str:
    return text[:500]


def _fail(*, session: Session, delivery: Delivery) -> None:
    delivery.status = DeliveryStatus.failed
    delivery.deadline = None
    delivery.claimed_by = None
    session.add(delivery)
    session.flush()
    add_fallback(session=session, failed=delivery)


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
        _fail(session=session, delivery=delivery)
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


def take_unsettled(
    *, session: Session, worker: str, limit: int, policy: OutboxPolicy
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
                "same Message-ID",
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


def _send_again(*, session: Session, delivery: Delivery, policy: OutboxPolicy, why: str) -> None:
    """Send a delivery that certainly or harmlessly did not go out again, now."""
    now = clock.now()
    delivery.updated_at = now
    delivery.claimed_by = None
    delivery.deadline = None
    if delivery.attempts >= policy.max_attempts:
        delivery.error = _words(f"gave up after {delivery.attempts} attempts: {why}")
        _fail(session=session, delivery=delivery)
    else:
        delivery.status = DeliveryStatus.retrying
        delivery.due_at = now
        delivery.error = _words(why)
        session.add(delivery)
        session.flush()
    refresh_memo_status(session=session, memo_id=delivery.memo_id)


def memo_status_from(deliveries: Sequence[Delivery]) -> MemoStatus:
    """A memo's relay status as its deliveries make it."""
    statuses = {d.status for d in deliveries}
    if DeliveryStatus.delivered in statuses:
        return MemoStatus.delivered
    if DeliveryStatus.sent in statuses:
        return MemoStatus.sent
    if statuses and statuses == {DeliveryStatus.failed}:
        return MemoStatus.failed
    return MemoStatus.relaying


def refresh_memo_status(*, session: Session, memo_id: str) -> Memo | None:
    """Bring a memo's status in line with its deliveries; tell the consoles when it moves."""
    # The memo's row is locked first: two deliveries settled at once each wait for the
    # other, so the second reads the first's outcome (on PostgreSQL each would otherwise
    # see the other still `sending`, and a memo that reached no one would stay `relaying`).
    memo = session.exec(
        select(Memo)
        .where(col(Memo.id) == memo_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if memo is None or memo.status == MemoStatus.acknowledged:
        return memo
    status = memo_status_from(deliveries_of(session=session, memo_id=memo_id))
    if status == memo.status:
        return memo
    # Conditional, like the acknowledgement itself: one committed since the memo was read
    # stands (and keeps its code out of use).
    moved = session.execute(
        update(Memo)
        .where(col(Memo.id) == memo_id, col(Memo.status) != MemoStatus.acknowledged)
        .values(status=status, updated_at=clock.now())
    )
    if moved.rowcount == 0:  # type: ignore[attr-defined]
        session.refresh(memo)
        return memo
    events.emit(session=session, type="memo.updated", data={"id": memo.id, "status": status.value})
    return memo


# Twilio's words for where a message is; anything else found at the provider counts as sent.
_PROVIDER_STATUS = {
    "delivered": DeliveryStatus.delivered,
    "read": DeliveryStatus.delivered,
    "completed": DeliveryStatus.delivered,
    "failed": DeliveryStatus.failed,
    "undelivered": DeliveryStatus.failed,
    "canceled": DeliveryStatus.failed,
    "busy": DeliveryStatus.failed,
    "no-answer": DeliveryStatus.failed,
}


def settle_unknown(
    *,
    session: Session,
    delivery_id: str,
    lookup: LookupResult,
    worker: str,
    policy: OutboxPolicy,
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
        status = _PROVIDER_STATUS.get(lookup.status or "", DeliveryStatus.sent)
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
        delivery.error = _words(
            "outcome unknown; checking with the provider again shortly "
            f"(could not ask it: {lookup.detail or 'no answer'})"
        )
        session.add(delivery)
        session.flush()
        return delivery
    if lookup.state == Found.unreachable:
        hours = policy.give_up_asking_after.total_seconds() / 3600
        delivery.error = _words(
            f"the provider could not be asked for {hours:g} h whether it went out, so it was "
            f"not sent again; check the provider's log for {delivery.to} "
            f"({lookup.detail or 'no answer'})"
        )
    else:
        delivery.error = _words(
            "the provider's records cannot tell whether it went out, so it was not sent again; "
            f"check the provider's log for {delivery.to} ({lookup.detail or 'no detail'})"
        )
    _fail(session=session, delivery=delivery)
    refresh_memo_status(session=session, memo_id=delivery.memo_id)
    return delivery


def provider_status(word: str) -> DeliveryStatus | None:
    """A status callback's word as a delivery status; None for words that change nothing."""
    if word in _PROVIDER_STATUS:
        return _PROVIDER_STATUS[word]
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
