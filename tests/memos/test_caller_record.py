"""A caller's record: every call and memo from a number, of one company or the whole bureau."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.calls import service as calls
from service.calls.models import Call
from service.clock import ManualClock
from service.companies.models import Company
from service.memos.caller_record import caller_record
from service.memos.models import Memo
from tests.dispatch.conftest import take_memo
from tests.factories import make_company

CALLER = "+819011112222"
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"


@dataclass(frozen=True)
class CallerHistory:
    """The hand-built history of one caller with two companies (times in the docstrings)."""

    sakura: Company
    kaede: Company
    sakura_call: Call
    kaede_call: Call
    sakura_memo: Memo
    kaede_memo: Memo
    sakura_later_memo: Memo
    other_memo: Memo
    lifted_flag_id: str
    flag_id: str


def _call(session: Session, company: Company, sid: str, number: str = CALLER) -> Call:
    call, _ = calls.record_inbound_call(
        session=session,
        company=company,
        call_sid=sid,
        from_number=number,
        to_number=company.config["phone_numbers"][0],
    )
    session.commit()
    return call


def make_caller_history(
    session: Session, clock: ManualClock, operator: User, admin: User, company: Company
) -> CallerHistory:
    """山田 called さくら歯科 (09:00 JST on 2026-01-05, a voicemail, a memo with another number to
    call back, confirmed by 佐藤 院長 at 09:30) and かえで法律事務所 (10:00, a memo); さくら took a
    second memo from the number written full-width (11:00). The bureau flagged the number for
    harassment at 12:00 (lifted by the admin at 13:00) and for repeated calls at 14:00. Another
    caller's memo (11:30) belongs to nobody's record here."""
    kaede = make_company(
        session,
        slug="kaede-law",
        name="かえで法律事務所",
        hours=None,
        phone_numbers=["+81358204182"],
    )
    sakura_call = _call(session, company, "CA" + "1" * 32)
    calls.answer_call(session=session, call_id=sakura_call.id, operator_id=operator.id)
    calls.attach_recording(session=session, call_sid=sakura_call.call_sid, recording_url=RECORDING)
    session.commit()
    sakura_memo = take_memo(
        session,
        operator,
        call_sid=sakura_call.call_sid,
        caller={"name": "山田 太郎", "phone": "03-3123-4567"},
        subject="受付の対応について",
        fields={"patient_no": "12345"},
    )
    clock.advance(timedelta(minutes=30))
    acknowledge(session=session, memo_id=sakura_memo.id, by="director", via=AckVia.link)
    session.commit()
    clock.advance(timedelta(minutes=30))
    kaede_call = _call(session, kaede, "CA" + "2" * 32)
    kaede_memo = take_memo(
        session,
        operator,
        client="kaede-law",
        call_sid=kaede_call.call_sid,
        subject="かえでの相談の件",
        category="inquiry",
    )
    clock.advance(timedelta(hours=1))
    later = take_memo(
        session,
        operator,
        caller={"name": "山田 太郎", "phone": "０９０－１１１１－２２２２"},
        subject="再度のお電話",
        urgency="urgent",
    )
    clock.advance(timedelta(minutes=30))
    other = take_memo(
        session, operator, caller={"name": "別人", "phone": "080-9999-0001"}, subject="別の方"
    )
    clock.advance(timedelta(minutes=30))
    lifted = calls.flag_caller(
        session=session, phone=CALLER, kind="harassment", note="大声で威圧", flagged_by=operator.id
    )
    session.commit()
    clock.advance(timedelta(hours=1))
    calls.clear_flag(session=session, flag_id=lifted.id, cleared_by=admin.id)
    session.commit()
    clock.advance(timedelta(hours=1))
    flag = calls.flag_caller(
        session=session, phone=CALLER, kind="repeat", note="毎日同じ時刻に", flagged_by=operator.id
    )
    session.commit()
    return CallerHistory(
        sakura=company,
        kaede=kaede,
        sakura_call=sakura_call,
        kaede_call=kaede_call,
        sakura_memo=sakura_memo,
        kaede_memo=kaede_memo,
        sakura_later_memo=later,
        other_memo=other,
        lifted_flag_id=lifted.id,
        flag_id=flag.id,
    )


def test_the_bureau_record_holds_every_companys_calls_and_memos_and_every_flag(
    session: Session, clock: ManualClock, operator: User, admin: User, company: Company
) -> None:
    history = make_caller_history(session, clock, operator, admin, company)

    record = caller_record(session=session, phone=CALLER, company_id=None)

    assert [call.id for call, _ in record.calls] == [
        history.kaede_call.id,
        history.sakura_call.id,
    ]
    # Newest first; the first memo has another number to call back but was taken on the call.
    assert [memo.id for memo, _ in record.memos] == [
        history.sakura_later_memo.id,
        history.kaede_memo.id,
        history.sakura_memo.id,
    ]
    assert record.flags is not None
    assert [(f.flag.id, f.flagged_by, f.cleared_by) for f in record.flags] == [
        (history.flag_id, operator.display_name, None),
        (history.lifted_flag_id, operator.display_name, admin.display_name),
    ]
    assert record.names == {operator.id: operator.display_name}


def test_a_companys_record_holds_its_own_calls_and_memos_and_no_flags(
    session: Session, clock: ManualClock, operator: User, admin: User, company: Company
) -> None:
    history = make_caller_history(session, clock, operator, admin, company)

    sakura = caller_record(session=session, phone=CALLER, company_id=company.id)
    kaede = caller_record(session=session, phone=CALLER, company_id=history.kaede.id)

    assert [call.id for call, _ in sakura.calls] == [history.sakura_call.id]
    assert [memo.id for memo, _ in sakura.memos] == [
        history.sakura_later_memo.id,
        history.sakura_memo.id,
    ]
    assert [memo.id for memo, _ in kaede.memos] == [history.kaede_memo.id]
    assert sakura.flags is None and kaede.flags is None


def test_a_number_nobody_called_from_has_an_empty_record(
    session: Session, company: Company
) -> None:
    record = caller_record(session=session, phone="+819000000000", company_id=None)

    assert (record.calls, record.memos, record.flags) == ([], [], [])
