"""Every 4xx answered in one shape (`ErrorBody`), in the reader's language.

Three kinds of refusal reach here: a `RelayError` raised by Relay's own code, an
`HTTPException` raised by the framework (no such route, method not allowed), and a request
that does not match its declared model (FastAPI's validation). Each becomes the same body.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from service.db import connection_lost
from service.errors import ErrorBody, FieldProblem, RelayError, refusal_for_status
from service.http_deps import reader_locale
from service.i18n import N_, translate

# What the OpenAPI description says every route may answer when it refuses.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "Refused; the same shape on every route."}
}


def refusals_in_json(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with every operation's refusal described as JSON, as it is sent.

    FastAPI files an extra response under the route's own media type; a TwiML or metrics route
    still refuses in JSON. A refusal a route names by its status alone (`409` with only a
    description of its codes) overrides `4XX` for that status, so it gets the same body.
    """
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            refusal = responses.get("4XX")
            if not refusal or "content" not in refusal:
                continue
            schema = next(iter(refusal["content"].values()))
            refusal["content"] = {"application/json": schema}
            for code, response in responses.items():
                if code.startswith("4") and "content" not in response:
                    response["content"] = {"application/json": dict(schema)}
    return spec


# A value refused by a declared model: its stable code and its message, by pydantic's type.
_VALIDATION: dict[str, tuple[str, str]] = {
    "missing": ("missing", N_("This field is required.")),
    "string_too_short": ("too_short", N_("Enter at least %(min_length)s characters.")),
    "string_too_long": ("too_long", N_("Too long: at most %(max_length)s characters.")),
    "too_short": ("too_short", N_("Give at least %(min_length)s.")),
    "too_long": ("too_long", N_("Too many: at most %(max_length)s.")),
    "enum": ("not_a_choice", N_("Choose one of: %(expected)s.")),
    "literal_error": ("not_a_choice", N_("Choose one of: %(expected)s.")),
    "extra_forbidden": ("not_allowed", N_("This field is not allowed.")),
    "int_parsing": ("not_a_number", N_("Enter a whole number.")),
    "int_type": ("not_a_number", N_("Enter a whole number.")),
    "int_from_float": ("not_a_number", N_("Enter a whole number.")),
    "bool_parsing": ("wrong_type", N_("Enter true or false.")),
    "bool_type": ("wrong_type", N_("Enter true or false.")),
    "greater_than_equal": ("out_of_range", N_("Enter %(ge)s or more.")),
    "greater_than": ("out_of_range", N_("Enter more than %(gt)s.")),
    "less_than_equal": ("out_of_range", N_("Enter %(le)s or less.")),
    "less_than": ("out_of_range", N_("Enter less than %(lt)s.")),
    "datetime_parsing": ("not_a_time", N_("Enter a date and time.")),
    "datetime_type": ("not_a_time", N_("Enter a date and time.")),
    "datetime_from_date_parsing": ("not_a_time", N_("Enter a date and time.")),
    "timezone_aware": ("not_a_time", N_("Give the time with its time zone.")),
    "json_invalid": ("bad_json", N_("The body is not valid JSON.")),
    "string_type": ("wrong_type", N_("Enter text.")),
    "list_type": ("wrong_type", N_("Give a list.")),
    "dict_type": ("wrong_type", N_("Give an object.")),
    "model_type": ("wrong_type", N_("Give an object.")),
    "model_attributes_type": ("wrong_type", N_("Give an object.")),
}
# How many problems the one-line `detail` names; `errors` lists them all.
_DETAIL_PROBLEMS = 3


def error_response(error: RelayError, *, locale: str) -> JSONResponse:
    """The JSON answer that says `error` to a reader of `locale`."""
    body = error.body(locale)
    return JSONResponse(
        body.model_dump(mode="json"), status_code=error.status, headers=error.headers or None
    )


