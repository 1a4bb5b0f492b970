"""The web application: settings, database and routes put together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.types import ASGIApp

from service.api import acks as acks_api
from service.api import audit as audit_api
from service.api import caller_export as caller_export_api
from service.api import caller_notes as caller_notes_api
from service.api import calls as calls_api
from service.api import client_preview, client_versions, twilio_callout, twilio_sms, twilio_voice
from service.api import clients as clients_api
from service.api import events as events_api
from service.api import hooks_chatwork as chatwork_hook
from service.api import hooks_line as line_hook
from service.api import hooks_lineworks as lineworks_hook
from service.api import hooks_slack as slack_hook
from service.api import me as me_api
from service.api import memos as memos_api
from service.api import recap as recap_api
from service.api import reports as reports_api
from service.api import resolutions as resolutions_api
from service.api import secrets as secrets_api
from service.api import tasks as tasks_api
from service.api import two_factor as two_factor_api
from service.api import users as users_api
from service.db import make_engine, reader
from service.events import PostgresListener
from service.http_errors import ERROR_RESPONSES, install_error_handlers, refusals_in_json
from service.http_limits import RequestLimitsMiddleware
from service.observability import install_metrics
from service.observability import router as health_router
from service.request_text import RequestTextMiddleware
from service.settings import Settings, get_settings
from service.web import (
    account,
    ack_pages,
    admin_audit,
    admin_companies,
    admin_secrets,
    admin_users,
    api_docs,
    auth_pages,
    board,
    caller_note_pages,
    caller_pages,
    console,
    invite_pages,
    memo_pages,
    outbox_pages,
    portal,
    report_pages,
    two_factor_pages,
)
from service.web.security import SecurityHeadersMiddleware
from service.web.templating import make_templates
from service.worker import running_dispatcher

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start what runs beside the requests: the PostgreSQL event listener."""
    listener: PostgresListener | None = None
    engine: Engine = app.state.engine
    if engine.dialect.name == "postgresql":
        listener = PostgresListener(database_url=engine.url.render_as_string(hide_password=False))
        listener.start()
        # Serve only once LISTEN is in place, so no event committed after start-up is missed.
        try:
            await asyncio.wait_for(listener.ready.wait(), timeout=10)
        except TimeoutError:
            log.warning("event listener not ready after 10 s; live updates may lag")
    app.state.event_listener = listener
    async with contextlib.AsyncExitStack() as stack:
        if app.state.run_dispatcher:
            app.state.dispatcher = await stack.enter_async_context(
                running_dispatcher(engine=engine, settings=app.state.settings)
            )
        try:
            yield
        finally:
            if listener is not None:
                await listener.stop()


class RelayApp(FastAPI):
    """FastAPI with Relay's edge in front of everything, error handling included."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = refusals_in_json(super().openapi())
        return self.openapi_schema

    def build_middleware_stack(self) -> ASGIApp:
        # Outermost, so that an oversized request is refused before any of FastAPI's own
        # layers reads it, and every answer (a refusal, a 500) carries the security headers.
        settings: Settings = self.state.settings
        return SecurityHeadersMiddleware(
            RequestLimitsMiddleware(RequestTextMiddleware(super().build_middleware_stack())),
            https=settings.public_base_url.startswith("https://"),
        )


def create_app(
    *, settings: Settings | None = None, engine: Engine | None = None, dispatcher: bool = False
) -> FastAPI:
    """Build the app; with `dispatcher`, relay deliveries in the same process."""
    settings = settings or get_settings()
    app = RelayApp(
        title="Relay",
        version="0.1.0",
        description="The back office of a telephone-answering service.",
        lifespan=lifespan,
        # Served by service.web.api_docs, to staff only.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.run_dispatcher = dispatcher
    app.state.engine = engine or make_engine(settings.database_url)
    app.state.reader = reader(app.state.engine)
    app.state.templates = make_templates(settings=settings)
    install_metrics(app)
    install_error_handlers(app)
    for router in (
        health_router,
        clients_api.router,
        client_versions.router,
        client_preview.router,
        recap_api.router,
        calls_api.router,
        memos_api.router,
        tasks_api.router,
        acks_api.router,
        resolutions_api.router,
        reports_api.router,
        audit_api.router,
        events_api.router,
        me_api.router,
        users_api.router,
        secrets_api.router,
        two_factor_api.router,
        twilio_voice.router,
        twilio_callout.router,
        twilio_sms.router,
        chatwork_hook.router,
        line_hook.router,
        lineworks_hook.router,
        slack_hook.router,
        auth_pages.router,
        two_factor_pages.router,
        account.router,
        outbox_pages.router,
        console.router,
        board.router,
        ack_pages.router,
        admin_audit.router,
        portal.router,
        report_pages.router,
        caller_note_pages.router,
        caller_pages.router,
        caller_export_api.router,
        caller_notes_api.router,
        memo_pages.router,
        invite_pages.router,
        admin_users.router,
        admin_companies.router,
        admin_secrets.router,
        api_docs.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=console.STATIC_DIR), name="static")
    return app
