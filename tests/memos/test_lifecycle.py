"""A memo's follow-through: acknowledging never resolves; the follow-up due and resolved_at."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.clock import ManualClock
from service.companies.config import CompanyConfig
from service.followup.schema import ResolutionIn
from service.followup.service import resolve
from service.memos import lifecycle
from service.memos.models import Memo
from tests.dispatch.conftest import take_memo
from tests.factories import company_document, make_company

HANDLED = ResolutionIn(response="お詫びし、再発防止を説明した", resolved=True)
STILL_OPEN = ResolutionIn(response="折り返したが不在", resolved=False)


def ack(session: Session, memo: Memo) -> Memo:
    result = acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.link)
    assert result is not None
    session.commit()
    return result.memo


def test_acknowledging_a_complaint_never_resolves_it_and_sets_its_default_due(
    session: Session, operator: User, clock: ManualClock
) -> None:
    make_company(session, hours=None)
    memo = take_memo(session, operator, category="complaint")
    clock.advance(timedelta(minutes=10))

    memo = ack(session, memo)

    assert memo.acknowledged_at == clock.now()
    assert memo.resolved_at is None
    # No `follow_up:` in the document: a complaint is due 72 hours after acknowledgement.
    assert memo.follow_up_due == clock.now() + timedelta(hours=72)


def test_a_category_the_rule_does_not_list_gets_no_due(
    session: Session, operator: User, clock: ManualClock
) -> None:
    make_company(session, hours=None)
    memo = ack(session, take_memo(session, operator, category="inquiry"))

    assert memo.follow_up_due is None
    assert memo.resolved_at is None


def test_the_company_rule_sets_its_own_delay_and_categories(
    session: Session, operator: User, clock: ManualClock
) -> None:
    make_company(session, hours=None, follow_up={"after": "24h", "categories": ["inquiry"]})

    inquiry = ack(session, take_memo(session, operator, category="inquiry"))
    complaint = ack(session, take_memo(session, operator, category="complaint"))

    assert inquiry.follow_up_due == clock.now() + timedelta(hours=24)
    assert complaint.follow_up_due is None


def test_resolving_sets_resolved_at_and_clears_the_due_and_a_later_account_reopens_it(
    session: Session, operator: User, clock: ManualClock
) -> None:
    make_company(session, hours=None)
    memo = ack(session, take_memo(session, operator))
    clock.advance(timedelta(hours=1))

    resolve(session=session, memo=memo, data=STILL_OPEN, by="佐藤", via=AckVia.link)
    session.commit()
    assert memo.resolved_at is None
    assert memo.acknowledged_at is not None
    assert memo.follow_up_due == memo.acknowledged_at + timedelta(hours=72)

    clock.advance(timedelta(hours=1))
    resolve(session=session, memo=memo, data=HANDLED, by="佐藤", via=AckVia.link)
    session.commit()
    resolved_at = clock.now()
    assert (memo.resolved_at, memo.follow_up_due) == (resolved_at, None)

    # Said resolved again later: it stays resolved from the first time.
    clock.advance(timedelta(hours=1))
    resolve(session=session, memo=memo, data=HANDLED, by="佐藤", via=AckVia.link)
    session.commit()
    assert memo.resolved_at == resolved_at

    clock.advance(timedelta(hours=1))
    resolve(session=session, memo=memo, data=STILL_OPEN, by="佐藤", via=AckVia.link)
    session.commit()
    assert memo.resolved_at is None
    assert memo.follow_up_due == clock.now() + timedelta(hours=72)


def test_a_second_acknowledgement_does_not_move_the_due_or_reopen(
    session: Session, operator: User, clock: ManualClock
) -> None:
    make_company(session, hours=None)
    memo = ack(session, take_memo(session, operator))
    due = memo.follow_up_due
    clock.advance(timedelta(hours=5))

    memo = ack(session, memo)

    assert memo.follow_up_due == due


def test_record_resolution_on_a_memo_keeps_its_status(
    session: Session, operator: User, clock: ManualClock
) -> None:
    make_company(session, hours=None)
    memo = ack(session, take_memo(session, operator))

    lifecycle.record_resolution(session=session, memo=memo, resolved=True)
    session.commit()

    assert memo.status.value == "acknowledged"
    assert memo.resolved_at == clock.now()


@pytest.mark.parametrize(
    "follow_up",
    [
        {"after": "0h", "categories": ["complaint"]},
        {"after": "24h", "categories": []},
        {"after": "24h", "categories": ["complaint", "complaint"]},
        {"after": "24h", "categories": ["praise"]},
        {"after": "24h"},
    ],
)
def test_a_bad_follow_up_rule_is_refused(follow_up: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CompanyConfig.model_validate(company_document(follow_up=follow_up))
