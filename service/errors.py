"""One shape for every refusal: an HTTP status, a stable code, a message a person reads, a field.

Domain code raises a `RelayError` (or one of its kinds below); the HTTP edge turns it into the
JSON body `ErrorBody` in the reader's language. The message is a catalogue id (English, marked
with `N_`) with `%(name)s` placeholders for the values given, so it is translated where it is
shown, never where it is raised.
"""

from __future__ import annotations

import json
from typing import ClassVar

from pydantic import BaseModel, Field

from service.i18n import N_, translate


class RelayError(Exception):
    """Something refused as asked: status, stable code, message and the field at fault."""

    status: int = 400
    code: str = "bad_request"
    # Response headers the refusal carries (a 401 names its authentication scheme).
    headers: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status: int | None = None,
        **values: object,
    ) -> None:
        super().__init__(_fill(message, values))
        self.message = message
        self.values = values
        self.field = field
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def text(self, locale: str) -> str:
        """The message in `locale`, its values filled in."""
        return _fill(translate(locale, self.message), self.values)

    def problems(self, locale: str) -> list[FieldProblem]:
        """Every field at fault, each with what is wrong with it."""
        if self.field is None:
            return []
        return [FieldProblem(field=self.field, code=self.code, message=self.text(locale))]

    def body(self, locale: str) -> ErrorBody:
        """The JSON body that says this refusal to a reader of `locale`."""
        problems = self.problems(locale)
        return ErrorBody(
            status=self.status,
            code=self.code,
            detail=self.text(locale),
            field=problems[0].field if problems else self.field,
            errors=problems,
        )


def _fill(message: str, values: dict[str, object]) -> str:
    return message % values if values else message


class BadRequest(RelayError):
    """The request cannot be read as asked (400)."""

    status = 400
    code = "bad_request"


class Unauthenticated(RelayError):
    """No signed-in user or valid token (401)."""

    status = 401
    code = "unauthenticated"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class Forbidden(RelayError):
    """The signed-in user may not do this (403)."""

    status = 403
    code = "forbidden"


class NotFound(RelayError):
    """Nothing by that name, or nothing this user may see (404)."""

    status = 404
    code = "not_found"


class Conflict(RelayError):
    """The request clashes with the present state (409)."""

    status = 409
    code = "conflict"


class TooLarge(RelayError):
    """The request or a part of it is over its size bound (413)."""

    status = 413
    code = "too_large"


class Invalid(RelayError, ValueError):
    """A value refused as given (422); a ValueError, so a pydantic validator may raise it."""

    status = 422
    code = "invalid"


class FieldProblem(BaseModel):
    """One field at fault in a refused request."""

    field: str = Field(description="The field, as a dotted path in the body (`caller.phone`).")
    code: str = Field(description="Stable, for programs: `missing`, `too_long`, `invalid`, …")
    message: str = Field(description="What is wrong, in the reader's language.")


class ErrorBody(BaseModel):
    """The body of every 4xx answer, on every route."""

    status: int = Field(description="The HTTP status, repeated.")
    code: str = Field(description="Stable, for programs: `not_found`, `call_taken`, `invalid`, …")
    detail: str = Field(description="What went wrong, in the reader's language.")
    field: str | None = Field(
        default=None, description="The field at fault (the first one), when one is."
    )
    errors: list[FieldProblem] = Field(
        default_factory=list, description="Every field at fault, for a form to mark each one."
    )


# A refusal known by its status alone (a route that does not exist, a method it does not
# take): its code and its message.
_BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("bad_request", N_("The request could not be read.")),
    401: ("unauthenticated", N_("Sign in or send an API token.")),
    403: ("forbidden", N_("You may not do this.")),
    404: ("not_found", N_("Not found.")),
    405: ("method_not_allowed", N_("This method is not allowed here.")),
    406: ("not_acceptable", N_("Cannot answer in a form this request accepts.")),
    409: ("conflict", N_("This clashes with the present state; reload and try again.")),
    413: ("too_large", N_("The request is too large.")),
    415: ("unsupported_media_type", N_("This kind of body is not accepted here.")),
    422: ("invalid", N_("Check the request.")),
    429: ("too_many_requests", N_("Too many requests; try again later.")),
    431: ("headers_too_large", N_("The request headers are too large.")),
}


def refusal_for_status(status: int) -> RelayError:
    """The plain refusal for `status`, for a refusal that says nothing more."""
    code, message = _BY_STATUS.get(
        status, ("bad_request" if status < 500 else "server_error", N_("The request was refused."))
    )
    return RelayError(message, code=code, status=status)


def error_json(body: ErrorBody) -> bytes:
    """`body` as the UTF-8 JSON every refusal sends."""
    return json.dumps(body.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")
