"""Line breaks and control characters in what a memo's subject is made of never stop its email.

Python's email library refuses a header value that `str.splitlines()` would split: CR and LF,
and also \\x1c-\\x1e, \\x85, U+2028 and U+2029. Each of these, typed by a caller or written in an
override, is folded into a space before the subject becomes a header.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from service.auth.models import User
from service.clock import ManualClock
from service.companies.config import CompanyConfig
from service.companies.models import Company
from service.companies.service import company_config
from service.companies.validation import CompanyConfigError, validate_document
from service.dispatch import delivery_queue
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import DeliveryStatus
from service.intake.service import create_memo
from service.memos.models import Memo
from service.memos.schema import MemoIn
from service.providers.registry import build_providers
from service.settings import Settings
from tests.factories import company_document
from tests.providers.smtp_server import RecordingHandler
from tests.providers.smtp_server import smtp_server as running_smtp_server

# Accepted by the rule of the time it was saved; the rule now refuses it (see below).
STORED_SUBJECT = '{{ subject }}{{ "\\u2028" }}({{ caller.name }})'


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, RecordingHandler]]:
    handler = RecordingHandler()
    with running_smtp_server(handler) as controller:
        yield controller, handler


@pytest.fixture
def dispatcher(
    engine: Engine,
    settings: Settings,
    clock: ManualClock,
    smtp_server: tuple[Controller, RecordingHandler],
) -> Dispatcher:
    controller, _ = smtp_server
    smtp_settings = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": controller.port,
            "smtp_tls": "none",
            "mail_from": "Relay <relay@relay.example.jp>",
        }
    )
    return Dispatcher(
        engine=engine,
        settings=smtp_settings,
        providers=build_providers(settings=smtp_settings, engine=engine),
        policy=delivery_queue.QueuePolicy(per_destination_per_minute=10),
        name="test-dispatcher",
    )


def store_subject_override(session: Session, company: Company, clock: ManualClock) -> None:
    """Write an override into the stored company as an older rule let it be saved."""
    company.config = {**company.config, "templates": {"email_subject": STORED_SUBJECT}}
    company.updated_at = clock.now() + timedelta(seconds=1)
    session.add(company)
    session.commit()


def test_saving_refuses_the_override_but_a_stored_one_is_still_read() -> None:
    document = company_document(templates={"email_subject": STORED_SUBJECT})

    with pytest.raises(CompanyConfigError, match=r"has a line break \(U\+2028\)"):
        validate_document(document)
    assert CompanyConfig.model_validate(document).templates.email_subject == STORED_SUBJECT


async def test_emails_whose_subject_had_breaks_are_accepted_by_the_smtp_server(
    session: Session,
    clock: ManualClock,
    dispatcher: Dispatcher,
    smtp_server: tuple[Controller, RecordingHandler],
    operator: User,
    company: Company,
) -> None:
    _, handler = smtp_server
    store_subject_override(session, company, clock)
    assert company_config(company).templates.email_subject == STORED_SUBJECT
    form = {
        "client": "sakura-dental",
        "category": "complaint",
        "caller": {"name": "山田\x1c\x1d\x1e太郎", "company": "山田\u2028商事"},
        "subject": "予約時間の\x1e行き違い",
    }
    taken = create_memo(session=session, data=MemoIn.model_validate(form), operator=operator)
    # A memo stored before intake folded such characters.
    older = create_memo(
        session=session,
        data=MemoIn.model_validate({**form, "subject": "再診の件"}),
        operator=operator,
    )
    session.execute(
        update(Memo)
        .where(col(Memo.id) == older.memo.id)
        .values(caller_name="佐藤\x1c\x1d\x1e花子", subject="再診\u2029の件")
    )
    session.commit()
    assert (taken.memo.caller_name, taken.memo.caller_company) == ("山田 太郎", "山田 商事")

    await dispatcher.run_once()

    rows = [
        *delivery_queue.deliveries_of(session=session, memo_id=taken.memo.id),
        *delivery_queue.deliveries_of(session=session, memo_id=older.memo.id),
    ]
    session.commit()
    assert [row.status for row in rows] == [DeliveryStatus.sent] * 4
    subjects = sorted(str(message["Subject"]) for message in handler.messages())
    assert subjects == [
        "予約時間の 行き違い (山田 太郎)",
        "予約時間の 行き違い (山田 太郎)",
        "再診 の件 (佐藤 花子)",
        "再診 の件 (佐藤 花子)",
    ]
