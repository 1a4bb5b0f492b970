"""Jinja2 for the web pages (autoescaped)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from service.paths import templates_dir
from service.settings import Settings
from service.web.csrf import csrf_token
from service.web.security import csp_nonce


def _request_globals(request: Request) -> dict[str, Any]:
    # Every inline <style> and <script> carries it: `nonce="{{ csp_nonce }}"`.
    return {"csp_nonce": csp_nonce(request)}


def make_templates(*, settings: Settings) -> Jinja2Templates:
    """The page templates under `templates/pages/`."""
    templates = Jinja2Templates(
        directory=str(templates_dir() / "pages"), context_processors=[_request_globals]
    )
    templates.env.globals["twilio_enabled"] = settings.twilio_enabled
    templates.env.globals["csrf_token"] = csrf_token
    return templates
