"""The acknowledgement link's second form: how the company handled the memo, recorded with the
token as the only credential."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import service as audit
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.memos.ack_links import make_ack_token
from service.memos.models import Memo
from service.memos.resolutions import resolutions_of
from service.settings import Settings
from tests.dispatch.conftest import take_memo

HANDLED = {
    "response": "院長からお電話し、お詫びしました。",
    "cause": "予約入力漏れ",
    "result": "ご了承いただいた",
    "resolved": "on",
}


def url_for(settings: Settings, memo: Memo) -> str:
    token = make_ack_token(secret=settings.secret(), memo_id=memo.id, contact_key="director")
    return f"/a/{token}"


def fresh(session: Session, memo: Memo) -> Memo:
    found = session.get(Memo, memo.id, populate_existing=True)
    assert found is not None
    session.commit()
    return found


def test_the_form_is_offered_once_the_memo_is_confirmed_and_not_before(
    client: TestClient, session: Session, operator: User, company: Company, settings: Settings
) -> None:
    memo = take_memo(session, operator)
    url = url_for(settings, memo)

    assert 'name="response"' not in client.get(url).text

    done = client.post(url)

    assert f'action="{url}/resolution"' in done.text
    for field in ("response", "cause", "result", "resolved"):
        assert f'name="{field}"' in done.text
    assert "csrf_token" not in done.text
    assert f'action="{url}/resolution"' in client.get(url).text


def test_posting_the_form_records_the_resolution_for_the_contact(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    settings: Settings,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)
    url = url_for(settings, memo)
    client.post(url)
    clock.advance(timedelta(hours=3))

    answer = client.post(f"{url}/resolution", data=HANDLED)

    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    [kept] = resolutions_of(session=session, memo_id=memo.id)
    session.commit()
    assert (kept.response, kept.cause, kept.result, kept.resolved) == (
        HANDLED["response"],
        HANDLED["cause"],
        HANDLED["result"],
        True,
    )
    assert (kept.by, kept.via, kept.recorded_by) == ("director", "link", None)
    stored = fresh(session, memo)
    assert stored.resolved_at == clock.now()
    assert stored.follow_up_due is None
    [entry], _ = audit.list_entries(session=session, action="memo.resolved")
    assert (entry.actor, entry.detail["via"]) == ("director", "link")


def test_the_form_acknowledges_a_memo_not_yet_confirmed(
    client: TestClient, session: Session, operator: User, company: Company, settings: Settings
) -> None:
    memo = take_memo(session, operator)

    answer = client.post(f"{url_for(settings, memo)}/resolution", data={**HANDLED, "resolved": ""})

    assert answer.status_code == 200
    stored = fresh(session, memo)
    assert (stored.acknowledged_by, stored.acknowledged_via) == ("director", "link")
    assert stored.resolved_at is None
    assert stored.follow_up_due is not None


def test_a_form_without_a_response_is_refused_and_keeps_what_was_typed(
    client: TestClient, session: Session, operator: User, company: Company, settings: Settings
) -> None:
    memo = take_memo(session, operator)
    url = url_for(settings, memo)
    client.post(url)

    answer = client.post(f"{url}/resolution", data={**HANDLED, "response": "  "})

    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.text
    assert "予約入力漏れ</textarea>" in answer.text
    assert resolutions_of(session=session, memo_id=memo.id) == []


def test_an_expired_or_forged_link_records_nothing(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    settings: Settings,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)
    url = url_for(settings, memo)

    assert client.post(f"{url}x/resolution", data=HANDLED).status_code == 404
    clock.advance(timedelta(days=settings.ack_link_days, seconds=1))
    assert client.post(f"{url}/resolution", data=HANDLED).status_code == 410
    assert resolutions_of(session=session, memo_id=memo.id) == []


def test_the_page_shows_the_latest_account_after_recording(
    client: TestClient, session: Session, operator: User, company: Company, settings: Settings
) -> None:
    memo = take_memo(session, operator)
    url = url_for(settings, memo)
    client.post(f"{url}/resolution", data={**HANDLED, "result": "", "resolved": ""})

    answer = client.post(f"{url}/resolution", data={**HANDLED, "result": "ご了承いただいた"})

    assert answer.text.count('class="resolution card"') == 1
    assert "ご了承いただいた" in answer.text
    assert "ご了承いただいた" in client.get(url).text


def test_an_acknowledged_memo_behind_an_expired_link_offers_no_form(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    settings: Settings,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)
    url = url_for(settings, memo)
    client.post(url)
    clock.advance(timedelta(days=settings.ack_link_days, seconds=1))

    assert 'name="response"' not in client.get(url).text
