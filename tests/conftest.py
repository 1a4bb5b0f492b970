"""Fixtures shared by the whole suite.

Every test that takes `engine` runs once on SQLite and, when RELAY_TEST_DATABASE_URL is set,
once more on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, text
from sqlmodel import Session

from service.app import create_app
from service.clock import ManualClock, use_clock
from service.db import make_engine
from service.models import metadata
from service.settings import Settings, get_settings

POSTGRES_URL = os.environ.get("RELAY_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]

# The people every test can act as (operator, admin, client user) and how they sign in.
pytest_plugins = ["tests.people"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API must not share a loop with asyncio tests."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    """Argon2 at its lowest cost: the suite creates thousands of users, and the production cost
    (about 0.15 s a hash here) would be a quarter of its running time. Hashes still verify
    as Argon2, and hashes made at the production cost still verify."""
    from service.auth import service as auth_service

    production = auth_service._hasher
    auth_service._hasher = PasswordHash(
        (Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)
    )
    yield
    auth_service._hasher = production


@pytest.fixture(scope="session")
def _postgres_engine() -> Iterator[Engine | None]:
    if not POSTGRES_URL:
        yield None
        return
    engine = make_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _truncate(engine: Engine) -> None:
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database engine under test: "sqlite" or "postgresql"."""
    name: str = request.param
    marker = request.node.get_closest_marker("postgres_only")
    if marker and name != "postgresql":
        pytest.skip("needs PostgreSQL")
    return name


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> str:
    if backend == "postgresql":
        assert POSTGRES_URL
        return POSTGRES_URL
    return f"sqlite:///{tmp_path / 'relay.db'}"


@pytest.fixture
def engine(backend: str, database_url: str, _postgres_engine: Engine | None) -> Iterator[Engine]:
    """A database with every table, empty."""
    if backend == "postgresql":
        assert _postgres_engine is not None
        _truncate(_postgres_engine)
        yield _postgres_engine
        return
    engine = make_engine(database_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session for arranging and checking data; commit what the app must see.

    On SQLite every transaction takes the write lock (BEGIN IMMEDIATE), reads included: end
    the session's transaction (commit) before the app or a dispatcher has to write.
    """
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No RELAY_* variable of the developer's, no `.env`, and a fresh working directory."""
    for name in list(os.environ):
        if name.startswith("RELAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """The one clock, under the test's control."""
    with use_clock(ManualClock()) as manual:
        assert isinstance(manual, ManualClock)
        yield manual


@pytest.fixture
def settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of a local install, isolated from the developer's environment and `.env`."""
    for name in list(os.environ):
        if name.startswith("RELAY_") and name != "RELAY_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key-0123456789",
        public_base_url="http://testserver",
        # Chat platforms are reached only by the tests that point them at a stand-in.
        chat_delivery="outbox",
        _env_file=None,
    )


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: ManualClock) -> FastAPI:
    return create_app(settings=settings, engine=engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
