"""SMS replies to relayed memos: STOP/START, and acknowledgement by code or a bare OK."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from service.acks.models import SmsReplyCount
from service.acks.reply_limits import ANSWER_LIMIT, REPLY_LIMIT, WINDOW
from service.acks.sms_replies import ReplyKind, parse_reply
from service.app import create_app
from service.auth.models import User
from service.calls.models import WebhookReceipt
from service.channels import Channel
from service.clock import ManualClock
from service.companies.models import Company
from service.dispatch.models import Delivery
from service.memos.models import Memo, MemoStatus
from service.routing.optouts import SmsOptOut
from service.settings import Settings
from tests.dispatch.conftest import take_memo
from tests.factories import make_company, make_english_company, make_twilio_settings
from tests.refusals import refused as refusal
from tests.twilio_signing import ACCOUNT_SID, post_signed

DIRECTOR = "+819012345678"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
HELP_JA = "確認コード（4桁）を返信してください。"

_sids = iter(range(1, 10_000))


@pytest.fixture
def twilio_client(settings: Settings, engine: Engine, clock: ManualClock) -> Iterator[TestClient]:
    """The app with Twilio configured, so /twilio/* checks signatures."""
    configured = make_twilio_settings(settings)
    with TestClient(create_app(settings=configured, engine=engine)) as test_client:
        yield test_client


def reply(client: TestClient, body: str, *, sender: str = DIRECTOR, sid: str | None = None) -> Any:
    """An inbound SMS as Twilio posts it, signed."""
    form = {
        "MessageSid": sid or f"SM{next(_sids):032d}",
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": "+815000000000",
        "Body": body,
        "NumMedia": "0",
    }
    return post_signed(client, "/twilio/sms", form)


def fresh(session: Session, memo: Memo) -> Memo:
    found = session.get(Memo, memo.id, populate_existing=True)
    assert found is not None
    session.commit()
    return found


def channels_of(session: Session, memo: Memo) -> set[Channel]:
    rows = session.exec(select(Delivery).where(Delivery.memo_id == memo.id)).all()
    session.commit()
    return {row.channel for row in rows}


def urgent_memo(session: Session, operator: User, **overrides: Any) -> Memo:
    """A memo routed to the director by SMS (and email)."""
    return take_memo(session, operator, urgency="urgent", **overrides)


@pytest.mark.parametrize(
    ("body", "kind", "code"),
    [
        ("4821", ReplyKind.code, "4821"),
        ("OK 4821", ReplyKind.code, "4821"),
        ("ok4821", ReplyKind.code, "4821"),
        ("４８２１", ReplyKind.code, "4821"),
        ("OK　４８２１", ReplyKind.code, "4821"),
        ("ＯＫ ４８２１。", ReplyKind.code, "4821"),
        (" 了解 4821\n", ReplyKind.code, "4821"),
        ("4821 ok", ReplyKind.code, "4821"),
        ("482101", ReplyKind.code, "482101"),
        ("OK", ReplyKind.ok, None),
        ("ok", ReplyKind.ok, None),
        ("Ok", ReplyKind.ok, None),
        ("ＯＫ！", ReplyKind.ok, None),
        ("了解", ReplyKind.ok, None),
        ("はい", ReplyKind.ok, None),
        ("確認", ReplyKind.ok, None),
        ("了解しました。", ReplyKind.ok, None),
        ("STOP", ReplyKind.stop, None),
        ("stop", ReplyKind.stop, None),
        ("ＳＴＯＰ", ReplyKind.stop, None),
        ("Unsubscribe", ReplyKind.stop, None),
        ("STOPALL", ReplyKind.stop, None),
        ("cancel", ReplyKind.stop, None),
        ("END", ReplyKind.stop, None),
        ("quit", ReplyKind.stop, None),
        ("START", ReplyKind.start, None),
        ("yes", ReplyKind.start, None),
        ("Unstop", ReplyKind.start, None),
        ("", ReplyKind.other, None),
        ("482", ReplyKind.other, None),
        ("48211", ReplyKind.other, None),
        ("OK 4821 5555", ReplyKind.other, None),
        ("明日折り返します", ReplyKind.other, None),
        ("please stop", ReplyKind.other, None),
    ],
)
def test_replies_are_read_after_folding_full_width_forms(
    body: str, kind: ReplyKind, code: str | None
) -> None:
    parsed = parse_reply(body)

    assert (parsed.kind, parsed.code) == (kind, code)


@pytest.mark.parametrize("form", ["{code}", "OK {code}", "ok{code}", "full", "OK　full"])
def test_the_memo_code_acknowledges_for_the_contact(
    twilio_client: TestClient, session: Session, operator: User, company: Company, form: str
) -> None:
    memo = urgent_memo(session, operator)
    wide = memo.ack_code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    body = form.replace("full", wide).format(code=memo.ack_code)

    answer = reply(twilio_client, body)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    assert (
        f"<Message>受領確認を承りました（{memo.ack_code}）。ありがとうございます。</Message>"
        in (answer.text)
    )
    acked = fresh(session, memo)
    assert (acked.status, acked.acknowledged_by, acked.acknowledged_via) == (
        MemoStatus.acknowledged,
        "director",
        "sms",
    )
    assert acked.next_escalation_at is None


def test_a_bare_ok_acknowledges_the_one_waiting_memo(
    twilio_client: TestClient, session: Session, operator: User, company: Company
) -> None:
    memo = urgent_memo(session, operator)

    answer = reply(twilio_client, "了解")

    assert f"受領確認を承りました（{memo.ack_code}）" in answer.text
    assert fresh(session, memo).acknowledged_via == "sms"


def test_a_bare_ok_with_two_waiting_memos_changes_nothing_and_asks_for_the_code(
    twilio_client: TestClient, session: Session, operator: User, company: Company
) -> None:
    first = urgent_memo(session, operator, subject="一件目")
    second = urgent_memo(session, operator, subject="二件目")

    answer = reply(twilio_client, "OK")

    assert answer.status_code == 200
    assert "確認待ちの伝言が複数あります。確認コード（4桁）を返信してください。" in answer.text
    assert fresh(session, first).acknowledged_at is None
    assert fresh(session, second).acknowledged_at is None

    by_code = reply(twilio_client, f"OK {second.ack_code}")

    assert f"（{second.ack_code}）" in by_code.text
    assert fresh(session, second).acknowledged_via == "sms"
    assert fresh(session, first).acknowledged_at is None
    # With one memo left waiting, a bare OK is clear again.
    assert f"（{first.ack_code}）" in reply(twilio_client, "はい").text
    assert fresh(session, first).acknowledged_via == "sms"


def test_a_number_that_is_no_contact_gets_help_and_changes_nothing(
    twilio_client: TestClient, session: Session, operator: User, company: Company
) -> None:
    memo = urgent_memo(session, operator)

    for body in (memo.ack_code, "OK"):
        answer = reply(twilio_client, body, sender="+819099998888")
        assert answer.status_code == 200
        assert f"<Message>{HELP_JA}</Message>" in answer.text
    english = reply(twilio_client, memo.ack_code, sender="+12025550199")

    assert "<Message>Reply with the 4-digit code to confirm.</Message>" in english.text
    assert fresh(session, memo).acknowledged_at is None


def test_an_unknown_code_or_other_text_gets_help_and_changes_nothing(
    twilio_client: TestClient, session: Session, operator: User, company: Company
) -> None:
    memo = urgent_memo(session, operator)
    other = "0000" if memo.ack_code != "0000" else "1111"

    for body in (other, "明日折り返します", ""):
        answer = reply(twilio_client, body)
        assert answer.status_code == 200
        assert f"<Message>{HELP_JA}</Message>" in answer.text

    assert fresh(session, memo).acknowledged_at is None


def test_the_code_of_an_acknowledged_memo_says_so_and_changes_nothing(
    twilio_client: TestClient, session: Session, operator: User, company: Company
) -> None:
    memo = urgent_memo(session, operator)
    reply(twilio_client, memo.ack_code)
    acked = fresh(session, memo)

    again = reply(twilio_client, memo.ack_code, sender=DIRECTOR)

    assert f"この伝言（{memo.ack_code}）はすでに確認済みです。" in again.text
    assert fresh(session, memo).acknowledged_at == acked.acknowledged_at
    # And a bare OK finds nothing waiting any more.
    assert f"<Message>{HELP_JA}</Message>" in reply(twilio_client, "OK").text


def test_a_contact_phone_from_the_company_document_is_enough(
    twilio_client: TestClient, session: Session, operator: User, company: Company
) -> None:
    # A normal inquiry goes to the office by email only: nothing was sent to the director's phone.
    memo = take_memo(session, operator, category="inquiry")
    assert all(d.to != DIRECTOR for d in session.exec(select(Delivery)).all())
    session.commit()

    answer = reply(twilio_client, f"ok {memo.ack_code}")

    assert f"受領確認を承りました（{memo.ack_code}）" in answer.text
    assert fresh(session, memo).acknowledged_by == "director"


def test_a_code_only_reaches_memos_meant_for_that_number(
    twilio_client: TestClient, session: Session, operator: User, company: Company
) -> None:
    make_company(
        session,
        slug="kaede-law",
        name="かえで法律事務所",
        hours=None,
        contacts=[{"key": "partner", "name": "高橋 弁護士", "phone": "+819033334444"}],
        routing=[{"notify": ["partner"], "channels": ["sms"]}],
        escalation=[],
        fields=[],
        script=[],
    )
    theirs = take_memo(session, operator, client="kaede-law")

    answer = reply(twilio_client, theirs.ack_code, sender=DIRECTOR)

    assert f"<Message>{HELP_JA}</Message>" in answer.text
    assert fresh(session, theirs).acknowledged_at is None
    assert "受領確認" in reply(twilio_client, theirs.ack_code, sender="+819033334444").text
    assert fresh(session, theirs).acknowledged_by == "partner"


def test_an_english_company_is_answered_in_english(
    twilio_client: TestClient, session: Session, operator: User
) -> None:
    make_english_company(
        session,
        hours=None,
        contacts=[{"key": "partner", "name": "Ann Lee", "phone": "+12025550188"}],
        routing=[{"notify": ["partner"], "channels": ["sms"]}],
        escalation=[],
        script=[],
    )
    memo = take_memo(session, operator, client="maple-law", caller={"name": "Jane Roe"})

    answer = reply(twilio_client, f"OK {memo.ack_code}", sender="+12025550188")

    assert f"<Message>Acknowledged ({memo.ack_code}). Thank you.</Message>" in answer.text


def test_stop_opts_the_number_out_of_later_memos_and_start_brings_it_back(
    twilio_client: TestClient, session: Session, operator: User, company: Company
) -> None:
    waiting = urgent_memo(session, operator)

    stop = reply(twilio_client, "STOP")

    assert stop.status_code == 200
    assert stop.text == EMPTY_TWIML  # Twilio confirms the opt-out itself
    assert session.get(SmsOptOut, DIRECTOR) is not None
    session.commit()
    assert fresh(session, waiting).acknowledged_at is None  # STOP is never an acknowledgement

    later = urgent_memo(session, operator, subject="STOP の後")
    channels = channels_of(session, later)
    assert channels == {Channel.email}
    assert later.skipped == [
        {"contact": "director", "channel": "sms", "reason": "the number replied STOP to our SMS"}
    ]

    start = reply(twilio_client, "start")

    assert start.text == EMPTY_TWIML
    session.expire_all()
    assert session.get(SmsOptOut, DIRECTOR) is None
    session.commit()
    again = urgent_memo(session, operator, subject="START の後")
    channels = channels_of(session, again)
    assert channels == {Channel.sms, Channel.email}


def test_a_replayed_webhook_changes_nothing_twice(
    twilio_client: TestClient, session: Session, operator: User, company: Company
) -> None:
    code = urgent_memo(session, operator).ack_code
    stop_sid, start_sid = "SM" + "1" * 32, "SM" + "2" * 32
    reply(twilio_client, "STOP", sid=stop_sid)
    reply(twilio_client, "START", sid=start_sid)

    replayed = reply(twilio_client, "STOP", sid=stop_sid)

    assert replayed.status_code == 200
    assert replayed.text == EMPTY_TWIML
    session.expire_all()
    assert session.get(SmsOptOut, DIRECTOR) is None  # still opted in
    session.commit()

    ack_sid = "SM" + "3" * 32
    first = reply(twilio_client, code, sid=ack_sid)
    second = reply(twilio_client, code, sid=ack_sid)

    assert "受領確認" in first.text
    assert second.text == EMPTY_TWIML  # no second confirmation either


def test_an_unsigned_reply_is_refused(
    twilio_client: TestClient, session: Session, operator: User, company: Company
) -> None:
    memo = urgent_memo(session, operator)

    refused = twilio_client.post("/twilio/sms", data={"From": DIRECTOR, "Body": memo.ack_code})

    assert refused.status_code == 403
    assert fresh(session, memo).acknowledged_at is None


def test_without_twilio_the_route_does_not_exist(client: TestClient) -> None:
    assert client.post("/twilio/sms", data={"From": DIRECTOR, "Body": "OK"}).status_code == 404


def other_code(memo: Memo) -> str:
    return "0000" if memo.ack_code != "0000" else "1111"


def test_a_flood_of_wrong_codes_gets_a_few_help_answers_then_silence(
    twilio_client: TestClient, session: Session, operator: User, company: Company
) -> None:
    memo = urgent_memo(session, operator)

    answers = [reply(twilio_client, other_code(memo)) for _ in range(ANSWER_LIMIT + 10)]

    assert all(answer.status_code == 200 for answer in answers)
    helped = [answer for answer in answers if HELP_JA in answer.text]
    assert answers[:ANSWER_LIMIT] == helped
    assert {answer.text for answer in answers[ANSWER_LIMIT:]} == {EMPTY_TWIML}
    # The right code is still read and confirmed: only answers that acknowledge nothing stop.
    confirmed = reply(twilio_client, memo.ack_code)
    assert f"受領確認を承りました（{memo.ack_code}）" in confirmed.text
    assert fresh(session, memo).acknowledged_via == "sms"
    # "Already confirmed" acknowledges nothing either: it stays silent too.
    assert reply(twilio_client, memo.ack_code).text == EMPTY_TWIML
    # Another number has its own allowance.
    assert HELP_JA in reply(twilio_client, "OK", sender="+819099998888").text


def test_past_the_reply_limit_nothing_is_read_until_the_window_ends_but_stop_still_works(
    twilio_client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    clock: ManualClock,
) -> None:
    memo = urgent_memo(session, operator)
    code, wrong = memo.ack_code, other_code(memo)
    for _ in range(REPLY_LIMIT):
        reply(twilio_client, wrong)
    clock.advance(WINDOW - timedelta(minutes=1))

    ignored = reply(twilio_client, code)

    assert ignored.text == EMPTY_TWIML
    assert fresh(session, memo).acknowledged_at is None
    assert reply(twilio_client, "STOP").text == EMPTY_TWIML
    assert session.get(SmsOptOut, DIRECTOR) is not None
    session.commit()
    reply(twilio_client, "START")
    session.expire_all()
    assert session.get(SmsOptOut, DIRECTOR) is None
    session.commit()

    clock.advance(timedelta(minutes=1))

    assert HELP_JA in reply(twilio_client, wrong).text
    assert "受領確認を承りました" in reply(twilio_client, code).text
    assert fresh(session, memo).acknowledged_via == "sms"


def test_the_counts_hold_across_processes_and_restarts(
    twilio_client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    settings: Settings,
    engine: Engine,
) -> None:
    memo = urgent_memo(session, operator)
    for _ in range(ANSWER_LIMIT):
        assert HELP_JA in reply(twilio_client, other_code(memo)).text
    another_process = create_app(settings=make_twilio_settings(settings), engine=engine)

    with TestClient(another_process) as restarted:
        assert reply(restarted, other_code(memo)).text == EMPTY_TWIML

    counts = session.exec(select(SmsReplyCount.kind, SmsReplyCount.count)).all()
    assert sorted(counts) == [("answer", ANSWER_LIMIT + 1), ("reply", ANSWER_LIMIT + 1)]


@pytest.mark.parametrize("sid", ["SM" + "0" * 5000, "not-a-sid", "SM123", "sm" + "0" * 32])
def test_a_webhook_whose_ids_are_no_twilio_sids_is_refused_and_changes_nothing(
    twilio_client: TestClient, session: Session, operator: User, company: Company, sid: str
) -> None:
    memo = urgent_memo(session, operator)

    refused = reply(twilio_client, memo.ack_code, sid=sid)

    body = refusal(refused, status=400, code="bad_sid")
    assert body.field == "MessageSid"
    assert fresh(session, memo).acknowledged_at is None
    assert session.exec(select(WebhookReceipt)).all() == []


def test_a_status_callback_with_a_word_relay_does_not_know_keeps_no_receipt(
    twilio_client: TestClient, session: Session
) -> None:
    form = {"MessageSid": "SM" + "4" * 32, "MessageStatus": "x" * 5000, "AccountSid": ACCOUNT_SID}

    answer = post_signed(twilio_client, "/twilio/sms/status", form)

    assert answer.status_code == 204
    assert session.exec(select(WebhookReceipt)).all() == []
