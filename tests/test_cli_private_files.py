"""What Relay keeps on disk (var/, the SQLite files, the generated secret key) is private from
its creation, whatever the umask of the shell that started it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from service.db import make_engine
from service.paths import var_dir
from service.settings import Settings
from tests.live_server import live_server

REPO = Path(__file__).resolve().parents[1]
SHELL_UMASK = 0o022  # a common default: files 0644, folders 0755


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def shell_umask() -> Iterator[None]:
    """This process under a permissive umask, as a login shell usually is."""
    previous = os.umask(SHELL_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def relay_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RELAY_") or key == "RELAY_TEST_DATABASE_URL"
    }


def test_the_relay_command_makes_var_and_the_database_private(tmp_path: Path) -> None:
    # `relay db upgrade` on the default database, started from a shell with umask 022.
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "db", "upgrade"],
        cwd=tmp_path,
        env=relay_env(),
        umask=SHELL_UMASK,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()

    assert mode(tmp_path / "var") == 0o700
    assert mode(tmp_path / "var" / "relay.db") == 0o600


def test_a_running_server_keeps_every_file_it_made_private(tmp_path: Path) -> None:
    env = {"RELAY_DATABASE_URL": "sqlite:///var/relay.db"}  # no secret key: one is generated
    migrated = subprocess.run(
        [sys.executable, "-m", "service.cli", "db", "upgrade"],
        cwd=tmp_path,
        env={**relay_env(), **env},
        umask=SHELL_UMASK,
        capture_output=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr.decode()
    for leftover in ("relay.db-wal", "relay.db-shm"):
        (tmp_path / "var" / leftover).unlink(missing_ok=True)

    old_umask = os.umask(SHELL_UMASK)  # inherited by the server
    try:
        with live_server(env=env, cwd=tmp_path) as base_url:
            # The login form signs a CSRF cookie (the secret key) and the dispatcher writes.
            assert httpx.get(f"{base_url}/login", timeout=5).status_code == 200
            var = tmp_path / "var"
            made = {path.name: mode(path) for path in var.iterdir()}
    finally:
        os.umask(old_umask)

    assert {"relay.db", "relay.db-wal", "relay.db-shm", "secret_key"} <= made.keys()
    assert made == dict.fromkeys(made, 0o600), made
    assert mode(tmp_path / "var") == 0o700


def test_the_relay_command_sets_a_private_umask_before_anything_else() -> None:
    probe = (
        "import os, sys; import service.cli as cli;"
        "cli.app = lambda **kw: sys.stdout.write(oct(os.umask(0)));"
        "cli.main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=relay_env(),
        umask=SHELL_UMASK,
        capture_output=True,
        timeout=60,
    )
    assert done.stdout.decode() == "0o77", done.stderr.decode()


@pytest.mark.usefixtures("shell_umask")
def test_var_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert mode(var_dir()) == 0o700


@pytest.mark.usefixtures("shell_umask")
def test_a_new_sqlite_database_and_its_journal_are_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "relay.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE probe (id INTEGER)"))
            connection.execute(text("INSERT INTO probe VALUES (1)"))
        made = {file.name: mode(file) for file in path.parent.iterdir()}
    finally:
        engine.dispose()

    assert {"relay.db", "relay.db-wal", "relay.db-shm"} <= made.keys()
    assert made == dict.fromkeys(made, 0o600), made
    assert mode(path.parent) == 0o700


@pytest.mark.usefixtures("shell_umask")
def test_the_generated_secret_key_is_born_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("RELAY_"):
            monkeypatch.delenv(name)

    # Never written open and narrowed afterwards: there is no moment to catch it open.
    def no_chmod(*args: object, **kwargs: object) -> None:
        raise AssertionError("the secret key's mode was changed after it was written")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)

    secret = Settings(_env_file=None).secret()

    path = tmp_path / "var" / "secret_key"
    assert mode(path) == 0o600
    assert path.read_text() == secret
    assert [file.name for file in path.parent.iterdir()] == ["secret_key"]
    assert Settings(_env_file=None).secret() == secret
