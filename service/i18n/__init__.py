"""One language per page and per message: the ja and en catalogues, and which one a reader gets.

The catalogues are `locales/<locale>/LC_MESSAGES/messages.po`, read once when first needed (no
compile step). Message ids are the English wording; `python -m service.i18n.extract` refreshes
both catalogues from the code, the page templates and the browser scripts.
"""

from __future__ import annotations

import functools
from datetime import datetime, tzinfo
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
# Accept-Language may be long; only its first few preferences matter.
_MAX_PREFERENCES = 20


def N_(message: str) -> str:
    """`message` unchanged: marks a constant for the catalogues, translated where it is shown."""
    return message


def catalogue_path(locale: str) -> Path:
    """The `.po` file of `locale`."""
    return LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"


@functools.cache
def translations(locale: str) -> Translations:
    """The catalogue of `locale` (the default language's for an unknown one)."""
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    with catalogue_path(locale).open("rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


@functools.cache
def script_catalogue(locale: str) -> dict[str, object]:
    """What the browser scripts of `locale` translate: each message id a script marks, with
    its translation (a list of forms for a plural), as one JSON-ready mapping."""
    locale = supported(locale)
    with catalogue_path(locale).open("rb") as po:
        catalog = read_po(po, locale=locale)
    messages: dict[str, object] = {}
    for message in catalog:
        if not message.id or not any(name.endswith(".js") for name, _ in message.locations):
            continue
        if isinstance(message.id, tuple | list):
            messages[message.id[0]] = list(message.string or ())
        else:
            messages[message.id] = message.string
    return {"locale": locale, "messages": messages}


def translate(locale: str, message: str) -> str:
    """`message` in `locale`."""
    return translations(locale).gettext(message)


def translate_plural(locale: str, singular: str, plural: str, count: int) -> str:
    """The form of `singular`/`plural` that `count` takes in `locale` (not yet formatted)."""
    return translations(locale).ngettext(singular, plural, count)


def supported(locale: str | None) -> str:
    """`locale` if Relay speaks it, else the default language."""
    return locale if locale in LOCALES else DEFAULT_LOCALE


def negotiate(accept_language: str | None) -> str:
    """The reader's language from an `Accept-Language` header; the default when none fits."""
    preferences: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:_MAX_PREFERENCES]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            preferences.append((-quality, position, tag.strip()))
    ordered = [tag for _, _, tag in sorted(preferences)]
    try:
        found = Locale.negotiate(ordered, list(LOCALES), sep="-")
    except (ValueError, UnknownLocaleError):
        found = None
    return str(found) if found is not None else DEFAULT_LOCALE


def format_moment(
    moment: datetime, *, locale: str, zone: tzinfo, weekday: bool = True, short: bool = False
) -> str:
    """`moment` in `zone`, written as readers of `locale` write it (2026年12月1日(火) 14:05)."""
    at = moment.astimezone(zone)
    skeleton = "Md" if short else ("yMMMEd" if weekday else "yMMMd")
    day = format_skeleton(skeleton, at, locale=supported(locale))
    return f"{day} {format_time(at, 'HH:mm', locale=supported(locale))}"
