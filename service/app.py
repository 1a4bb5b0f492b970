"""The web application: settings, database and routes put together."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from service.api import clients as clients_api
from service.db import make_engine
from service.observability import install_metrics
from service.observability import router as health_router
from service.settings import Settings, get_settings
from service.web import auth_pages
from service.web.templating import make_templates


def create_app(*, settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app; tests pass their own settings and engine."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Relay",
        version="0.1.0",
        description="The back office of a telephone-answering service.",
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url)
    app.state.templates = make_templates(settings=settings)
    install_metrics(app)
    app.include_router(health_router)
    app.include_router(clients_api.router)
    app.include_router(auth_pages.router)
    return app
