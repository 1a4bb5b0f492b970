"""`relay clients …`: load client companies from YAML and write them back out."""

from __future__ import annotations

import getpass
from collections import Counter
from pathlib import Path

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from service.audit.service import Actor
from service.cli_common import engine_or_exit, exit_on_database_error
from service.companies import service
from service.companies.yaml_io import InvalidCompanyFiles
from service.db import transaction

clients_app = typer.Typer(help="Client companies, kept as YAML files.", no_args_is_help=True)


def _changed_by() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        # No login name (e.g. a container user without a passwd entry).
        return "cli:unknown"


@clients_app.command("sync")
def sync(
    path: Path = typer.Argument(..., help="a company YAML file, or a folder of them"),
    if_empty: bool = typer.Option(
        False,
        "--if-empty",
        help="load only into a database without companies (the examples, on a first start)",
    ),
) -> None:
    """Create or update client companies; invalid files are refused whole and nothing changes."""
    engine = engine_or_exit()
    changed_by = _changed_by()
    try:
        with transaction(engine) as session:
            if if_empty and service.has_companies(session=session):
                # After the first start the database is the truth: what admins changed stays.
                typer.echo(f"the database already has client companies; {path} not loaded")
                return
            outcomes = service.sync_path(
                session=session, path=path, changed_by=changed_by, actor=Actor(name=changed_by)
            )
            lines = [
                f"{o.action.value:<9} {o.company.slug} (version {o.company.version})"
                for o in outcomes
            ]
    except InvalidCompanyFiles as error:
        for problem in error.errors:
            typer.echo(str(problem), err=True)
        typer.echo(f"relay: nothing changed ({len(error.errors)} problem(s))", err=True)
        raise typer.Exit(1) from None
    except service.CompanyError as error:
        typer.echo(f"relay: {error}; nothing changed", err=True)
        raise typer.Exit(1) from None
    except (OperationalError, ProgrammingError) as error:
        exit_on_database_error(error)
    finally:
        engine.dispose()
    for line in lines:
        typer.echo(line)
    counts = Counter(outcome.action.value for outcome in outcomes)
    summary = ", ".join(f"{counts[action.value]} {action.value}" for action in service.SaveAction)
    noun = "company" if len(outcomes) == 1 else "companies"
    typer.echo(f"{len(outcomes)} {noun}: {summary}")


@clients_app.command("export")
def export(
    directory: Path = typer.Argument(
        ..., help="where to write <slug>.yaml files; with --client, a file, a folder or -"
    ),
    client: str | None = typer.Option(
        None, "--client", "-c", help="only this company (its slug); `-` as the path prints it"
    ),
) -> None:
    """Write client companies out as YAML, one file per company, as `sync` reads them back."""
    engine = engine_or_exit()
    try:
        with transaction(engine) as session:
            if client is None:
                written = service.export_all(session=session, directory=directory)
            else:
                company = service.get_company(session=session, slug=client)
                if company is None:
                    typer.echo(f"relay: no client company {client}", err=True)
                    raise typer.Exit(1)
                text = service.company_yaml(company)
                if str(directory) == "-":
                    typer.echo(text, nl=False)
                    return
                target = directory / f"{client}.yaml" if directory.is_dir() else directory
                target.write_text(text, encoding="utf-8")
                written = [target]
    except OSError as error:
        typer.echo(f"relay: cannot write to {directory}: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    except (OperationalError, ProgrammingError) as error:
        exit_on_database_error(error)
    finally:
        engine.dispose()
    for path in written:
        typer.echo(str(path))
    noun = "company" if len(written) == 1 else "companies"
    typer.echo(f"{len(written)} {noun} written to {directory}")


def register(app: typer.Typer) -> None:
    """Add the `clients` commands to `relay`."""
    app.add_typer(clients_app, name="clients")
