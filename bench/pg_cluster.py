"""A private, throwaway PostgreSQL cluster a benchmark may restart and crash at will.

`initdb` into a temporary directory, listening on 127.0.0.1 only at a free port with its
socket in that directory, trust authentication. Run as the `postgres` OS user when this
process is root (PostgreSQL refuses to run as root). The server binaries are found the way
`.ci/run` finds the installed version: the newest under /etc/postgresql, then under
/usr/lib/postgresql.

Stopped and removed when the `private_cluster` block ends, and by an `atexit` hook if the
process leaves some other way (SIGTERM is turned into a normal exit for that).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from bench.harness import free_port

ETC = Path("/etc/postgresql")
LIB = Path("/usr/lib/postgresql")


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in name.split("."))


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin directory with `initdb`, or None."""
    candidates: list[str] = []
    for root in (ETC, LIB):
        with contextlib.suppress(OSError):
            candidates += sorted((p.name for p in root.iterdir()), key=_version_key, reverse=True)
    for version in candidates:
        bindir = LIB / version / "bin"
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def unavailable() -> str | None:
    """Why a private cluster cannot be run on this machine, or None if it can."""
    if find_bindir() is None:
        return f"PostgreSQL's server binaries (initdb, pg_ctl) are not installed under {LIB}"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no `postgres` user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root, and there is no `runuser` to run PostgreSQL as `postgres`"
    return None


def _as_owner() -> list[str]:
    """The command prefix that runs a server binary as a user PostgreSQL accepts."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"]
    return []


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster in a temporary directory of its own."""

    bindir: Path
    root: Path
    port: int = field(default_factory=free_port)
    version: str = ""

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgresql.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [*_as_owner(), *argv]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv[:2])} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        return done

    def pg_ctl(self, *args: str, timeout: float = 120) -> float:
        """Run `pg_ctl` on this cluster, waiting for it; the seconds it took."""
        started = time.monotonic()
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            str(int(timeout)),
            *args,
            timeout=timeout + 10,
        )
        return time.monotonic() - started

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        )
        # In postgresql.conf rather than on pg_ctl's command line, so every restart keeps them.
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": "200",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# a benchmark's private cluster\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self.version = self._run(str(self.bindir / "postgres"), "--version").stdout.strip()

    def start(self) -> None:
        self.pg_ctl("start")

    def restart(self, mode: str) -> float:
        """`pg_ctl restart -m mode`, until it accepts connections again; seconds it took."""
        return self.pg_ctl("restart", "-m", mode)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.pg_ctl("stop", "-m", "immediate", timeout=30)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def private_cluster(*, bindir: Path, keep: bool = False) -> Iterator[PrivateCluster]:
    """A started private cluster; stopped and its directory removed afterwards, always."""
    root = Path(tempfile.mkdtemp(prefix="relay-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres", group="postgres")
    cluster = PrivateCluster(bindir=bindir, root=root)
    finished = False

    def cleanup() -> None:
        nonlocal finished
        if finished:
            return
        finished = True
        cluster.stop()
        if keep:
            print(f"PostgreSQL cluster kept in {root} (stopped)")
        else:
            shutil.rmtree(root, ignore_errors=True)

    atexit.register(cleanup)
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cleanup()
        atexit.unregister(cleanup)
        signal.signal(signal.SIGTERM, previous)
