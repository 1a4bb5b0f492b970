"""Small value types of a company's configuration: slugs, keys, phone numbers, durations, text."""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from typing import Annotated, Any, NoReturn

import phonenumbers
from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from service.i18n import N_

# The error type every refusal of this package carries, so readers can tell it from pydantic's own.
ISSUE_TYPE = "company_config"

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_CONTACT_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_DURATION = re.compile(r"\s*(\d+)\s*([smh])\s*")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_MAX_DURATION = timedelta(days=7)


def fail(
    message: str,
    *,
    loc: tuple[str | int, ...] = (),
    template_line: int | None = None,
    **values: Any,
) -> NoReturn:
    """Refuse a value with a reason an admin understands: a catalogue message (`N_`) with
    `%(name)s` placeholders for `values`, translated where it is shown."""
    context = {"reason": message % values if values else message, "message": message}
    raise PydanticCustomError(
        ISSUE_TYPE,
        "{reason}",
        {**context, "values": values, "loc": loc, "template_line": template_line},
    )


def _text(max_length: int) -> Any:
    def check(value: str) -> str:
        value = value.strip()
        if not value:
            fail(N_("must not be empty"))
        if len(value) > max_length:
            fail(
                N_("is too long (%(length)s characters; at most %(max_length)s)"),
                length=len(value),
                max_length=max_length,
            )
        return value

    return AfterValidator(check)


ShortText = Annotated[str, _text(200)]
Text = Annotated[str, _text(2000)]


def _matching(pattern: re.Pattern[str], message: str) -> Any:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            fail(message, value=value)
        return value

    return AfterValidator(check)


Slug = Annotated[
    str,
    _matching(
        _SLUG,
        N_(
            "'%(value)s' is not a valid slug: use lower-case letters a-z, digits and '-', "
            "at most 64, e.g. sakura-dental"
        ),
    ),
]
ContactKey = Annotated[
    str,
    _matching(
        _CONTACT_KEY,
        N_("'%(value)s' is not a valid contact key: use a-z, 0-9, '-' and '_', e.g. director"),
    ),
]
FieldKey = Annotated[
    str,
    _matching(
        _FIELD_KEY,
        N_(
            "'%(value)s' is not a valid field key: start with a-z, then a-z, 0-9 and '_', "
            "e.g. patient_no"
        ),
    ),
]


def _check_email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.fullmatch(value) or len(value) > 320:
        fail(N_("'%(value)s' is not an email address"), value=value)
    return value


Email = Annotated[str, AfterValidator(_check_email)]


def region_of(e164: str) -> str | None:
    """The ISO region (e.g. "JP") an E.164 number belongs to, if known."""
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    return region if region and region != "ZZ" else None


def _check_phone(value: Any) -> str:
    if not isinstance(value, str):
        fail(N_('write the phone number as text in quotes, e.g. "+815012345678"'))
    # NFKC folds full-width digits and signs (＋８１…) typed with a Japanese input method.
    value = unicodedata.normalize("NFKC", value).strip()
    if not value.startswith("+"):
        fail(
            N_("'%(value)s' is not an E.164 number: start with + and the country code, e.g. +81"),
            value=value,
        )
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        fail(N_("not a valid E.164 number: '%(value)s' is not a phone number"), value=value)
    if not phonenumbers.is_valid_number(number):
        fail(N_("not a valid E.164 number: '%(value)s' is not a valid phone number"), value=value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Accepts separators ("+81 50-1234-5678") and always keeps the E.164 form ("+815012345678").
E164 = Annotated[
    str,
    BeforeValidator(_check_phone),
    WithJsonSchema({"type": "string", "examples": ["+815012345678"]}),
]


def parse_duration(text: str) -> timedelta:
    """A duration written as `90s`, `15m` or `2h`."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: write it like 90s, 15m or 2h")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def format_duration(duration: timedelta) -> str:
    """The shortest of `2h`, `15m`, `90s` that says `duration` exactly."""
    seconds = int(duration.total_seconds())
    for unit in ("h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def _to_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, str):
        try:
            duration = parse_duration(value)
        except ValueError:
            fail(N_("'%(value)s' is not a duration: write it like 90s, 15m or 2h"), value=value)
    else:
        fail(N_("'%(value)s' is not a duration: write it like 90s, 15m or 2h"), value=value)
    if duration <= timedelta(0):
        fail(N_("must be longer than zero"))
    if duration > _MAX_DURATION:
        fail(N_("must be at most 7 days (168h)"))
    return duration


Duration = Annotated[
    timedelta,
    BeforeValidator(_to_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d+[smh]$", "examples": ["15m"]}),
]
