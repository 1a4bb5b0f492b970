"""Acknowledgement links already sent, across a change of RELAY_SECRET_KEY."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.auth.models import User
from service.companies.models import Company
from service.memos.ack_links import make_ack_token
from service.memos.models import Memo
from service.settings import Settings
from tests.dispatch.conftest import take_memo
from tests.factories import make_rotated_settings


def _acknowledged(session: Session, memo: Memo) -> bool:
    found = session.get(Memo, memo.id, populate_existing=True)
    assert found is not None
    session.commit()
    return found.acknowledged_at is not None


def test_a_link_sent_before_the_change_acknowledges_while_the_old_key_is_listed(
    app: FastAPI,
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    settings: Settings,
) -> None:
    memo = take_memo(session, operator)
    old_link = make_ack_token(secret=settings.secret(), memo_id=memo.id, contact_key="director")

    app.state.settings = make_rotated_settings(settings, previous=[settings.secret()])

    assert client.get(f"/a/{old_link}").status_code == 200
    assert client.post(f"/a/{old_link}").status_code == 200
    assert _acknowledged(session, memo)


def test_a_link_under_a_key_no_longer_listed_is_refused_as_a_forged_one(
    app: FastAPI,
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    settings: Settings,
) -> None:
    memo = take_memo(session, operator)
    old_link = make_ack_token(secret=settings.secret(), memo_id=memo.id, contact_key="director")

    app.state.settings = make_rotated_settings(settings, previous=[])

    assert client.get(f"/a/{old_link}").status_code == 404
    assert client.post(f"/a/{old_link}").status_code == 404
    assert not _acknowledged(session, memo)
