"""The supervisor's board lists acknowledged memos still unresolved past their deadline."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.clock import ManualClock
from service.escalation.board import board
from service.followup.schema import ResolutionIn
from service.followup.service import resolve
from service.memos.models import Memo
from tests.dispatch.conftest import take_memo
from tests.factories import make_company
from tests.people import sign_in


def acked(session: Session, memo: Memo) -> Memo:
    result = acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.link)
    assert result is not None
    session.commit()
    return result.memo


def test_an_unresolved_memo_past_its_deadline_is_on_the_board_with_how_late(
    session: Session, operator: User, clock: ManualClock
) -> None:
    make_company(session, hours=None)
    late = acked(session, take_memo(session, operator, subject="予約の行き違い"))
    handled = acked(session, take_memo(session, operator, subject="対応済みの件"))
    acked(session, take_memo(session, operator, category="inquiry", subject="対象外"))
    clock.advance(timedelta(hours=71, minutes=59, seconds=59))
    assert board(session=session).overdue_follow_ups == []

    resolve(
        session=session,
        memo=handled,
        data=ResolutionIn(response="お詫びした", resolved=True),
        by="佐藤",
        via=AckVia.portal,
    )
    session.commit()
    clock.advance(timedelta(hours=2, seconds=1))

    [overdue] = board(session=session).overdue_follow_ups
    assert late.follow_up_due is not None
    assert (overdue.memo_id, overdue.subject, overdue.client) == (
        late.id,
        "予約の行き違い",
        "sakura-dental",
    )
    assert overdue.follow_up_due == late.follow_up_due.isoformat()
    assert overdue.overdue_seconds == 2 * 60 * 60


def test_the_board_page_has_the_overdue_follow_ups_panel(
    client: TestClient, session: Session, operator: User, admin: User, clock: ManualClock
) -> None:
    make_company(session, hours=None)
    late = acked(session, take_memo(session, operator))
    clock.advance(timedelta(days=4))
    sign_in(client, admin)

    page = client.get("/board")

    assert 'id="follow-ups-panel"' in page.text
    assert '<tbody id="follow-ups">' in page.text
    [row] = client.get("/api/v1/board").json()["overdue_follow_ups"]
    assert row["memo_id"] == late.id
    assert row["overdue_seconds"] == 24 * 60 * 60
