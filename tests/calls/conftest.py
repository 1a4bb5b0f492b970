"""Fixtures for calls: a client company with a phone number and an app wired to Twilio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from service.app import create_app
from service.clock import ManualClock
from service.companies.models import Company
from service.settings import Settings
from tests.factories import make_company
from tests.twilio_signing import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE


@pytest.fixture
def sakura(session: Session) -> Company:
    return make_company(session, slug="sakura-dental", phone_numbers=["+815012345678"])


@pytest.fixture
def twilio_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "public_base_url": PUBLIC_BASE,
            "twilio_operator_targets": ["client:operators", "sip:desk@relay.example.jp"],
        }
    )


@pytest.fixture
def twilio_client(
    twilio_settings: Settings, engine: Engine, clock: ManualClock
) -> Iterator[TestClient]:
    with TestClient(create_app(settings=twilio_settings, engine=engine)) as test_client:
        yield test_client
