"""GET /api/v1/memos/{id}/trail: deliveries with the provider's answers, escalation steps fired,
the acknowledgement and callbacks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from service import clock as clock_module
from service.acks.chat import acknowledge_from_chat, target_of_token
from service.acks.service import AckVia
from service.audit.service import Action, Actor, record
from service.auth.models import Role, User
from service.channels import Channel
from service.clock import ManualClock
from service.companies.models import Company
from service.dispatch.delivery_queue import QueuePolicy
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import Delivery, DeliveryStatus
from service.escalation.service import fire_due
from service.memos.ack_links import make_ack_token
from service.memos.models import Memo
from service.providers.registry import build_providers
from service.settings import Settings
from tests.chat import destination, make_chat_company
from tests.dispatch.conftest import take_memo
from tests.factories import make_company, make_token, make_user
from tests.refusals import refused


def answered(session: Session, memo: Memo, **columns: object) -> Delivery:
    """The memo's first delivery, as a provider left it (the columns given)."""
    delivery = session.exec(select(Delivery).where(Delivery.memo_id == memo.id)).first()
    assert delivery is not None
    for key, value in columns.items():
        setattr(delivery, key, value)
    session.add(delivery)
    session.commit()
    return delivery


@pytest.fixture
def escalated(session: Session, operator: User, company: Company, clock: ManualClock) -> Memo:
    """A complaint whose email was tried twice and refused, then both escalation steps fired."""
    memo = take_memo(session, operator)
    clock.advance(timedelta(minutes=1))
    answered(
        session,
        memo,
        status=DeliveryStatus.failed,
        attempts=2,
        error="550 mailbox unavailable",
        error_code="550",
        provider_id="<relay-1@example>",
        attempted_at=clock_module.now(),
        updated_at=clock_module.now(),
    )
    clock.advance(timedelta(hours=1))
    while fire_due(session=session, worker="worker-1"):
        session.commit()
    session.commit()
    return memo


def test_the_trail_shows_attempts_steps_and_callbacks(
    client: TestClient, escalated: Memo, operator_headers: dict[str, str]
) -> None:
    response = client.get(f"/api/v1/memos/{escalated.id}/trail", headers=operator_headers)

    assert response.status_code == 200, response.text
    trail = response.json()
    assert trail["memo_id"] == escalated.id and trail["client"] == "sakura-dental"
    failed = trail["deliveries"][0]
    assert (failed["status"], failed["attempts"], failed["error_code"], failed["provider_id"]) == (
        "failed",
        2,
        "550",
        "<relay-1@example>",
    )
    assert failed["error"] == "550 mailbox unavailable"
    assert failed["attempted_at"] is not None and failed["contact_name"] == "佐藤 院長"
    # Step 1 texts the director; step 2 has an operator call the company.
    first, second = trail["escalations"]
    assert (first["step"], first["action"], first["fired_by"]) == (1, "notify", "worker-1")
    assert [(r["contact"], r["channel"], r["to_display"]) for r in first["recipients"]] == [
        ("director", "sms", "090-1234-5678")
    ]
    assert (second["step"], second["action"]) == (2, "operator_callback")
    assert second["recipients"] == []
    [callback] = trail["callbacks"]
    assert second["callback_id"] == callback["id"]
    assert (callback["status"], callback["contact"], callback["phone_display"]) == (
        "open",
        "director",
        "090-1234-5678",
    )
    assert trail["acknowledgement"] is None
    escalation_deliveries = [d for d in trail["deliveries"] if d["reason"] == "escalation"]
    assert [d["id"] for d in escalation_deliveries] == [first["recipients"][0]["delivery_id"]]


def test_a_callback_taken_and_confirmed_shows_who_took_it_and_the_acknowledgement(
    client: TestClient,
    session: Session,
    escalated: Memo,
    operator: User,
    operator_headers: dict[str, str],
) -> None:
    callbacks = client.get(f"/api/v1/memos/{escalated.id}/trail", headers=operator_headers)
    task_id = callbacks.json()["callbacks"][0]["id"]
    assert client.post(f"/api/v1/tasks/{task_id}/take", headers=operator_headers).status_code == 200
    outcome = {"outcome": "acknowledged", "confirmed_by": "受付 山本", "note": "院長に伝達済み"}
    recorded = client.post(
        f"/api/v1/tasks/{task_id}/outcome", json=outcome, headers=operator_headers
    )
    assert recorded.status_code == 200, recorded.text
    trail = client.get(f"/api/v1/memos/{escalated.id}/trail", headers=operator_headers).json()

    [callback] = trail["callbacks"]
    assert (callback["status"], callback["outcome"], callback["attempts"]) == (
        "done",
        "acknowledged",
        1,
    )
    assert callback["taken_by"] == operator.display_name
    assert callback["note"] == "院長に伝達済み"
    ack = trail["acknowledgement"]
    assert (ack["by"], ack["by_name"], ack["via"], ack["recorded_by"]) == (
        "受付 山本",
        "受付 山本",
        "operator",
        operator.display_name,
    )


