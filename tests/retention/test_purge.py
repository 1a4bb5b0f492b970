"""The purge: expired closed records go with everything about them; nothing open ever does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, func, select

from service.acks.service import AckVia, acknowledge
from service.audit.models import AuditEntry
from service.audit.service import Actor
from service.auth.models import User
from service.calls.caller_notes import CallerNote
from service.calls.models import Call
from service.calls.service import attach_recording, record_inbound_call
from service.channels import Channel
from service.clock import ManualClock
from service.companies.models import Company, CompanyTestSend
from service.dispatch.models import Delivery, DeliveryStatus
from service.escalation.models import CallbackTask, EscalationFiring, TaskStatus
from service.followup.models import FollowUpNotice, NoticeKind
from service.followup.schema import ResolutionIn
from service.followup.service import resolve
from service.memos.models import Memo
from service.memos.resolutions import MemoResolution
from service.providers.models import OutboxMessage
from service.retention.models import PurgeRun
from service.retention.runs import Purged, dry_run, purge_batch, start_run
from tests.dispatch.conftest import take_memo
from tests.factories import make_company

RETENTION = {"memo_days": 365, "call_days": 365, "recording_days": 90, "caller_note_days": 730}
A_YEAR_AND_A_DAY = timedelta(days=366)


@pytest.fixture
def company(session: Session) -> Company:
    """The default test company, keeping its records as long as RETENTION says."""
    return make_company(session, retention=RETENTION)


def sent(session: Session, memo: Memo) -> None:
    """Every message of the memo has gone out."""
    session.exec(
        update(Delivery).where(col(Delivery.memo_id) == memo.id).values(status="delivered")
    )
    session.commit()


def closed_memo(session: Session, operator: User, **overrides: Any) -> Memo:
    """A memo relayed and acknowledged, that nobody is waiting on any more."""
    memo = take_memo(session, operator, **{"category": "inquiry", **overrides})
    sent(session, memo)
    acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.link)
    session.commit()
    return memo


def purge_all(session: Session, *, batch: int = 500) -> list[Purged]:
    """A run by hand from start to end, each batch committed."""
    run = start_run(session=session, started_by="test")
    session.commit()
    purged: list[Purged] = []
    while True:
        progress, finished = purge_batch(
            session=session, run=run, actor=Actor(name="cli:test"), batch=batch, companies=3
        )
        session.commit()
        purged.extend(finished)
        if progress == 0:
            return purged


def exists(session: Session, model: Any, **where: str) -> bool:
    statement = select(func.count()).select_from(model)
    for name, value in where.items():
        statement = statement.where(getattr(model, name) == value)
    found = session.exec(statement).one() > 0
    session.commit()
    return found


def test_expired_closed_memos_go_with_everything_about_them(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memo = closed_memo(session, operator)
    resolve(
        session=session,
        memo=memo,
        data=ResolutionIn(response="折り返し済み", resolved=True),
        by="佐藤",
        via=AckVia.portal,
    )
    now = clock.now()
    session.add(
        EscalationFiring(
            memo_id=memo.id, step=0, action="notify", due_at=now, fired_at=now, fired_by="w"
        )
    )
    session.add(
        CallbackTask(
            memo_id=memo.id,
            company_id=company.id,
            status=TaskStatus.done,
            due_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    session.add(
        CompanyTestSend(
            memo_id=memo.id,
            company_id=company.id,
            contact_key="office",
            channel="email",
            sent_by="admin@example.com",
            sent_at=now,
        )
    )
    session.add(
        FollowUpNotice(
            memo_id=memo.id,
            kind=NoticeKind.reminder,
            number=1,
            deadline=now,
            due_at=now,
            sent_at=now,
            sent_by="w",
        )
    )
    delivery_ids = [d.id for d in session.exec(select(Delivery).where(Delivery.memo_id == memo.id))]
    session.add(
        OutboxMessage(
            delivery_id=delivery_ids[0],
            channel=Channel.email,
            to="a@b.jp",
            text="x",
            created_at=now,
        )
    )
    session.commit()
    clock.advance(A_YEAR_AND_A_DAY)

    purged = purge_all(session)

    assert [(p.slug, p.counts["memos"]) for p in purged] == [("sakura-dental", 1)]
    dependents = (
        Delivery,
        MemoResolution,
        EscalationFiring,
        CallbackTask,
        CompanyTestSend,
        FollowUpNotice,
    )
    for model in dependents:
        assert not exists(session, model, memo_id=memo.id), model
    assert not exists(session, OutboxMessage, delivery_id=delivery_ids[0])
    assert not exists(session, Memo, id=memo.id)


def test_the_purge_is_audited_once_per_company_with_its_counts(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    for _ in range(3):
        closed_memo(session, operator)
    clock.advance(A_YEAR_AND_A_DAY)

    purge_all(session, batch=2)

    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "retention.purged")).all()
    assert [(e.actor, e.target, e.company_id, e.detail) for e in entries] == [
        (
            "cli:test",
            "company:sakura-dental",
            company.id,
            {"memos": "3", "recordings": "0", "calls": "0", "caller_notes": "0"},
        )
    ]
    run = session.exec(select(PurgeRun)).one()
    assert run.finished_at is not None
    assert run.counts == {
        "memos": 3,
        "recordings": 0,
        "calls": 0,
        "caller_notes": 0,
        "companies": 1,
    }


def test_nothing_is_audited_when_nothing_expired(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    closed_memo(session, operator)

    assert purge_all(session) == []

    assert not exists(session, AuditEntry, action="retention.purged")


def _unacknowledged(session: Session, memo: Memo) -> None:
    sent(session, memo)


def _follow_up_unresolved(session: Session, memo: Memo) -> None:
    memo.follow_up_due = memo.created_at + timedelta(days=3)
    session.add(memo)
    _acknowledged(session, memo)


def _callback_owed(session: Session, memo: Memo, status: TaskStatus) -> None:
    # Acknowledging closes a memo's callbacks: this one is still owed all the same.
    _acknowledged(session, memo)
    now = memo.created_at
    session.add(
        CallbackTask(
            memo_id=memo.id,
            company_id=memo.company_id,
            status=status,
            due_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    session.commit()


def _delivery_waiting(session: Session, memo: Memo, status: DeliveryStatus) -> None:
    session.exec(
        update(Delivery).where(col(Delivery.memo_id) == memo.id).values(status=status.value)
    )
    session.commit()
    acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.link)
    session.commit()


def _acknowledged(session: Session, memo: Memo) -> None:
    session.commit()
    sent(session, memo)
    acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.link)
    session.commit()


OPEN = {
    "unacknowledged": _unacknowledged,
    "follow-up unresolved": _follow_up_unresolved,
    "callback open": lambda s, m: _callback_owed(s, m, TaskStatus.open),
    "callback taken": lambda s, m: _callback_owed(s, m, TaskStatus.taken),
    "delivery pending": lambda s, m: _delivery_waiting(s, m, DeliveryStatus.pending),
    "delivery retrying": lambda s, m: _delivery_waiting(s, m, DeliveryStatus.retrying),
    "delivery sending": lambda s, m: _delivery_waiting(s, m, DeliveryStatus.sending),
}


@pytest.mark.parametrize("condition", OPEN)
def test_an_open_memo_is_never_deleted(
    session: Session, operator: User, company: Company, clock: ManualClock, condition: str
) -> None:
    memo = take_memo(session, operator, category="inquiry")
    OPEN[condition](session, memo)
    closed = closed_memo(session, operator)
    clock.advance(timedelta(days=3650))

    purge_all(session)

    assert exists(session, Memo, id=memo.id)
    assert exists(session, Delivery, memo_id=memo.id)
    assert not exists(session, Memo, id=closed.id)


def test_memos_still_sending_are_passed_over_and_the_later_closed_ones_still_go(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    # More waiting memos than a batch holds, all older than the closed ones.
    waiting = [take_memo(session, operator, category="inquiry") for _ in range(5)]
    for memo in waiting:
        _delivery_waiting(session, memo, DeliveryStatus.pending)
        clock.advance(timedelta(minutes=1))
    closed = [closed_memo(session, operator) for _ in range(3)]
    clock.advance(timedelta(days=3650))

    purged = purge_all(session, batch=2)

    assert all(exists(session, Memo, id=memo.id) for memo in waiting)
    assert not any(exists(session, Memo, id=memo.id) for memo in closed)
    assert [item.counts["memos"] for item in purged] == [3]


def test_a_complaint_resolved_is_closed_and_goes(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memo = take_memo(session, operator, category="complaint")
    _acknowledged(session, memo)
    session.refresh(memo)
    assert memo.follow_up_due is not None
    session.commit()
    clock.advance(A_YEAR_AND_A_DAY)
    purge_all(session)
    assert exists(session, Memo, id=memo.id)

    resolve(
        session=session,
        memo=memo,
        data=ResolutionIn(response="謝罪済み", resolved=True),
        by="佐藤",
        via=AckVia.portal,
    )
    session.commit()
    purge_all(session)

    assert not exists(session, Memo, id=memo.id)


def test_a_memo_a_day_short_of_its_retention_stays(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memo = closed_memo(session, operator)

    clock.advance(timedelta(days=364))
    purge_all(session)
    assert exists(session, Memo, id=memo.id)

    clock.advance(timedelta(days=1))
    purge_all(session)
    assert exists(session, Memo, id=memo.id)  # exactly 365 days: not older than that

    clock.advance(timedelta(seconds=1))
    purge_all(session)
    assert not exists(session, Memo, id=memo.id)


def test_a_company_without_retention_keeps_everything(
    session: Session, operator: User, clock: ManualClock
) -> None:
    make_company(session)  # the default company, no `retention:`
    make_company(session, slug="kept-parts", retention={"recording_days": 30})
    memo = closed_memo(session, operator)
    kept = closed_memo(session, operator, client="kept-parts")
    clock.advance(timedelta(days=3650))

    assert purge_all(session) == []

    assert exists(session, Memo, id=memo.id)
    assert exists(session, Memo, id=kept.id)


def test_calls_go_when_no_kept_memo_refers_to_them_and_recordings_sooner(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    def call(sid: str) -> Call:
        found, _ = record_inbound_call(
            session=session,
            company=company,
            call_sid=sid,
            from_number="+819011112222",
            to_number="+81501234567",
        )
        attach_recording(session=session, call_sid=sid, recording_url=f"https://rec/{sid}")
        session.commit()
        return found

    lonely = call("CA1")
    with_closed = call("CA2")
    with_open = call("CA3")
    closed_memo(session, operator, call_sid="CA2")
    open_memo = take_memo(session, operator, category="inquiry", call_sid="CA3")
    clock.advance(timedelta(days=91))
    recent = call("CA4")

    purge_all(session)
    rows = {c.call_sid: c for c in session.exec(select(Call))}
    session.commit()
    assert {sid: rows[sid].recording_url for sid in rows} == {
        "CA1": None,
        "CA2": None,
        "CA3": None,
        "CA4": "https://rec/CA4",
    }

    clock.advance(timedelta(days=300))
    purged = purge_all(session)

    remaining = set(session.exec(select(Call.id)).all())
    session.commit()
    assert remaining == {with_open.id, recent.id}
    assert lonely.id not in remaining and with_closed.id not in remaining
    assert exists(session, Memo, id=open_memo.id)
    assert [(p.counts["memos"], p.counts["calls"]) for p in purged] == [(1, 2)]


def test_caller_notes_older_than_their_days_are_purged(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    def note(text: str) -> None:
        session.add(
            CallerNote(
                company_id=company.id,
                phone="+819011112222",
                text=text,
                written_by=operator.id,
                written_at=clock.now(),
            )
        )
        session.commit()

    note("old")
    clock.advance(timedelta(days=400))
    note("newer")
    clock.advance(timedelta(days=331))

    purged = purge_all(session)

    texts = session.exec(select(CallerNote.text)).all()
    session.commit()
    assert texts == ["newer"]
    assert [p.counts["caller_notes"] for p in purged] == [1]


def test_a_dry_run_counts_what_would_go_and_deletes_nothing(
    session: Session, operator: User, company: Company, clock: ManualClock, engine: Engine
) -> None:
    make_company(session, slug="no-retention")
    memos = [closed_memo(session, operator) for _ in range(2)]
    take_memo(session, operator, category="inquiry")  # unacknowledged: kept
    record_inbound_call(
        session=session,
        company=company,
        call_sid="CA9",
        from_number="+819011112222",
        to_number="+81501234567",
    )
    attach_recording(session=session, call_sid="CA9", recording_url="https://rec/CA9")
    session.commit()
    clock.advance(A_YEAR_AND_A_DAY)

    found_counts = dry_run(session=session)
    session.commit()

    assert [(p.slug, p.counts) for p in found_counts] == [
        ("sakura-dental", {"memos": 2, "recordings": 1, "calls": 1, "caller_notes": 0})
    ]
    assert all(exists(session, Memo, id=memo.id) for memo in memos)
    assert exists(session, Call, call_sid="CA9")
    assert not exists(session, AuditEntry, action="retention.purged")
    # What the purge then deletes is what the dry run said.
    assert [p.counts for p in purge_all(session)] == [found_counts[0].counts]
