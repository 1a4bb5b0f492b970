"""`relay purge`: delete what each company's retention lets go, now, or say what would go."""

from __future__ import annotations

import getpass
import time
from typing import TYPE_CHECKING

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from service.cli_common import engine_or_exit, exit_on_database_error
from service.db import transaction
from service.retention.models import KINDS

if TYPE_CHECKING:
    from service.retention.runs import Purged

# The longest rest between two batches of a purge run by hand.
MAX_REST_SECONDS = 1.0


def _started_by() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        # No login name (e.g. a container user without a passwd entry).
        return "cli:unknown"


def _lines(purged: list[Purged]) -> list[str]:
    header = "company".ljust(32) + "".join(kind.rjust(14) for kind in KINDS)
    rows = [
        item.slug.ljust(32) + "".join(str(item.counts[kind]).rjust(14) for kind in KINDS)
        for item in purged
    ]
    return [header, *rows]


def purge(
    dry_run_only: bool = typer.Option(
        False, "--dry-run", help="print what would be deleted, per company, and delete nothing"
    ),
) -> None:
    """Delete expired records of every company with `retention:`, a batch at a time."""
    # Here rather than above: every `relay` command would otherwise load every domain.
    from service.audit.service import Actor
    from service.retention.models import PurgeRun
    from service.retention.runs import dry_run, purge_batch, start_run

    engine = engine_or_exit()
    started_by = _started_by()
    try:
        if dry_run_only:
            with transaction(engine) as session:
                found = dry_run(session=session)
            for line in _lines(found):
                typer.echo(line)
            typer.echo(f"{len(found)} companies with retention; nothing deleted (dry run)")
            return
        with transaction(engine) as session:
            run_id = start_run(session=session, started_by=started_by).id
        purged: list[Purged] = []
        while True:
            # Each batch commits, so intake never waits long behind the purge.
            began = time.monotonic()
            with transaction(engine) as session:
                run = session.get(PurgeRun, run_id, with_for_update=True)
                assert run is not None
                progress, finished = purge_batch(
                    session=session, run=run, actor=Actor(name=started_by)
                )
            purged.extend(finished)
            if progress == 0 or run.finished_at is not None:
                break
            # SQLite has one writer: a loop that commits and begins again at once keeps
            # winning the lock from other processes, whose busy handler sleeps between tries.
            # Resting as long as the batch took leaves them the database half the time.
            time.sleep(min(time.monotonic() - began, MAX_REST_SECONDS))
    except (OperationalError, ProgrammingError) as error:
        exit_on_database_error(error)
    finally:
        engine.dispose()
    for line in _lines(purged):
        typer.echo(line)
    totals = {kind: sum(item.counts[kind] for item in purged) for kind in KINDS}
    typer.echo(
        f"purged {len(purged)} companies: "
        + ", ".join(f"{totals[kind]} {kind.replace('_', ' ')}" for kind in KINDS)
    )


def register(app: typer.Typer) -> None:
    """Add `relay purge` to `relay`."""
    app.command("purge")(purge)
