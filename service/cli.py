"""The `relay` command line."""

from __future__ import annotations

import os

import typer

from service import migrate
from service.cli_common import engine_or_exit, exit_on_database_error, settings_or_exit
from service.db import make_engine

app = typer.Typer(
    help="Relay: the back office of a telephone-answering service.", no_args_is_help=True
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
secrets_app = typer.Typer(
    help="The stored secrets (chat platforms' credentials).", no_args_is_help=True
)
app.add_typer(secrets_app, name="secrets")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply the database migrations."""
    migrate.upgrade(engine=engine_or_exit(), revision=revision)
    typer.echo(f"database at {revision}")


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Encrypt every stored secret again with RELAY_SECRET_KEY, in one transaction."""
    import getpass

    from sqlalchemy.exc import OperationalError, ProgrammingError

    from service.audit.service import Actor
    from service.db import transaction
    from service.secrets.service import rotate_secrets

    settings = settings_or_exit()
    try:
        actor = Actor(name=f"cli:{getpass.getuser()}")
    except (KeyError, OSError):
        # No login name (e.g. a container user without a passwd entry).
        actor = Actor(name="cli:unknown")
    engine = make_engine(settings.database_url)
    try:
        with transaction(engine) as session:
            done = rotate_secrets(session=session, settings=settings, actor=actor)
    except (OperationalError, ProgrammingError) as error:
        exit_on_database_error(error)
    finally:
        engine.dispose()
    typer.echo(f"secrets re-encrypted with the current RELAY_SECRET_KEY: {done.rotated}")
    if done.unreadable:
        # Kept as they were: none of the keys configured now reads them.
        typer.echo(
            f"{len(done.unreadable)} could not be read with RELAY_SECRET_KEY or "
            f"RELAY_PREVIOUS_SECRET_KEYS and were left as they were; set them again: "
            + ", ".join(done.unreadable),
            err=True,
        )
        raise typer.Exit(1)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="overrides RELAY_HOST"),
    port: int | None = typer.Option(None, help="overrides RELAY_PORT"),
    dispatcher: bool = typer.Option(
        True, "--dispatcher/--no-dispatcher", help="also relay memos in this process"
    ),
) -> None:
    """Serve the web app (and, by default, the dispatcher)."""
    from service.app import create_app
    from service.server import serve as serve_app

    settings = settings_or_exit()
    serve_app(
        create_app(settings=settings, dispatcher=dispatcher),
        host=host or settings.host,
        port=port or settings.port,
    )


@app.command("dispatcher")
def run_dispatcher() -> None:
    """Relay memos without serving the web app (scale-out on PostgreSQL)."""
    import asyncio
    import logging

    from service.worker import run_alone

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = settings_or_exit()
    asyncio.run(run_alone(engine=make_engine(settings.database_url), settings=settings))


def _register_domain_commands() -> None:
    from service.auth.cli import register as register_auth
    from service.companies.cli import register as register_companies
    from service.retention.cli import register as register_retention

    register_companies(app)
    register_auth(app)
    register_retention(app)


_register_domain_commands()


# What Relay creates (var/, the SQLite files, the generated secret key, exports) is for the
# account it runs as alone; set before anything is created.
PRIVATE_UMASK = 0o077


def main() -> None:
    """Entry point of the `relay` script."""
    os.umask(PRIVATE_UMASK)
    app(prog_name="relay")


if __name__ == "__main__":
    main()
