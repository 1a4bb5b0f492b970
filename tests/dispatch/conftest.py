"""Fixtures for the dispatcher: memos, and providers chosen by settings (people: tests/people.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import respx
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from service.auth.models import User
from service.clock import ManualClock
from service.dispatch import delivery_queue
from service.dispatch.delivery_queue import QueuePolicy
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import Delivery
from service.intake.service import create_memo
from service.memos.models import Memo, MemoStatus
from service.memos.schema import MemoIn
from service.providers.registry import build_providers
from service.settings import Settings
from tests.factories import make_company
from tests.twilio_signing import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE

TWILIO_API = "https://twilio.test"
MESSAGES_URL = f"{TWILIO_API}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
SMS_ONLY = [{"notify": ["director"], "channels": ["sms"]}]


@pytest.fixture
def relay_settings(settings: Settings) -> Settings:
    """Twilio for SMS (answered by respx), the dev outbox for email."""
    return settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_sms_from": "+815000000000",
            "twilio_api_base": TWILIO_API,
            "public_base_url": PUBLIC_BASE,
        }
    )


@pytest.fixture
def twilio() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def dispatcher(
    engine: Engine, relay_settings: Settings, twilio: respx.MockRouter, clock: ManualClock
) -> Dispatcher:
    providers = build_providers(settings=relay_settings, engine=engine)
    return Dispatcher(
        engine=engine,
        settings=relay_settings,
        providers=providers,
        policy=QueuePolicy(per_destination_per_minute=10),
        name="test-dispatcher",
    )


def take_memo(session: Session, operator: User, **overrides: Any) -> Memo:
    """A committed memo, as if an operator had submitted the form."""
    data: dict[str, Any] = {
        "client": "sakura-dental",
        "category": "complaint",
        "urgency": "normal",
        "caller": {"name": "山田 太郎", "phone": "090-1111-2222"},
        "subject": "予約時間の行き違い",
        "body": "本日15時の予約が入っていなかった。至急折り返しを希望。",
    }
    data.update(overrides)
    taken = create_memo(session=session, data=MemoIn.model_validate(data), operator=operator)
    session.commit()
    return taken.memo


def take_sms_memo(session: Session, operator: User) -> Memo:
    """A committed memo of a new company that relays every memo to its director by SMS alone."""
    make_company(session, routing=SMS_ONLY)
    return take_memo(session, operator)


def deliveries(session: Session, memo: Memo) -> list[Delivery]:
    """The memo's deliveries, routing ones first; the read ends its transaction (SQLite locks)."""
    session.expire_all()
    rows = delivery_queue.deliveries_of(session=session, memo_id=memo.id)
    session.commit()
    return sorted(rows, key=lambda d: (d.reason.value != "routing", d.created_at))


def memo_status(session: Session, memo: Memo) -> MemoStatus:
    """The memo's status as stored now; the read ends its transaction."""
    session.expire_all()
    found = session.get(Memo, memo.id)
    session.commit()
    assert found is not None
    return found.status


def twilio_created(sid: str = "SM" + "a" * 32) -> dict[str, Any]:
    return {"sid": sid, "status": "queued", "to": "+819012345678", "body": "…"}


def twilio_listed(*messages: dict[str, Any]) -> dict[str, Any]:
    """Twilio's one-page list of messages."""
    return {"messages": list(messages), "next_page_uri": None}


def twilio_record(delivery: Delivery, *, sid: str, status: str) -> dict[str, Any]:
    """The SMS of `delivery` as Twilio lists it: to its number, with its very words."""
    return {"sid": sid, "to": delivery.to, "body": delivery.text, "status": status}


def twilio_error(code: int, message: str, status: int = 400) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": "https://www.twilio.com/docs/errors",
        "status": status,
    }
