"""Databases, child processes and options shared by every benchmark."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.report import REPO_DIR, Report, record

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET_KEY = "bench-secret-key-0123456789abcdef"  # noqa: S105 - a local throwaway
PUBLIC_BASE = "https://relay.example.jp"
ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "bench-twilio-auth-token"  # noqa: S105 - signs only local requests
SMS_FROM = "+815000000000"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- databases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    """A scratch database the benchmark owns for its run."""

    backend: str  # "sqlite" or "postgresql"
    url: str
    description: str


def _libpq(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return "postgresql://" + rest if scheme.startswith("postgresql") else url


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def postgres_reachable(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextlib.contextmanager
def scratch_database(
    backend: str, *, name: str, workdir: Path, postgres_url: str
) -> Iterator[Database]:
    """A fresh database with Relay's tables: a SQLite file, or a new PostgreSQL database."""
    from service.db import make_engine
    from service.models import metadata

    if backend == "sqlite":
        path = workdir / f"{name}.db"
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        for file in files:
            file.unlink(missing_ok=True)
        database = Database(
            "sqlite", f"sqlite:///{path}", "SQLite (file on local disk, WAL, synchronous=NORMAL)"
        )
        engine = make_engine(database.url)
        metadata.create_all(engine)
        engine.dispose()
        try:
            yield database
        finally:
            for file in files:
                file.unlink(missing_ok=True)
        return

    import psycopg

    name = f"{name}_{os.getpid()}"  # concurrent runs on one server never collide
    admin = _libpq(postgres_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(postgres_url, name)
    version = postgres_version(url)
    database = Database("postgresql", url, f"PostgreSQL {version} on 127.0.0.1 (same machine)")
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    try:
        yield database
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- child processes -----------------------------------------------------------------------


def relay_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a Relay child: its own settings only, none of the caller's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RELAY_")}
    env.update(
        {
            "PYTHONPATH": str(REPO_DIR),
            "RELAY_DATABASE_URL": database_url,
            "RELAY_SECRET_KEY": SECRET_KEY,
            "RELAY_PUBLIC_BASE_URL": PUBLIC_BASE,
            "RELAY_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "RELAY_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "RELAY_TWILIO_SMS_FROM": SMS_FROM,
        }
    )
    env.update(extra)
    return env


LIVE: list[Child] = []


class Child:
    """A child process whose output goes to a log file (a full pipe would stall it)."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv, env=env, cwd=logdir, stdout=self._log, stderr=subprocess.STDOUT
        )
        LIVE.append(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = "\n".join(self.log_text().splitlines()[-40:])
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    def wait_for_log(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.log_text():
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no {needle!r} in its log within {timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self in LIVE:
            LIVE.remove(self)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def wait_http(base: str, child: Child, *, path: str = "/healthz", timeout: float = 30.0) -> None:
    """Wait until `base + path` answers 200, or the child dies."""
    deadline = time.monotonic() + timeout
    while True:
        child.check_alive()
        try:
            if httpx.get(base + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{child.name} did not answer {path} within {timeout}s")
        time.sleep(0.05)


@contextlib.contextmanager
def started(child: Child) -> Iterator[Child]:
    try:
        yield child
    finally:
        child.stop()


@contextlib.contextmanager
def relay_server(
    *, env: dict[str, str], logdir: Path, dispatcher: bool, name: str = "relay-serve"
) -> Iterator[str]:
    """`relay serve [--no-dispatcher]` on a free port; yields its base URL."""
    port = free_port()
    argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port)]
    if not dispatcher:
        argv.append("--no-dispatcher")
    with started(Child(name, argv, env=env, logdir=logdir)) as child:
        base = f"http://127.0.0.1:{port}"
        # The app answers only once its lifespan, dispatcher included, has started.
        wait_http(base, child)
        yield base


@contextlib.contextmanager
def uvicorn_app(
    target: str, *, env: dict[str, str], logdir: Path, name: str, access_log: bool = True
) -> Iterator[str]:
    """`uvicorn target` (e.g. `bench.baseline_app:app`) on a free port; yields its base URL."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--log-level", "info"]
    if not access_log:
        argv.append("--no-access-log")
    with started(Child(name, argv, env=env, logdir=logdir)) as child:
        base = f"http://127.0.0.1:{port}"
        wait_http(base, child)
        yield base


# --- options -------------------------------------------------------------------------------


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgresql", "both"],
        default="both",
        help="database(s) to run on; 'both' skips PostgreSQL with a warning if unreachable",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RELAY_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server URL; a scratch database is created and dropped next to it",
    )
    parser.add_argument("--record", action="store_true", help="add the results to RESULTS.md")
    parser.add_argument("--keep-logs", action="store_true", help="keep the child processes' logs")


def add_dispatcher_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--import-all-models",
        action="store_true",
        help="start each `relay dispatcher` with every table model imported first (a "
        "stand-in for a fix, to measure what the dispatcher would do without the bug)",
    )


