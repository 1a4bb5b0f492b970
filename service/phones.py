"""Phone numbers as E.164, from whatever an operator or a carrier wrote."""

from __future__ import annotations

import unicodedata

import phonenumbers

from service.errors import Invalid
from service.i18n import N_


class PhoneNumberError(Invalid):
    """Text that is not a phone number we can dial."""

    code = "bad_phone"


def to_e164(raw: str, *, country: str = "JP") -> str:
    """`raw` as E.164; domestic forms like `090-1111-2222` are read in `country`."""
    # NFKC folds full-width digits and hyphens (０９０－１１１１) typed with a Japanese IME.
    text = unicodedata.normalize("NFKC", raw).strip()
    try:
        number = phonenumbers.parse(text, country.upper())
    except phonenumbers.NumberParseException:
        raise PhoneNumberError(N_("%(number)s is not a phone number."), number=raw) from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneNumberError(N_("%(number)s is not a phone number in use."), number=raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_for(e164: str | None, *, country: str) -> str:
    """A number as people in `country` write it: national at home (090-1111-2222),
    international for a number abroad (+1 212-555-0100); text that is no number stays as is."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(number) == country.upper():
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
