"""Schema migrations (Alembic), run programmatically against an engine."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from service.paths import PACKAGE_DIR


def alembic_config() -> Config:
    """Alembic's configuration, pointing at the migrations inside the package."""
    config = Config()
    config.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    return config


def upgrade(*, engine: Engine, revision: str = "head") -> None:
    """Bring the database up to `revision`."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def revision(*, engine: Engine, message: str) -> None:
    """Write a new migration by comparing the models with the database (for developers)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
