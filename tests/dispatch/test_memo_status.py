"""A memo's status follows its deliveries, never past an acknowledgement."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from service import clock
from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.channels import Channel
from service.companies.models import Company
from service.dispatch.delivery_queue import QueuePolicy, claim_due
from service.dispatch.memo_status import memo_status_from, refresh_memo_status
from service.dispatch.models import Delivery, DeliveryReason, DeliveryStatus
from service.dispatch.outcomes import record_outcome
from service.memos.models import Memo, MemoStatus
from service.providers.base import Outcome, SendResult
from tests.dispatch.conftest import take_memo
from tests.factories import make_company


def _mark_sent(session: Session, memo: Memo) -> None:
    session.exec(
        update(Delivery).where(col(Delivery.memo_id) == memo.id).values(status=DeliveryStatus.sent)
    )
    session.commit()


def test_memo_status_follows_its_deliveries(
    session: Session, operator: User, company: Company
) -> None:
    memo = take_memo(session, operator)
    _mark_sent(session, memo)

    refreshed = refresh_memo_status(session=session, memo_id=memo.id)
    session.commit()

    assert refreshed is not None and refreshed.status == MemoStatus.sent


def test_a_refresh_never_undoes_an_acknowledgement_committed_since_the_memo_was_read(
    engine: Engine, session: Session, operator: User, company: Company
) -> None:
    memo = take_memo(session, operator)
    with Session(engine, expire_on_commit=False) as dispatcher:
        seen = dispatcher.get(Memo, memo.id)  # read while the memo was still being relayed
        dispatcher.commit()
        acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.link)
        session.commit()
        _mark_sent(session, memo)

        refreshed = refresh_memo_status(session=dispatcher, memo_id=memo.id)
        dispatcher.commit()

    assert refreshed is not None and refreshed is seen
    assert refreshed.status == MemoStatus.acknowledged
    session.expire_all()
    stored = session.get(Memo, memo.id)
    assert stored is not None and stored.status == MemoStatus.acknowledged


@pytest.mark.postgres_only
def test_two_deliveries_failing_at_once_leave_the_memo_failed(
    engine: Engine, session: Session, operator: User
) -> None:
    make_company(
        session, hours=None, routing=[{"notify": ["director"], "channels": ["sms", "email"]}]
    )
    memo = take_memo(session, operator)
    policy = QueuePolicy()
    claimed = claim_due(session=session, worker="w", limit=10, policy=policy)
    session.commit()
    assert len(claimed) == 2
    refused = SendResult(Outcome.permanent, error="refused")

    def fail(delivery_id: str) -> Session:
        outcome = Session(engine, expire_on_commit=False)
        record_outcome(
            session=outcome, delivery_id=delivery_id, result=refused, worker="w", policy=policy
        )
        return outcome

    first = fail(claimed[0].id)  # not committed yet
    second: list[Session] = []
    other = threading.Thread(target=lambda: second.append(fail(claimed[1].id)))
    other.start()
    other.join(timeout=0.5)  # it waits for the first to commit, or reads around it
    first.commit()
    first.close()
    other.join()
    second[0].commit()
    second[0].close()

    session.expire_all()
    stored = session.get(Memo, memo.id)
    assert stored is not None and stored.status == MemoStatus.failed


def test_a_report_about_a_memo_does_not_make_it_reached() -> None:
    def make_delivery(reason: DeliveryReason, status: DeliveryStatus) -> Delivery:
        return Delivery(
            memo_id="m" * 32,
            contact_key="crm",
            channel=Channel.webhook,
            to="https://crm.example.jp/relay",
            reason=reason,
            status=status,
            due_at=clock.now(),
            created_at=clock.now(),
            updated_at=clock.now(),
        )

    failed = make_delivery(DeliveryReason.routing, DeliveryStatus.failed)
    report = make_delivery(DeliveryReason.memo_failed, DeliveryStatus.delivered)

    assert memo_status_from([failed, report]) == MemoStatus.failed
    assert memo_status_from([failed]) == MemoStatus.failed
