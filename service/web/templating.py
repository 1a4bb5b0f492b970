"""Jinja2 for the web pages (autoescaped), each page in one language."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

from service.http_deps import reader_locale
from service.i18n import script_catalogue, supported, translations
from service.paths import templates_dir
from service.settings import Settings
from service.web.csrf import csrf_token
from service.web.security import csp_nonce


def page_locale(request: Request) -> str:
    """The page's language, in the order reader_locale gives (the reader's own comes second)."""
    return reader_locale(request)


def use_locale(request: Request, locale: str) -> None:
    """Show the page in `locale`, whatever the reader chose (an acknowledgement page)."""
    request.state.locale = supported(locale)


def company_locale(request: Request, locale: str) -> None:
    """Offer `locale` (a client user's company's) for the page unless the reader chose their own."""
    request.state.company_locale = supported(locale)


def _gettext_callables(locale: str) -> dict[str, Any]:
    # The calls `{% trans %}` and `_()` make when the environment has `newstyle_gettext`.
    catalogue = translations(locale)

    @pass_eval_context
    def gettext(eval_ctx: EvalContext, message: str, **variables: Any) -> str:
        text = catalogue.gettext(message)
        if eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - the catalogue is ours; `%` escapes the values
        return text % variables if variables else text

    @pass_eval_context
    def ngettext(
        eval_ctx: EvalContext, singular: str, plural: str, num: int, **variables: Any
    ) -> str:
        text = catalogue.ngettext(singular, plural, num)
        if eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - the catalogue is ours; `%` escapes the values
        variables.setdefault("num", num)
        return text % variables

    return {"gettext": gettext, "_": gettext, "ngettext": ngettext}


def _request_globals(request: Request) -> dict[str, Any]:
    locale = page_locale(request)
    # Every inline <style> and <script> carries it: `nonce="{{ csp_nonce }}"`.
    return {
        "csp_nonce": csp_nonce(request),
        "locale": locale,
        # The browser scripts' words, read by ui.js from a JSON block (data, never run).
        "script_catalogue": script_catalogue(locale),
        **_gettext_callables(locale),
    }


def make_templates(*, settings: Settings) -> Jinja2Templates:
    """The page templates under `templates/pages/`."""
    templates = Jinja2Templates(
        directory=str(templates_dir() / "pages"), context_processors=[_request_globals]
    )
    templates.env.add_extension("jinja2.ext.i18n")
    templates.env.newstyle_gettext = True  # type: ignore[attr-defined]
    templates.env.globals["twilio_enabled"] = settings.twilio_enabled
    templates.env.globals["csrf_token"] = csrf_token
    return templates
