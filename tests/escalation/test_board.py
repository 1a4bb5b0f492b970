"""The supervisor's board names the memos that reached no one, with what failed and why."""

from __future__ import annotations

import httpx
import respx
from sqlmodel import Session

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.dispatch.dispatcher import Dispatcher
from service.escalation.board import board
from service.escalation.schema import UnreachedMemo
from service.memos.models import Memo
from tests.dispatch.conftest import MESSAGES_URL, SMS_ONLY, take_memo, twilio_error
from tests.factories import make_company


async def relay(dispatcher: Dispatcher, passes: int = 3) -> None:
    for _ in range(passes):
        await dispatcher.run_once()


def unreached(session: Session) -> list[UnreachedMemo]:
    session.expire_all()
    found = board(session=session).unreached
    session.commit()
    return found


async def test_a_memo_every_delivery_of_which_failed_is_on_the_board_with_the_reasons(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
) -> None:
    # Two contacts with a phone and no email: nothing to fall back to.
    make_company(
        session,
        hours=None,
        routing=[{"notify": ["director", "deputy"], "channels": ["sms"]}],
        contacts=[
            {"key": "director", "name": "佐藤 院長", "phone": "+819012345678"},
            {"key": "deputy", "name": "鈴木 副院長", "phone": "+819087654321"},
        ],
    )
    twilio.post(MESSAGES_URL, data__contains={"To": "+819012345678"}).mock(
        return_value=httpx.Response(
            400, json=twilio_error(21610, "Attempt to send to unsubscribed recipient")
        )
    )
    twilio.post(MESSAGES_URL).mock(
        return_value=httpx.Response(400, json=twilio_error(21614, "'To' is not a mobile number"))
    )
    memo = take_memo(session, operator, urgency="urgent", subject="水漏れ")

    await relay(dispatcher)

    [item] = unreached(session)
    assert (item.memo_id, item.subject, item.urgency, item.client) == (
        memo.id,
        "水漏れ",
        "urgent",
        "sakura-dental",
    )
    reasons = {d.contact: (d.channel, d.to, d.error_code, d.error) for d in item.deliveries}
    assert reasons == {
        "director": (
            "sms",
            "+819012345678",
            "21610",
            "Attempt to send to unsubscribed recipient",
        ),
        "deputy": ("sms", "+819087654321", "21614", "'To' is not a mobile number"),
    }


async def test_a_memo_someone_received_or_that_was_acknowledged_is_not_on_it(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
) -> None:
    make_company(session, hours=None, routing=SMS_ONLY)
    twilio.post(MESSAGES_URL).mock(
        return_value=httpx.Response(400, json=twilio_error(21211, "Invalid 'To' Phone Number"))
    )
    fell_back = take_memo(session, operator)  # SMS refused, the email fallback went out

    await relay(dispatcher)

    assert unreached(session) == []
    session.expire_all()
    stored = session.get(Memo, fell_back.id)
    assert stored is not None and stored.status.value == "sent"
    session.commit()


async def test_an_acknowledged_memo_leaves_the_list(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
) -> None:
    make_company(
        session,
        hours=None,
        routing=SMS_ONLY,
        contacts=[{"key": "director", "name": "佐藤 院長", "phone": "+819012345678"}],
    )
    twilio.post(MESSAGES_URL).mock(
        return_value=httpx.Response(400, json=twilio_error(21614, "not a mobile number"))
    )
    memo = take_memo(session, operator)
    await relay(dispatcher)
    assert [item.memo_id for item in unreached(session)] == [memo.id]

    # An operator phoned the company and was told it was received.
    acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.operator)
    session.commit()

    assert unreached(session) == []