def test_a_contacts_key_is_shown_as_their_name(
    client: TestClient, session: Session, operator: User, company: Company
) -> None:
    memo = take_memo(session, operator)
    memo.acknowledged_by = "director"
    memo.acknowledged_via = "link"
    memo.acknowledged_at = clock_module.now()
    session.add(memo)
    session.commit()
    headers = make_token(session, make_user(session, email="a@relay.example", role=Role.admin))

    ack = client.get(f"/api/v1/memos/{memo.id}/trail", headers=headers).json()["acknowledgement"]

    assert (ack["by"], ack["by_name"], ack["via"], ack["recorded_by"]) == (
        "director",
        "佐藤 院長",
        "link",
        None,
    )


def test_another_companys_trail_is_not_found_for_a_client_user(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    client_headers: dict[str, str],
) -> None:
    mine = take_memo(session, operator)
    make_company(session, slug="aoba-property", phone_numbers=["+81312345678"])
    theirs = take_memo(session, operator, client="aoba-property")

    assert client.get(f"/api/v1/memos/{mine.id}/trail", headers=client_headers).status_code == 200
    refused(client.get(f"/api/v1/memos/{theirs.id}/trail", headers=client_headers), status=404)
    refused(client.get("/api/v1/memos/nope/trail", headers=client_headers), status=404)
    assert client.get(f"/api/v1/memos/{mine.id}/trail").status_code == 401


def test_an_older_acknowledgement_finds_who_recorded_it_in_the_audit_trail(
    client: TestClient, session: Session, operator: User, company: Company
) -> None:
    memo = take_memo(session, operator)
    memo.acknowledged_by = "受付 山本"
    memo.acknowledged_via = "operator"
    memo.acknowledged_at = clock_module.now()
    session.add(memo)
    record(
        session=session,
        actor=Actor(name="suzuki@relay.example"),
        action=Action.memo_acknowledged_for,
        target=f"memo:{memo.id}",
        company_id=memo.company_id,
    )
    session.commit()
    headers = make_token(session, make_user(session, email="a@relay.example", role=Role.admin))

    ack = client.get(f"/api/v1/memos/{memo.id}/trail", headers=headers).json()["acknowledgement"]

    assert ack["recorded_by"] == "suzuki@relay.example"


async def _chat_memo_acknowledged_on_slack(
    session: Session, engine: Engine, settings: Settings, clock: ManualClock, operator: User
) -> Memo:
    """A memo posted to Slack, Chatwork and LINE (the dev outbox), then acknowledged by
    Slack's button, and the updates sent."""
    make_chat_company(
        session,
        "slack",
        "line",
        extra=[destination("chatwork", name="サポート室")],
    )
    memo = take_memo(session, operator)
    dispatcher = Dispatcher(
        engine=engine,
        settings=settings,
        providers=build_providers(settings=settings, engine=engine),
        policy=QueuePolicy(per_destination_per_minute=10),
        name="test-trail-dispatcher",
    )
    await dispatcher.run_once()
    clock.advance(timedelta(minutes=3))
    target = target_of_token(
        session=session,
        settings=settings,
        token=make_ack_token(secret=settings.secret(), memo_id=memo.id, contact_key="ops"),
        kind=Channel.slack,
    )
    assert target is not None
    acknowledge_from_chat(session=session, target=target, by="佐藤", via=AckVia.slack)
    session.commit()
    await dispatcher.run_once()
    return memo


async def test_chat_deliveries_their_updates_and_the_path_that_won(
    client: TestClient,
    session: Session,
    engine: Engine,
    settings: Settings,
    clock: ManualClock,
    operator: User,
    operator_headers: dict[str, str],
) -> None:
    memo = await _chat_memo_acknowledged_on_slack(session, engine, settings, clock, operator)

    trail = client.get(f"/api/v1/memos/{memo.id}/trail", headers=operator_headers).json()

    rows = {(d["channel"], d["reason"]): d for d in trail["deliveries"]}
    assert set(rows) == {
        ("email", "routing"),
        ("slack", "routing"),
        ("chatwork", "routing"),
        ("line", "routing"),
        # LINE cannot edit a posted message; Slack and Chatwork are updated.
        ("slack", "acknowledged"),
        ("chatwork", "acknowledged"),
    }
    room = rows[("chatwork", "routing")]
    assert (room["contact"], room["contact_name"], room["platform"]) == (
        "support-room",
        "サポート室",
        "chatwork",
    )
    assert room["to_display"] == "123456789"  # a room id, not a phone number
    assert rows[("slack", "routing")]["contact_name"] == "ops"
    assert rows[("email", "routing")]["platform"] is None
    for kind in ("slack", "chatwork"):
        original, update = rows[(kind, "routing")], rows[(kind, "acknowledged")]
        assert original["provider_id"] is not None
        assert update["replaces"] == original["provider_id"]
        assert update["update_of"] == original["id"]
        assert update["status"] == "sent"
        assert original["replaces"] is None and original["update_of"] is None
    acknowledgement = trail["acknowledgement"]
    assert (acknowledgement["via"], acknowledgement["by"]) == ("slack", "佐藤")
    assert acknowledgement["recorded_by"] is None
