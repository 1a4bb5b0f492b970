"""Fixtures for the chat platform flows: settings with chat delivered live, a dispatcher sending
through the providers those settings build, and Relay's HTTP side where platforms post back.

A flow module overrides `live_settings` to point its platform at a local stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from service.app import create_app
from service.auth.models import User
from service.clock import ManualClock
from service.dispatch.delivery_queue import QueuePolicy
from service.dispatch.dispatcher import Dispatcher
from service.providers.registry import build_providers, close_providers
from service.settings import Settings
from tests.providers.chat.support import ChatFlow


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    """Chat delivered live rather than kept in the dev outbox."""
    return settings.model_copy(update={"chat_delivery": "live"})


@pytest.fixture
async def dispatcher(
    engine: Engine, live_settings: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[Dispatcher]:
    """A dispatcher sending through the providers `live_settings` build, named for its module."""
    providers = build_providers(settings=live_settings, engine=engine)
    module = request.module.__name__.rsplit(".", 1)[-1]
    yield Dispatcher(
        engine=engine,
        settings=live_settings,
        providers=providers,
        policy=QueuePolicy(per_destination_per_minute=10),
        name=module.removeprefix("test_").replace("_", "-"),
    )
    await close_providers(providers)


@pytest.fixture
def relay(live_settings: Settings, engine: Engine, clock: ManualClock) -> Iterator[TestClient]:
    """Relay's HTTP side, where the platform posts its webhooks and button presses."""
    with TestClient(create_app(settings=live_settings, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def chat_flow(
    session: Session, operator: User, dispatcher: Dispatcher, live_settings: Settings
) -> ChatFlow:
    """The session, operator, dispatcher and settings a shared flow scenario runs with."""
    return ChatFlow(
        session=session, operator=operator, dispatcher=dispatcher, settings=live_settings
    )
