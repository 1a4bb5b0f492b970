"""The ja and en catalogues: complete, in line with the code, and read the way pages use them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po

from service.i18n import (
    LOCALES,
    catalogue_path,
    format_moment,
    negotiate,
    translate,
    translate_plural,
)
from service.i18n.extract import extract


def _catalogue(locale: str):  # type: ignore[no-untyped-def]
    with catalogue_path(locale).open("rb") as po:
        return read_po(po, locale=locale)


def _strings(string: str | tuple[str, ...]) -> tuple[str, ...]:
    return string if isinstance(string, tuple) else (string,)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_has_a_translation(locale: str) -> None:
    catalogue = _catalogue(locale)

    untranslated = [m.id for m in catalogue if m.id and not all(_strings(m.string))]
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]

    assert len(catalogue) > 0
    assert untranslated == []
    assert fuzzy == []


@pytest.mark.parametrize("locale", LOCALES)
def test_the_catalogue_holds_exactly_the_messages_the_code_marks(locale: str) -> None:
    marked = {m.id for m in extract() if m.id}
    held = {m.id for m in _catalogue(locale) if m.id}

    assert sorted(map(str, marked - held)) == [], "run: python -m service.i18n.extract"
    assert sorted(map(str, held - marked)) == [], "run: python -m service.i18n.extract"


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_are_the_same_in_the_translation(locale: str) -> None:
    import re

    placeholder = re.compile(r"%\(\w+\)[sd]")
    for message in _catalogue(locale):
        if not message.id:
            continue
        wanted = set(placeholder.findall(" ".join(_strings(message.id))))
        for string in _strings(message.string):
            assert set(placeholder.findall(string)) <= wanted, message.id
            # A singular may leave out the number ("%(num)d秒" has one form only), nothing else.
            assert wanted - set(placeholder.findall(string)) <= {"%(num)d"}, message.id


def test_plurals_follow_the_count_in_english_and_have_one_form_in_japanese() -> None:
    one = translate_plural("en", "%(num)d second", "%(num)d seconds", 1) % {"num": 1}
    two = translate_plural("en", "%(num)d second", "%(num)d seconds", 2) % {"num": 2}
    japanese = translate_plural("ja", "%(num)d second", "%(num)d seconds", 2) % {"num": 2}

    assert (one, two, japanese) == ("1 second", "2 seconds", "2秒")


def test_one_wording_per_meaning_in_japanese() -> None:
    assert translate("ja", "Inquiry") == "お問い合わせ"
    assert translate("ja", "Confirmed") == "確認済み"


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("en-US,en;q=0.9", "en"),
        ("ja,en-US;q=0.8", "ja"),
        ("fr-FR, en;q=0.5, ja;q=0.4", "en"),
        ("en;q=0.2, ja;q=0.9", "ja"),
        ("fr", "ja"),
        ("", "ja"),
        (None, "ja"),
        ("*", "ja"),
        ("en;q=zero, ja;q=0.1", "ja"),
        (";;,,q=1", "ja"),
    ],
)
def test_the_readers_language_from_accept_language(header: str | None, locale: str) -> None:
    assert negotiate(header) == locale


def test_times_are_written_by_each_language_in_the_given_zone() -> None:
    moment = datetime(2026, 12, 1, 5, 5, tzinfo=UTC)
    tokyo, new_york = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")

    assert format_moment(moment, locale="ja", zone=tokyo) == "2026年12月1日(火) 14:05"
    assert format_moment(moment, locale="ja", zone=tokyo, short=True) == "12/1 14:05"
    assert format_moment(moment, locale="en", zone=new_york) == "Tue, Dec 1, 2026 00:05"


def test_the_scripts_get_only_their_own_messages_with_plural_forms_as_lists() -> None:
    from service.i18n import script_catalogue

    japanese = script_catalogue("ja")
    english = script_catalogue("en")

    assert japanese["locale"] == "ja" and english["locale"] == "en"
    ja_messages = japanese["messages"]
    en_messages = english["messages"]
    assert isinstance(ja_messages, dict) and isinstance(en_messages, dict)
    assert ja_messages["Complaint"] == "苦情"
    assert ja_messages["Confirmed"] == "確認済み"
    assert en_messages["under 1 min"] == "under 1 min"
    # Words only the server uses stay out of the page's script catalogue.
    assert "Wrong email or password." not in ja_messages


def test_the_scripts_get_real_plural_forms_for_counts() -> None:
    from service.i18n import script_catalogue

    english = script_catalogue("en")["messages"]
    japanese = script_catalogue("ja")["messages"]
    assert isinstance(english, dict) and isinstance(japanese, dict)

    assert english["%(num)d try"] == ["%(num)d try", "%(num)d tries"]
    assert japanese["%(num)d try"] == ["試行 %(num)d回"]
    # Words inside template literals are found too.
    assert japanese["Call:"] == "かける先"
