"""SMS length as carriers count it: GSM-7 septets or UCS-2 code units, split into segments.

A message is GSM-7 only if every character is in the GSM 03.38 default alphabet or its
extension table (the extension characters take two septets: an escape and the character).
Anything else — Japanese included — sends the whole message as UCS-2, where a character
outside the Basic Multilingual Plane (most emoji) takes two 16-bit units.

One segment holds 160 GSM-7 septets or 70 UCS-2 units; a longer message is split into
segments of 153 septets or 67 units (the rest is the concatenation header). Carriers never
split an escaped pair or a surrogate pair across two segments, so segments are packed whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

_SINGLE = {"GSM-7": 160, "UCS-2": 70}
_MULTI = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True)
class SmsCount:
    """How a text goes out as SMS: its encoding, its length in units, and its segments."""

    encoding: Encoding
    units: int
    segments: int


def is_gsm7(*, text: str) -> bool:
    """Whether every character of `text` fits the GSM-7 alphabet (with its extension table)."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def _widths(text: str, encoding: Encoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if char in GSM7_EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def count_sms(*, text: str) -> SmsCount:
    """The encoding, units and segments of `text` as an SMS (an empty text is one segment)."""
    encoding: Encoding = "GSM-7" if is_gsm7(text=text) else "UCS-2"
    widths = _widths(text, encoding)
    units = sum(widths)
    if units <= _SINGLE[encoding]:
        return SmsCount(encoding=encoding, units=units, segments=1)
    capacity, segments, used = _MULTI[encoding], 1, 0
    for width in widths:
        if used + width > capacity:
            segments, used = segments + 1, 0
        used += width
    return SmsCount(encoding=encoding, units=units, segments=segments)


def fits(*, text: str, segments: int) -> bool:
    """Whether `text` goes out in at most `segments` SMS segments."""
    return count_sms(text=text).segments <= segments