def field_path(loc: Sequence[int | str]) -> str:
    """A pydantic location as the dotted field a form knows (`caller.phone`, `limit`)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(str(part) for part in parts)


def field_problem(problem: dict[str, Any], *, locale: str) -> FieldProblem:
    """One of pydantic's validation errors as Relay says it."""
    field = field_path(problem.get("loc", ()))
    cause = (problem.get("ctx") or {}).get("error")
    if isinstance(cause, RelayError):
        return FieldProblem(field=cause.field or field, code=cause.code, message=cause.text(locale))
    known = _VALIDATION.get(problem.get("type", ""))
    if known is None:
        # A rule pydantic words itself (a pattern, a custom type): its English is the best there is.
        return FieldProblem(field=field, code="invalid", message=str(problem.get("msg", "")))
    code, message = known
    values = {name: _readable(value) for name, value in (problem.get("ctx") or {}).items()}
    try:
        text = translate(locale, message) % values
    except (KeyError, TypeError, ValueError):
        text = translate(locale, message)
    return FieldProblem(field=field, code=code, message=text)


def _readable(value: object) -> str:
    return str(value).replace("'", "")


def validation_body(problems: Sequence[dict[str, Any]], *, locale: str) -> ErrorBody:
    """A request that did not match its model, as one body naming every field at fault."""
    found = [field_problem(problem, locale=locale) for problem in problems]
    named = [f"{p.field}: {p.message}" if p.field else p.message for p in found]
    detail = " / ".join(named[:_DETAIL_PROBLEMS]) or translate(locale, N_("Check the request."))
    return ErrorBody(
        status=422,
        code=found[0].code if len(found) == 1 else "invalid",
        detail=detail,
        field=found[0].field if found else None,
        errors=found,
    )


# Paths answered for programs: their refusals are JSON whoever asks.
_PROGRAM_PATHS = ("/api/", "/twilio/", "/hooks/", "/static/", "/metrics", "/healthz", "/openapi")


def wants_page(request: Request) -> bool:
    """Whether a browser navigating to a page asked for this, so a refusal should be a page."""
    if request.method not in ("GET", "HEAD") or request.url.path.startswith(_PROGRAM_PATHS):
        return False
    return "text/html" in request.headers.get("accept", "")


def _answer(request: Request, error: RelayError) -> Response:
    locale = reader_locale(request)
    if wants_page(request) and hasattr(request.app.state, "templates"):
        page: Response = request.app.state.templates.TemplateResponse(
            request,
            "error.html",
            {"status": error.status, "detail": error.text(locale)},
            status_code=error.status,
            headers=error.headers or None,
        )
        return page
    return error_response(error, locale=locale)


async def _relay_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RelayError)
    return _answer(request, error)


async def _http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    response = _answer(request, refusal_for_status(error.status_code))
    if error.headers:
        response.headers.update(error.headers)
    return response


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    body = validation_body(error.errors(), locale=reader_locale(request))
    return JSONResponse(body.model_dump(mode="json"), status_code=body.status)


class DatabaseBusy(RelayError):
    """The database stayed locked by another writer for longer than Relay waits."""

    status = 503
    code = "busy"
    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


class DatabaseUnavailable(RelayError):
    """PostgreSQL could not be reached, or dropped the connection mid-request."""

    status = 503
    code = "unavailable"
    headers: ClassVar[dict[str, str]] = {"Retry-After": "2"}


async def _operational_error(request: Request, error: Exception) -> Response:
    # PostgreSQL restarting or gone: the pool replaces its connections once it is back, and
    # the same request then goes through. Whether a commit cut off went through is unknown,
    # so the answer says nothing of it (a memo sent again with its Idempotency-Key is taken
    # once either way).
    if connection_lost(error):
        return _answer(
            request,
            DatabaseUnavailable(N_("Relay cannot reach its database. Try again in a moment.")),
        )
    # SQLite's one writer held too long (a purge, a bulk import): nothing was written, and
    # the same request a moment later goes through. Anything else is a fault, not a refusal.
    # The process's own writer queue raises sqlite3's error unwrapped.
    cause = error.orig if isinstance(error, OperationalError) else error
    if "database is locked" not in str(cause):
        raise error
    if request.method in ("GET", "HEAD"):
        # A read saves nothing: telling its reader nothing was saved would only puzzle them.
        return _answer(request, DatabaseBusy(N_("Relay is busy. Try again in a moment.")))
    return _answer(request, DatabaseBusy(N_("Relay is busy: nothing was saved. Try again.")))


def install_error_handlers(app: FastAPI) -> None:
    """Answer every refusal of `app` in the one shape."""
    app.add_exception_handler(RelayError, _relay_error)
    app.add_exception_handler(OperationalError, _operational_error)
    app.add_exception_handler(sqlite3.OperationalError, _operational_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
