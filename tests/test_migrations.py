"""Migrations: from an empty database to exactly the models, and back down and up again."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, insert, inspect, select, text
from sqlalchemy.engine import make_url

from service import migrate
from service.db import make_engine, new_id
from service.memos.search_index import include_name
from service.models import metadata

POSTGRES_URL = os.environ.get("RELAY_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database that has never seen a table."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    if not POSTGRES_URL:
        pytest.skip("RELAY_TEST_DATABASE_URL is not set")
    name = f"relay_migrations_{new_id()[:12]}"
    server = create_engine(
        make_url(POSTGRES_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(POSTGRES_URL).set(database=name).render_as_string(False))
    try:
        yield engine
    finally:
        engine.dispose()
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def head_revision() -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert head is not None, "there is no migration under service/migrations/versions"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_differences(engine: Engine) -> list[object]:
    """What autogenerate would still write: nothing, when the migrations match the models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_name}
        )
        return list(compare_metadata(context, metadata))


def downgrade(engine: Engine, revision: str) -> None:
    config = migrate.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_there_is_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert len(heads) == 1, f"migration heads: {heads}"


def test_upgrade_from_empty_matches_the_models(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    migrate.upgrade(engine=empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert schema_differences(empty_engine) == []
    tables = set(inspect(empty_engine).get_table_names())
    assert {table.name for table in metadata.sorted_tables} <= tables


def test_downgrade_to_base_and_upgrade_again(empty_engine: Engine) -> None:
    migrate.upgrade(engine=empty_engine)
    downgrade(empty_engine, "base")
    assert current_revision(empty_engine) is None
    leftover = set(inspect(empty_engine).get_table_names()) - {"alembic_version"}
    assert leftover == set()

    migrate.upgrade(engine=empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert schema_differences(empty_engine) == []


def test_upgrade_twice_is_harmless(empty_engine: Engine) -> None:
    migrate.upgrade(engine=empty_engine)
    migrate.upgrade(engine=empty_engine)
    assert current_revision(empty_engine) == head_revision()


def test_open_memos_sharing_a_code_are_recoded_before_codes_become_unique(
    empty_engine: Engine,
) -> None:
    migrate.upgrade(engine=empty_engine, revision="0002")
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    companies, users, memos = (metadata.tables[name] for name in ("companies", "users", "memos"))

    def memo(memo_id: str, company_id: str, status: str, minutes: int) -> dict[str, object]:
        at = moment + timedelta(minutes=minutes)
        return {
            "id": memo_id,
            "company_id": company_id,
            "company_version": 1,
            "operator_id": "op",
            "category": "complaint",
            "urgency": "normal",
            "subject": "件名",
            "body": "本文",
            "fields": {},
            "skipped": [],
            "status": status,
            "ack_code": "4821",
            "created_at": at,
            "updated_at": at,
        }

    with empty_engine.begin() as connection:
        for company_id in ("sakura", "aoba"):
            connection.execute(
                insert(companies).values(
                    id=company_id, slug=company_id, name=company_id, config={}, updated_at=moment
                )
            )
        connection.execute(
            insert(users).values(
                id="op", email="op@relay.example", role="operator", created_at=moment
            )
        )
        connection.execute(
            insert(memos),
            [
                memo("newer", "sakura", "sent", 2),
                memo("older", "sakura", "relaying", 1),
                memo("done", "sakura", "acknowledged", 0),
                memo("elsewhere", "aoba", "sent", 3),
            ],
        )

    migrate.upgrade(engine=empty_engine)

    with empty_engine.connect() as connection:
        rows = connection.execute(select(memos.c.id, memos.c.ack_code)).all()
    codes = {memo_id: code for memo_id, code in rows}
    assert codes["older"] == codes["done"] == codes["elsewhere"] == "4821"
    assert len(codes["newer"]) == 8 and codes["newer"].isdigit()


def test_users_keep_their_rows_when_they_gain_a_language_and_lose_it_again(
    empty_engine: Engine,
) -> None:
    migrate.upgrade(engine=empty_engine, revision="0005")
    users = metadata.tables["users"]
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, email, display_name, role, active, created_at)"
                " VALUES ('op', 'op@relay.example', 'op', 'operator', :active, :at)"
            ),
            {"active": True, "at": moment},
        )

    migrate.upgrade(engine=empty_engine, revision="0006")

    with empty_engine.begin() as connection:
        assert connection.execute(select(users.c.email, users.c.locale)).all() == [
            ("op@relay.example", None)
        ]
        connection.execute(users.update().values(locale="en"))
    downgrade(empty_engine, "0005")
    columns = {column["name"] for column in inspect(empty_engine).get_columns("users")}
    assert "locale" not in columns and "email" in columns
    with empty_engine.connect() as connection:
        assert connection.execute(text("SELECT email FROM users")).scalars().all() == [
            "op@relay.example"
        ]
