"""Spoken TwiML: every <Say> carries catalogue words in the language its voice speaks."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from service.i18n import translate
from service.providers.twilio import callout_twiml, twiml

URL = "https://relay.example/twilio/voice/recording"


def says(document: str) -> list[tuple[str | None, str]]:
    root = ET.fromstring(document)
    return [(say.get("language"), say.text or "") for say in root.iter("Say")]


def is_japanese(text: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" for ch in text)


@pytest.mark.parametrize(("locale", "voice"), [("ja", "ja-JP"), ("en", "en-US")])
def test_voicemail_speaks_only_the_company_language(locale: str, voice: str) -> None:
    spoken = says(twiml.voicemail(locale=locale, recording_action_url=URL))

    assert spoken == [
        (voice, translate(locale, twiml.VOICEMAIL_PROMPT)),
        (voice, translate(locale, twiml.THANKS)),
    ]
    assert all(is_japanese(text) == (locale == "ja") for _, text in spoken)


@pytest.mark.parametrize(
    "document",
    [
        callout_twiml.acknowledged(locale="en"),
        callout_twiml.already_acknowledged(locale="en"),
        callout_twiml.not_confirmed(locale="en"),
        callout_twiml.reprompt(locale="en", gather_url=URL),
        twiml.hang_up(locale="en"),
    ],
)
def test_an_english_company_hears_no_japanese(document: str) -> None:
    spoken = says(document)

    assert spoken
    assert all(voice == "en-US" and not is_japanese(text) for voice, text in spoken)


@pytest.mark.parametrize("document", [twiml.unknown_number(), callout_twiml.unknown_callout()])
def test_with_no_company_each_language_has_its_own_say(document: str) -> None:
    (ja_voice, ja_text), (en_voice, en_text) = says(document)

    assert (ja_voice, en_voice) == ("ja-JP", "en-US")
    assert is_japanese(ja_text) and not is_japanese(en_text)
