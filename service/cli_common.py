"""What every `relay` subcommand needs: the settings and an engine, or a clean exit."""

from __future__ import annotations

from typing import NoReturn

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from service.db import make_engine
from service.settings import ConfigError, Settings, get_settings


def settings_or_exit() -> Settings:
    """The settings, or exit 2 with the one-line reason they were refused."""
    try:
        return get_settings()
    except ConfigError as error:
        typer.echo(f"relay: {error}", err=True)
        raise typer.Exit(2) from None


def engine_or_exit() -> Engine:
    """An engine for the configured database."""
    return make_engine(settings_or_exit().database_url)


def exit_on_database_error(error: DBAPIError) -> NoReturn:
    """Exit 1 with the database's one-line reason, and the likeliest cure."""
    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    typer.echo(f"relay: database error: {reason} (has `relay db upgrade` been run?)", err=True)
    raise typer.Exit(1) from None
