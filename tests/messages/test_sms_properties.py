"""SMS length against GSM 03.38 written out here: what we count is what carriers will bill.

The memo SMS is cut to fit a company's segment budget by `count_sms`; if it counted fewer
segments than a carrier does, contacts would get messages split into more parts than paid for
(or cut off), and more would cost more. So the counts are checked against an oracle built in
this file from the standard's tables (not from the module's sets), on texts mixing the GSM-7
alphabet, its escaped characters, Japanese and emoji outside the Basic Multilingual Plane.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.messages.sms import count_sms, fits, is_gsm7

QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# GSM 03.38 default alphabet, in the standard's table order: 0x00-0x7F, eight rows of 16.
# 0x1B is the escape to the extension table, not a character of its own (None here).
_DEFAULT_TABLE = [
    *"@£$¥èéùìòÇ\nØø\rÅå",
    *"Δ_ΦΓΛΩΠΨΣΘΞ",
    None,
    *"ÆæßÉ",
    *" !\"#¤%&'()*+,-./",
    *"0123456789:;<=>?",
    *"¡ABCDEFGHIJKLMNO",
    *"PQRSTUVWXYZÄÖÑÜ§",
    *"¿abcdefghijklmno",
    *"pqrstuvwxyzäöñüà",
]
# The extension table's characters: each is sent as ESC followed by its code, two septets.
_EXTENSION_TABLE = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
ONE_SEPTET = frozenset(char for char in _DEFAULT_TABLE if char is not None)
TWO_SEPTETS = frozenset(_EXTENSION_TABLE.values())

# Concatenated messages lose 6 octets to the user data header: 153 septets or 67 UCS-2 units.
SINGLE = {"GSM-7": 160, "UCS-2": 70}
JOINED = {"GSM-7": 153, "UCS-2": 67}


def oracle(text: str) -> tuple[str, int, int]:
    """(encoding, units, segments) of `text` by the standard, split as carriers split it."""
    if all(char in ONE_SEPTET or char in TWO_SEPTETS for char in text):
        encoding = "GSM-7"
        widths = [2 if char in TWO_SEPTETS else 1 for char in text]
    else:
        encoding = "UCS-2"
        # UTF-16: a character past U+FFFF is a surrogate pair, two 16-bit units.
        widths = [len(char.encode("utf-16-le")) // 2 for char in text]
    units = sum(widths)
    if units <= SINGLE[encoding]:
        return encoding, units, 1
    # Cut off the longest run of whole characters that fits one joined segment, again and again.
    segments, start = 0, 0
    while start < len(widths):
        room, end = JOINED[encoding], start
        while end < len(widths) and widths[end] <= room:
            room -= widths[end]
            end += 1
        segments, start = segments + 1, end
    return encoding, units, segments


_ALPHABET = st.one_of(
    st.sampled_from(sorted(ONE_SEPTET)),
    st.sampled_from(sorted(TWO_SEPTETS)),
    st.sampled_from(list("あいう漢字カナ、。「」ー")),
    st.sampled_from(["😀", "🙇", "𠮷", "👍🏻"[0], "👍🏻"[1]]),
    st.characters(exclude_categories=["Cs"]),
)
# Mostly one kind of text at a time, so long GSM-7 texts and segment edges come up often.
_TEXTS = st.one_of(
    st.text(st.sampled_from(sorted(ONE_SEPTET | TWO_SEPTETS)), max_size=500),
    st.text(st.sampled_from([*sorted(TWO_SEPTETS), "a"]), min_size=140, max_size=330),
    st.text(st.sampled_from(["あ", "😀", "a"]), min_size=60, max_size=220),
    st.text(_ALPHABET, max_size=400),
)


def test_the_oracle_tables_hold_the_standards_128_and_10_characters() -> None:
    assert len(_DEFAULT_TABLE) == 128 and len(ONE_SEPTET) == 127
    assert len(TWO_SEPTETS) == 10 and not ONE_SEPTET & TWO_SEPTETS


@QUICK
@given(text=_TEXTS)
def test_counts_match_gsm_03_38(text: str) -> None:
    count = count_sms(text=text)

    assert (count.encoding, count.units, count.segments) == oracle(text)


@QUICK
@given(text=_TEXTS)
def test_gsm7_is_chosen_exactly_when_every_character_is_in_its_tables(text: str) -> None:
    in_tables = all(char in ONE_SEPTET or char in TWO_SEPTETS for char in text)

    assert is_gsm7(text=text) == in_tables
    assert count_sms(text=text).encoding == ("GSM-7" if in_tables else "UCS-2")


@QUICK
@given(text=_TEXTS)
def test_every_text_is_at_least_one_segment(text: str) -> None:
    assert count_sms(text=text).segments >= 1


@QUICK
@given(text=_TEXTS, more=st.text(_ALPHABET, min_size=1, max_size=80))
def test_appending_text_never_lowers_the_count(text: str, more: str) -> None:
    before, after = count_sms(text=text), count_sms(text=text + more)

    assert after.segments >= before.segments
    # A switch to UCS-2 can halve the units of escaped characters, never the segments.
    if after.encoding == before.encoding:
        assert after.units > before.units


@QUICK
@given(text=_TEXTS, budget=st.integers(min_value=0, max_value=8))
def test_fits_agrees_with_the_count(text: str, budget: int) -> None:
    assert fits(text=text, segments=budget) == (count_sms(text=text).segments <= budget)
