"""Fixtures for the HTTP routes: an app wired to Twilio, and the company its calls come in on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.app import create_app
from service.clock import ManualClock
from service.settings import Settings
from tests.calls.conftest import sakura  # noqa: F401 - shared fixture
from tests.factories import make_twilio_settings


@pytest.fixture
def twilio_settings(settings: Settings) -> Settings:
    return make_twilio_settings(
        settings, twilio_operator_targets=["client:operators", "sip:desk@relay.example.jp"]
    )


@pytest.fixture
def twilio_client(
    twilio_settings: Settings, engine: Engine, clock: ManualClock
) -> Iterator[TestClient]:
    with TestClient(create_app(settings=twilio_settings, engine=engine)) as test_client:
        yield test_client
