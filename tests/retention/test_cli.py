"""`relay purge [--dry-run]` against a real SQLite file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from typer.testing import CliRunner

from service.auth.models import User
from service.cli import app
from service.clock import ManualClock
from service.db import make_engine
from service.memos.models import Memo
from service.models import metadata
from service.settings import get_settings
from tests.factories import make_company, make_user
from tests.retention.test_purge import RETENTION, closed_memo

runner = CliRunner()


@pytest.fixture
def cli_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A fresh SQLite database that the `relay` command is pointed at."""
    for name in list(os.environ):
        if name.startswith("RELAY_"):
            monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    monkeypatch.setenv("RELAY_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("getpass.getuser", lambda: "sato")
    engine = make_engine(url)
    metadata.create_all(engine)
    get_settings.cache_clear()
    yield engine
    get_settings.cache_clear()
    engine.dispose()


def memos(session: Session) -> int:
    found = int(session.exec(select(func.count()).select_from(Memo)).one())
    session.commit()
    return found


def test_a_dry_run_prints_counts_per_company_and_the_purge_deletes(
    cli_engine: Engine, clock: ManualClock
) -> None:
    with Session(cli_engine, expire_on_commit=False) as session:
        make_company(session, retention=RETENTION)
        make_company(session, slug="keeps-all")
        operator: User = make_user(session)
        closed_memo(session, operator)
        closed_memo(session, operator)
        clock.advance(timedelta(days=400))

        dry = runner.invoke(app, ["purge", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        lines = dry.output.splitlines()
        assert lines[0].split() == ["company", "memos", "recordings", "calls", "caller_notes"]
        assert lines[1].split() == ["sakura-dental", "2", "0", "0", "0"]
        assert "nothing deleted" in lines[-1]
        assert memos(session) == 2

        done = runner.invoke(app, ["purge"])
        assert done.exit_code == 0, done.output
        assert done.output.splitlines()[1].split() == ["sakura-dental", "2", "0", "0", "0"]
        assert "purged 1 companies: 2 memos" in done.output
        assert memos(session) == 0
