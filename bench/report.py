"""Figures, targets and the sections written into bench/RESULTS.md."""

from __future__ import annotations

import math
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"
_NO_RESULTS_LINE = "No benchmarks have been recorded yet."


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile `q` (0–100) of `values`; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    """A latency distribution, in milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = [s * 1000 for s in seconds]
        return cls(
            count=len(ms),
            p50=percentile(ms, 50),
            p95=percentile(ms, 95),
            p99=percentile(ms, 99),
            max=max(ms) if ms else math.nan,
            mean=sum(ms) / len(ms) if ms else math.nan,
        )

    def cells(self) -> list[str]:
        return [str(self.count), *(f"{v:.1f}" for v in (self.p50, self.p95, self.p99, self.max))]


LATENCY_HEADER = ["n", "p50 ms", "p95 ms", "p99 ms", "max ms"]


@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [
            f"**{self.caption}**",
            "",
            "| " + " | ".join(self.header) + " |",
            "|" + "|".join(" --- " for _ in self.header) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)

    def text(self) -> str:
        cells = [self.header, *self.rows]
        widths = [max(_width(row[i]) for row in cells) for i in range(len(self.header))]
        out = [self.caption]
        for row in cells:
            out.append(
                "  "
                + "  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True))
            )
        return "\n".join(out)


def _width(text: str) -> int:
    # East Asian wide characters take two columns in a terminal.
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


@dataclass(frozen=True)
class Target:
    """A performance target and whether this run met it; a miss never fails the run."""

    name: str
    met: bool
    detail: str

    def line(self) -> str:
        return f"target {'met' if self.met else 'missed'}: {self.name} ({self.detail})"


@dataclass
class Report:
    """What one benchmark run measured, printable and recordable."""

    benchmark: str
    title: str
    backends: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # What went wrong beyond speed (lost events, deliveries never recorded, steps never
    # fired): the benchmark could not measure what it is for, so its run fails.
    failures: list[str] = field(default_factory=list)

    def print(self) -> None:
        print(f"\n=== {self.title}")
        for backend in self.backends:
            print(f"backend: {backend}")
        for table in self.tables:
            print()
            print(table.text())
        if self.notes:
            print()
            for note in self.notes:
                print(f"note: {note}")
        print()
        for target in self.targets:
            print(target.line())
        for failure in self.failures:
            print(f"BROKEN: {failure}")
        sys.stdout.flush()

    def markdown(self, *, command: str) -> str:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        parts = [
            f"## {self.title} — {when}",
            "",
            f"- **date and commit**: {when}, {git_description()}",
            f"- **machine**: {machine_description()}",
            *(f"- **backend**: {backend}" for backend in self.backends),
            f"- **command**: `{command}`",
            "",
        ]
        for table in self.tables:
            parts += [table.markdown(), ""]
        parts.append("**Targets**")
        parts.append("")
        parts += [f"- {target.line()}" for target in self.targets]
        if self.failures:
            parts += ["", "**Broken** (not a matter of speed)", ""]
            parts += [f"- {failure}" for failure in self.failures]
        if self.notes:
            parts += ["", "**Notes**", ""]
            parts += [f"- {note}" for note in self.notes]
        return "\n".join(parts) + "\n"


def git_description() -> str:
    """The short commit and whether the working tree had changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO_DIR, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "commit unknown (not a git checkout)"
    return f"commit `{commit}`" + (" with uncommitted changes" if dirty else ", clean tree")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError):
        pass
    return "memory unknown"


def _os() -> str:
    try:
        text = Path("/etc/os-release").read_text()
        found = re.search(r'^PRETTY_NAME="?([^"\n]+)', text, re.MULTILINE)
        if found:
            return f"{found.group(1)} (Linux {platform.release()})"
    except OSError:
        pass
    return platform.platform()


def machine_description() -> str:
    """CPU, cores (nproc), memory, OS and Python, on one line."""
    return (
        f"{_cpu_model()}, nproc {os.cpu_count()}, {_memory()}, {_os()}, "
        f"Python {platform.python_version()}"
    )


def command_line() -> str:
    """How this benchmark was started, as one could type it again."""
    module = sys.modules["__main__"].__spec__
    name = module.name if module is not None else sys.argv[0]
    return shlex.join([".venv/bin/python", "-m", name, *sys.argv[1:]])


def record(report: Report, *, command: str | None = None) -> None:
    """Add the report to RESULTS.md as its newest section (after the file's introduction)."""
    section = report.markdown(command=command or command_line())
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    text = text.replace(_NO_RESULTS_LINE + "\n", "").replace(_NO_RESULTS_LINE, "")
    # After the hand-kept summary, if there is one: it stays the first thing a reader sees.
    found = re.search(r"^## (?!Where things stand)", text, re.MULTILINE)
    if found is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        text = text[: found.start()] + section + "\n" + text[found.start() :]
    RESULTS.write_text(text, encoding="utf-8")
    print(f"recorded in {RESULTS.relative_to(REPO_DIR)}")