def backends(options: argparse.Namespace) -> list[str]:
    """The backends asked for and reachable."""
    if options.backend == "sqlite":
        return ["sqlite"]
    reachable = postgres_reachable(options.postgres_url)
    if options.backend == "postgresql":
        if not reachable:
            raise SystemExit(f"bench: PostgreSQL is not reachable at {options.postgres_url}")
        return ["postgresql"]
    if not reachable:
        print(f"bench: WARNING: no PostgreSQL at {options.postgres_url}; SQLite only")
        return ["sqlite"]
    return ["sqlite", "postgresql"]


@contextlib.contextmanager
def workdir(*, keep: bool = False) -> Iterator[Path]:
    """A temporary directory for databases and logs."""
    path = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"logs kept in {path}")
        else:
            import shutil

            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def twilio_standin(*, logdir: Path, delay_ms: float) -> Iterator[str]:
    """The stand-in Twilio (bench/twilio_standin.py) on a free port; yields its base URL."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.twilio_standin", "--port", str(port)]
    argv += ["--delay-ms", str(delay_ms)]
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    with started(Child("twilio-standin", argv, env=env, logdir=logdir)) as child:
        base = f"http://127.0.0.1:{port}"
        wait_http(base, child)
        yield base


def arrivals(standin: str) -> list[dict[str, object]]:
    """What reached the stand-in so far."""
    response = httpx.get(f"{standin}/arrivals", timeout=30)
    response.raise_for_status()
    return list(response.json()["arrivals"])


@contextlib.contextmanager
def relay_dispatchers(
    *, env: dict[str, str], logdir: Path, count: int, import_all_models: bool = False
) -> Iterator[list[Child]]:
    """`count` `relay dispatcher` processes, spawned together so they start working together.

    With `import_all_models`, each imports `service.models` first (every table known to
    SQLAlchemy), as `relay serve` does through its routes."""
    argv = [sys.executable, "-m", "service.cli", "dispatcher"]
    if import_all_models:
        code = "import service.models; from service.cli import main; main()"
        argv = [sys.executable, "-c", code, "dispatcher"]
    with contextlib.ExitStack() as stack:
        children = [
            stack.enter_context(started(Child(f"dispatcher-{n}", argv, env=env, logdir=logdir)))
            for n in range(count)
        ]
        for child in children:
            child.wait_for_log("channel sms goes to")
        yield children


# --- where the CPU goes ------------------------------------------------------------------------


def _process_cpu(pid: int | str) -> float:
    """User and system CPU seconds a process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    at: float
    busy: float  # CPU seconds the machine's cores spent busy, all processes together
    total: float  # CPU seconds the cores had in all
    used: dict[str, float]  # CPU seconds per known process (or group)


class CpuSampler:
    """Where the CPU goes: each live child, this process, the PostgreSQL backends serving the
    benchmark's database, and (by difference) everything else on the machine."""

    def __init__(self, database: Database | None = None) -> None:
        self._connection = None
        self._database = None
        if database is not None and database.backend == "postgresql":
            import psycopg
            from sqlalchemy.engine import make_url

            self._database = make_url(database.url).database
            self._connection = psycopg.connect(_libpq(database.url), autocommit=True)
        self.samples: list[CpuSample] = []

    def sample(self) -> CpuSample:
        ticks = os.sysconf("SC_CLK_TCK")
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
        idle = values[3] + values[4]  # idle + iowait
        used = {child.name: _process_cpu(child.pid) for child in LIVE}
        used["bench (load, this process)"] = _process_cpu("self")
        if self._connection is not None:
            pids = self._connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self._database,)
            ).fetchall()
            used["postgres (this database)"] = sum(_process_cpu(pid) for (pid,) in pids)
            # Not CPU: connections opened so far, to see pool churn (a new backend each).
            row = self._connection.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = %s", (self._database,)
            ).fetchone()
            used["postgres sessions opened"] = float(row[0]) if row else 0.0
        sample = CpuSample(
            at=time.monotonic(),
            busy=(sum(values) - idle) / ticks,
            total=sum(values) / ticks,
            used=used,
        )
        self.samples.append(sample)
        return sample

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def between(self, start: float, end: float) -> tuple[float, dict[str, float]]:
        """Machine busy share (0–1) and CPU seconds per process between the samples nearest
        to `start` and `end`, with "other" for the rest of the machine's busy time."""
        if len(self.samples) < 2:
            return float("nan"), {}
        first = min(self.samples, key=lambda s: abs(s.at - start))
        last = min(self.samples, key=lambda s: abs(s.at - end))
        return cpu_diff(first, last)


def cpu_diff(first: CpuSample, last: CpuSample) -> tuple[float, dict[str, float]]:
    """Machine busy share (0–1) and CPU seconds per process from `first` to `last`, with
    "other processes" for the rest of the machine's busy time."""
    if last.total <= first.total:
        return float("nan"), {}
    share = (last.busy - first.busy) / (last.total - first.total)
    used = {
        name: max(0.0, seconds - first.used.get(name, 0.0)) for name, seconds in last.used.items()
    }
    cpu = sum(seconds for name, seconds in used.items() if name != "postgres sessions opened")
    used["other processes"] = max(0.0, (last.busy - first.busy) - cpu)
    return share, used


def finish(report: Report, options: argparse.Namespace) -> None:
    """Print the report, record it if asked, and exit 1 if the benchmark broke."""
    report.print()
    if options.record:
        record(report)
    if report.failures:
        sys.exit(1)
