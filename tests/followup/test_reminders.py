"""Follow-up reminders: never early, each once, none after resolution, and after a restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.dispatch import delivery_queue
from service.dispatch.compose import compose_words, words_source
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.memo_status import memo_status_from
from service.dispatch.models import Delivery, DeliveryReason
from service.followup.models import NoticeKind
from service.followup.reminders import next_due, notices_of, send_due
from service.followup.schema import ResolutionIn
from service.followup.service import resolve
from service.memos import lifecycle
from service.memos.models import Memo
from service.settings import Settings
from tests.dispatch.conftest import take_memo
from tests.factories import make_company

HANDLED = ResolutionIn(response="お詫びし、再発防止を説明した", resolved=True)
STILL_OPEN = ResolutionIn(response="折り返したが不在", resolved=False)
FOLLOW_UPS = {DeliveryReason.follow_up_reminder, DeliveryReason.follow_up_overdue}
# Due 72h after acknowledgement, reminded 24h before, told again every 24h after it.
RENOTIFYING = {
    "after": "72h",
    "categories": ["complaint"],
    "remind_before": "24h",
    "renotify_every": "24h",
    "notify": ["director"],
    "channels": ["email", "sms"],
}


def acked_complaint(session: Session, operator: User, **follow_up: Any) -> Memo:
    """A complaint of a company following up as `follow_up` says, acknowledged now."""
    if follow_up:
        make_company(session, hours=None, follow_up=follow_up)
    else:
        make_company(session, hours=None)
    memo = take_memo(session, operator, category="complaint")
    acked = acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.link)
    assert acked is not None
    session.commit()
    return acked.memo


def send(session: Session, worker: str = "w1") -> int:
    sent = send_due(session=session, worker=worker)
    session.commit()
    return sent


def reminders(session: Session, memo: Memo) -> list[Delivery]:
    session.expire_all()
    rows = delivery_queue.deliveries_of(session=session, memo_id=memo.id)
    return [d for d in rows if d.reason in FOLLOW_UPS]


def test_the_default_reminder_comes_a_day_before_never_early_and_once(
    session: Session, operator: User, clock: ManualClock
) -> None:
    memo = acked_complaint(session, operator)
    due = memo.follow_up_due
    assert due == clock.now() + timedelta(hours=72)
    assert memo.next_follow_up_at == due - timedelta(hours=24)

    clock.advance(timedelta(hours=48) - timedelta(seconds=1))
    assert send(session) == 0
    assert reminders(session, memo) == []

    clock.advance(timedelta(seconds=1))
    assert send(session) == 1
    assert send(session) == 0  # exactly once

    # Without `notify:`, the contacts the complaint was first sent to, by email.
    sent = reminders(session, memo)
    assert sorted((d.contact_key, d.channel.value, d.reason.value) for d in sent) == [
        ("director", "email", "follow_up_reminder"),
        ("office", "email", "follow_up_reminder"),
    ]
    [notice] = notices_of(session=session, memo_id=memo.id)
    assert (notice.kind, notice.number, notice.deadline, notice.recipients) == (
        NoticeKind.reminder,
        1,
        due,
        2,
    )
    # The default rule tells nobody again once the deadline passes.
    session.refresh(memo)
    assert memo.next_follow_up_at is None
    clock.advance(timedelta(days=10))
    assert send(session) == 0


def test_after_the_deadline_the_contacts_are_told_again_at_each_interval(
    session: Session, operator: User, clock: ManualClock
) -> None:
    memo = acked_complaint(session, operator, **RENOTIFYING)
    due = memo.follow_up_due
    assert due is not None

    clock.advance(timedelta(hours=48))
    assert send(session) == 1  # the reminder
    clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    assert send(session) == 0
    clock.advance(timedelta(seconds=1))
    assert send(session) == 1  # overdue: at the deadline
    assert send(session) == 0
    clock.advance(timedelta(hours=23, minutes=59))
    assert send(session) == 0
    clock.advance(timedelta(minutes=1))
    assert send(session) == 1  # and again a day later

    notices = notices_of(session=session, memo_id=memo.id)
    assert [(n.kind, n.number, n.due_at) for n in notices] == [
        (NoticeKind.reminder, 1, due - timedelta(hours=24)),
        (NoticeKind.overdue, 1, due),
        (NoticeKind.overdue, 2, due + timedelta(hours=24)),
    ]
    sent = reminders(session, memo)
    assert [(d.reason.value, d.contact_key, d.channel.value) for d in sent] == [
        ("follow_up_reminder", "director", "email"),
        ("follow_up_reminder", "director", "sms"),
        ("follow_up_overdue", "director", "email"),
        ("follow_up_overdue", "director", "sms"),
        ("follow_up_overdue", "director", "email"),
        ("follow_up_overdue", "director", "sms"),
    ]
    session.refresh(memo)
    assert memo.next_follow_up_at == due + timedelta(hours=48)
    assert next_due(session=session) == due + timedelta(hours=48)


def test_nothing_is_sent_after_the_memo_is_resolved(
    session: Session, operator: User, clock: ManualClock
) -> None:
    memo = acked_complaint(session, operator, **RENOTIFYING)
    clock.advance(timedelta(hours=12))
    resolve(session=session, memo=memo, data=HANDLED, by="佐藤", via=AckVia.portal)
    session.commit()

    assert next_due(session=session) is None
    clock.advance(timedelta(days=10))
    assert send(session) == 0
    assert reminders(session, memo) == []


def test_reminders_missed_while_down_are_sent_once_after_a_restart(
    engine: Engine, session: Session, operator: User, clock: ManualClock
) -> None:
    memo = acked_complaint(session, operator, **RENOTIFYING)
    due = memo.follow_up_due
    assert due is not None
    clock.advance(timedelta(hours=72 + 24 * 3 + 5))  # nothing ran for days
    with Session(engine) as fresh:  # a new process's view: only the database remembers
        while send(fresh, worker="after-restart"):
            pass

    # The deadline is long past: no late "due soon", and one overdue notice for the latest.
    notices = notices_of(session=session, memo_id=memo.id)
    assert [(n.kind, n.number, n.due_at, n.sent_by) for n in notices] == [
        (NoticeKind.overdue, 1, due + timedelta(hours=72), "after-restart")
    ]
    session.refresh(memo)
    assert memo.next_follow_up_at == due + timedelta(hours=96)


def test_the_timer_survives_a_restart_between_reminders(
    engine: Engine, session: Session, operator: User, clock: ManualClock
) -> None:
    memo = acked_complaint(session, operator, **RENOTIFYING)
    clock.advance(timedelta(hours=48))
    assert send(session, worker="first") == 1
    clock.advance(timedelta(hours=24))
    with Session(engine) as fresh:
        assert send(fresh, worker="second") == 1
        assert send(fresh, worker="second") == 0
    kinds = [(n.kind, n.sent_by) for n in notices_of(session=session, memo_id=memo.id)]
    assert kinds == [(NoticeKind.reminder, "first"), (NoticeKind.overdue, "second")]


def test_reopening_restarts_the_reminders(
    session: Session, operator: User, clock: ManualClock
) -> None:
    memo = acked_complaint(session, operator, **RENOTIFYING)
    clock.advance(timedelta(hours=48))
    assert send(session) == 1
    resolve(session=session, memo=memo, data=HANDLED, by="佐藤", via=AckVia.portal)
    session.commit()
    clock.advance(timedelta(hours=1))
    resolve(session=session, memo=memo, data=STILL_OPEN, by="佐藤", via=AckVia.portal)
    session.commit()
    session.refresh(memo)
    new_due = clock.now() + timedelta(hours=72)
    assert memo.follow_up_due == new_due
    assert memo.next_follow_up_at == new_due - timedelta(hours=24)

    clock.advance(timedelta(hours=48) - timedelta(seconds=1))
    assert send(session) == 0
    clock.advance(timedelta(seconds=1))
    assert send(session) == 1

    notices = notices_of(session=session, memo_id=memo.id)
    assert [(n.kind, n.number) for n in notices] == [
        (NoticeKind.reminder, 1),
        (NoticeKind.reminder, 2),
    ]
    assert notices[1].deadline == new_due


def test_a_deadline_set_for_the_memo_moves_its_reminder(
    session: Session, operator: User, clock: ManualClock
) -> None:
    memo = acked_complaint(session, operator)
    lifecycle.set_follow_up_due(session=session, memo=memo, due=clock.now() + timedelta(hours=30))
    session.commit()
    assert memo.next_follow_up_at == clock.now() + timedelta(hours=6)

    clock.advance(timedelta(hours=6) - timedelta(seconds=1))
    assert send(session) == 0
    clock.advance(timedelta(seconds=1))
    assert send(session) == 1


def test_two_dispatchers_send_a_reminder_once(
    session: Session, operator: User, clock: ManualClock, engine: Engine
) -> None:
    memo = acked_complaint(session, operator)
    clock.advance(timedelta(hours=48))
    with Session(engine) as other:
        assert send(other, worker="other") == 1
    assert send(session, worker="w1") == 0
    assert len(notices_of(session=session, memo_id=memo.id)) == 1


def test_a_reminder_does_not_change_how_the_memo_was_delivered(
    session: Session, operator: User, clock: ManualClock
) -> None:
    memo = acked_complaint(session, operator)
    clock.advance(timedelta(hours=48))
    assert send(session) == 1
    everything = delivery_queue.deliveries_of(session=session, memo_id=memo.id)
    first = [d for d in everything if d.reason not in FOLLOW_UPS]
    assert len(everything) > len(first)
    assert memo_status_from(everything) == memo_status_from(first)


def test_the_reminder_is_short_and_names_the_deadline_in_the_company_zone(
    session: Session, operator: User, clock: ManualClock, relay_settings: Settings
) -> None:
    memo = acked_complaint(session, operator, **RENOTIFYING)
    clock.advance(timedelta(hours=48))
    send(session)
    clock.advance(timedelta(hours=24))
    send(session)
    by_kind = {(d.reason, d.channel): d for d in reminders(session, memo)}

    email = by_kind[(DeliveryReason.follow_up_reminder, Channel.email)]
    words = compose_words(
        source=words_source(session=session, delivery=email), settings=relay_settings
    )
    assert words.subject.startswith("【対応期限のお知らせ】苦情：予約時間の行き違い")
    assert memo.follow_up_due is not None
    local = memo.follow_up_due + timedelta(hours=9)  # Asia/Tokyo
    assert f"{local:%H:%M}" in words.text
    assert f"{memo.ack_code}" in words.text
    assert "http" in words.text and words.html is None

    overdue_sms = by_kind[(DeliveryReason.follow_up_overdue, Channel.sms)]
    sms = compose_words(
        source=words_source(session=session, delivery=overdue_sms), settings=relay_settings
    )
    assert sms.text.startswith("【対応期限超過】")
    assert memo.ack_code in sms.text


def test_the_worker_sends_a_due_reminder(
    session: Session, operator: User, clock: ManualClock, dispatcher: Dispatcher
) -> None:
    from service.followup.reminders import send_due as step

    memo = acked_complaint(session, operator)
    dispatcher.steps.append(lambda s: step(session=s, worker=dispatcher.name))
    clock.advance(timedelta(hours=48))
    asyncio.run(dispatcher.run_once())
    assert len(notices_of(session=session, memo_id=memo.id)) == 1
