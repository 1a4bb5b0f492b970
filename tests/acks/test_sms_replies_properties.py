"""Reading an SMS reply: any text is read without error, and width or case never changes it.

A reply is whatever a contact's phone sends: emoji, Japanese, full-width digits typed on a
Japanese keyboard, pages of text. `parse_reply` must answer for all of it (an exception would
be a 500 to the provider, which retries the webhook), and it promises to read a reply after
NFKC folding, collapsing spaces and upper-casing: so a code or STOP typed in full-width forms
or in any case reads exactly as its ASCII form, and the folding itself is stable.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service.acks.sms_replies import BARE_OK, ReplyKind, normalise_reply, parse_reply
from service.routing.optouts import START_WORDS, STOP_WORDS

QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any character a phone can send: surrogates cannot travel alone in UTF-8 or UCS-2.
_CHARS = st.characters(exclude_categories=["Cs"])
_WIDE = str.maketrans(
    {
        **{chr(code): chr(code + 0xFEE0) for code in range(0x21, 0x7F)},
        " ": "\u3000",
    }
)
# The separators the grammar allows between a word and a code, in ASCII.
_SEPARATORS = st.text(st.sampled_from(list(" ,.:;-")), max_size=3)


def _wide(text: str) -> str:
    """`text` as a Japanese keyboard types it in full-width mode."""
    return text.translate(_WIDE)


@QUICK
@given(body=st.text(_CHARS, max_size=200))
@example(body="٤٨٢١")  # Arabic-Indic digits used to come back as the code "٤٨٢١"
def test_any_reply_is_read_as_something(body: str) -> None:
    parsed = parse_reply(body)

    assert parsed.kind in ReplyKind
    if parsed.kind == ReplyKind.code:
        assert parsed.code is not None
        assert len(parsed.code) in (4, 6)
        # The code is compared with the stored one, which is ASCII digits.
        assert parsed.code.isascii() and parsed.code.isdigit()
    else:
        assert parsed.code is None


@settings(max_examples=10, deadline=None)
@given(chunk=st.text(_CHARS, min_size=1, max_size=20), repeat=st.integers(1_000, 5_000))
def test_a_very_long_reply_is_read_quickly(chunk: str, repeat: int) -> None:
    assert parse_reply(chunk * repeat).kind in ReplyKind


@QUICK
@given(body=st.text(_CHARS, max_size=80))
@example(body="ΐ")  # upper-cased, it used to stay decomposed until folded a second time
@example(body="ok ΰ 4821")
def test_folding_a_reply_twice_changes_nothing_more(body: str) -> None:
    once = normalise_reply(body)

    assert normalise_reply(once) == once
    assert once == once.strip()
    assert "  " not in once


@QUICK
@given(body=st.text(_CHARS, max_size=80))
def test_a_reply_reads_the_same_as_its_folded_text(body: str) -> None:
    assert parse_reply(normalise_reply(body)) == parse_reply(body)


@QUICK
@given(
    code=st.from_regex(r"[0-9]{4}|[0-9]{6}", fullmatch=True),
    word=st.sampled_from(sorted(BARE_OK)),
    place=st.sampled_from(["none", "before", "after"]),
    separator=_SEPARATORS,
    lower=st.booleans(),
    spaces=st.sampled_from(["", " ", "  ", "\t", "\n", "\u3000"]),
)
def test_a_code_in_full_width_reads_as_the_ascii_code(
    code: str, word: str, place: str, separator: str, lower: bool, spaces: str
) -> None:
    word = word.lower() if lower else word
    if place == "before":
        ascii_reply = f"{word}{separator}{code}"
    elif place == "after":
        ascii_reply = f"{code}{separator}{word}"
    else:
        ascii_reply = code
    ascii_reply = f"{spaces}{ascii_reply}{spaces}"

    parsed = parse_reply(ascii_reply)

    assert (parsed.kind, parsed.code) == (ReplyKind.code, code)
    assert parse_reply(_wide(ascii_reply)) == parsed


@QUICK
@given(
    word=st.sampled_from(sorted(STOP_WORDS | START_WORDS | BARE_OK)),
    cases=st.lists(st.booleans(), min_size=20, max_size=20),
    wide=st.booleans(),
    trailing=st.text(st.sampled_from(list(" .!?。！？")), max_size=3),
)
def test_a_keyword_reads_the_same_in_any_case_width_and_trailing_punctuation(
    word: str, cases: list[bool], wide: bool, trailing: str
) -> None:
    typed = "".join(
        c.lower() if lower else c for c, lower in zip(word, cases[: len(word)], strict=True)
    )
    body = (_wide(typed) if wide else typed) + trailing

    expected = (
        ReplyKind.stop
        if word in STOP_WORDS
        else ReplyKind.start
        if word in START_WORDS
        else ReplyKind.ok
    )
    assert parse_reply(body).kind == expected


@QUICK
@given(digits=st.from_regex(r"[0-9]{1,3}|[0-9]{5}|[0-9]{7,12}", fullmatch=True))
def test_a_number_of_another_length_is_not_a_code(digits: str) -> None:
    assert parse_reply(digits).kind == ReplyKind.other
    assert parse_reply(_wide(digits)).kind == ReplyKind.other


# Decimal digits of other scripts, as phones set to those languages type them.
_DIGITS = {"arabic-indic": 0x0660, "devanagari": 0x0966, "thai": 0x0E50, "bold": 0x1D7CE}


@QUICK
@given(
    code=st.from_regex(r"[0-9]{4}|[0-9]{6}", fullmatch=True),
    script=st.sampled_from(sorted(_DIGITS)),
    word=st.sampled_from(["", "OK ", "了解 "]),
)
def test_a_code_in_the_digits_of_any_script_reads_as_the_ascii_code(
    code: str, script: str, word: str
) -> None:
    written = "".join(chr(_DIGITS[script] + int(digit)) for digit in code)

    parsed = parse_reply(word + written)

    assert (parsed.kind, parsed.code) == (ReplyKind.code, code)
