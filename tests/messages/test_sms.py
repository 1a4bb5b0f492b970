"""SMS length counted as carriers count it."""

from __future__ import annotations

import pytest

from service.messages.sms import SmsCount, count_sms, fits, is_gsm7


@pytest.mark.parametrize(
    ("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)]
)
def test_gsm7_segments_hold_160_alone_and_153_when_joined(length: int, segments: int) -> None:
    assert count_sms(text="a" * length) == SmsCount("GSM-7", length, segments)


@pytest.mark.parametrize(
    ("length", "segments"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_ucs2_segments_hold_70_alone_and_67_when_joined(length: int, segments: int) -> None:
    assert count_sms(text="あ" * length) == SmsCount("UCS-2", length, segments)


def test_gsm7_extension_characters_count_two() -> None:
    assert count_sms(text="€[]{}^~|\\") == SmsCount("GSM-7", 18, 1)
    assert count_sms(text="€" * 80) == SmsCount("GSM-7", 160, 1)
    assert count_sms(text="€" * 81) == SmsCount("GSM-7", 162, 2)


def test_an_extension_character_is_never_split_across_segments() -> None:
    # 306 units would fit two segments, but the € cannot start in one and end in the next.
    text = "a" * 152 + "€" + "a" * 152

    assert count_sms(text=text) == SmsCount("GSM-7", 306, 3)


def test_accented_letters_of_the_gsm_alphabet_stay_gsm7() -> None:
    assert count_sms(text="Café £5 à Zürich @ 10:00\nEspaña ¿Qué? Ø_Δ").encoding == "GSM-7"


def test_one_character_outside_gsm7_sends_the_whole_message_as_ucs2() -> None:
    assert is_gsm7(text="a" * 69) is True
    assert count_sms(text="a" * 69 + "á") == SmsCount("UCS-2", 70, 1)
    assert count_sms(text="Call back… please").encoding == "UCS-2"


def test_an_emoji_takes_two_ucs2_units() -> None:
    assert count_sms(text="😀") == SmsCount("UCS-2", 2, 1)
    assert count_sms(text="😀" * 35) == SmsCount("UCS-2", 70, 1)
    assert count_sms(text="😀" * 36) == SmsCount("UCS-2", 72, 2)


def test_a_surrogate_pair_is_never_split_across_segments() -> None:
    text = "あ" * 66 + "😀" + "あ" * 66

    assert count_sms(text=text) == SmsCount("UCS-2", 134, 3)


def test_japanese_is_ucs2_one_unit_a_character() -> None:
    text = "【至急】さくら歯科クリニック 苦情 山田 太郎様 090-1111-2222"

    assert count_sms(text=text) == SmsCount("UCS-2", len(text), 1)


def test_an_empty_text_is_one_segment() -> None:
    assert count_sms(text="") == SmsCount("GSM-7", 0, 1)


def test_fits_compares_segments_with_a_budget() -> None:
    assert fits(text="あ" * 201, segments=3)
    assert not fits(text="あ" * 202, segments=3)
