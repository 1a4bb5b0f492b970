"""Jinja2 for the web pages (autoescaped)."""

from __future__ import annotations

from fastapi.templating import Jinja2Templates

from service.paths import templates_dir
from service.settings import Settings
from service.web.csrf import csrf_token


def make_templates(*, settings: Settings) -> Jinja2Templates:
    """The page templates under `templates/pages/`."""
    templates = Jinja2Templates(directory=str(templates_dir() / "pages"))
    templates.env.globals["twilio_enabled"] = settings.twilio_enabled
    templates.env.globals["csrf_token"] = csrf_token
    return templates
