"""TwiML for the call-out: Relay reads a memo's summary to a contact and takes one key."""

from __future__ import annotations

from twilio.twiml.voice_response import Gather, VoiceResponse

from service.providers.twilio.twiml import language

# Seconds Twilio waits for the key after the summary has been read.
KEY_TIMEOUT = 8

_WORDS = {
    "ja": {
        "no_key": "確認が取れませんでした。後ほど改めてご連絡いたします。失礼いたします。",
        "thanks": "ありがとうございます。受領を確認いたしました。失礼いたします。",
        "already": "このご伝言は、すでに受領確認済みです。ありがとうございました。失礼いたします。",
        "reprompt": (
            "恐れ入ります。ご確認いただけましたら1を、もう一度お聞きになる場合は2を押してください。"
        ),
        "unknown": (
            "こちらは電話代行サービスです。"
            "恐れ入りますが、このご連絡の内容を確認できませんでした。失礼いたします。"
        ),
    },
    "en": {
        "no_key": "We could not confirm receipt. We will contact you again later. Goodbye.",
        "thanks": "Thank you. Your receipt of the message is confirmed. Goodbye.",
        "already": "This message has already been acknowledged. Thank you. Goodbye.",
        "reprompt": "Sorry. Press 1 to acknowledge this message, or press 2 to hear it again.",
        "unknown": (
            "This is the answering service. We are sorry, we could not find "
            "what this call is about. Goodbye."
        ),
    },
}


def _words(locale: str) -> dict[str, str]:
    return _WORDS.get(locale, _WORDS["en"])


def _gather(*, text: str, locale: str, action_url: str) -> VoiceResponse:
    """Speak `text` while listening for one key, then close if none came."""
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=action_url, method="POST", timeout=KEY_TIMEOUT)
    gather.say(text, language=language(locale))
    response.append(gather)
    response.say(_words(locale)["no_key"], language=language(locale))
    response.hangup()
    return response


def read_summary(*, summary: str, locale: str, gather_url: str) -> str:
    """Read the memo's spoken summary and wait for 1 (acknowledge) or 2 (again)."""
    return str(_gather(text=summary, locale=locale, action_url=gather_url))


def reprompt(*, locale: str, gather_url: str) -> str:
    """Ask once more for 1 or 2 after a key that means nothing."""
    return str(_gather(text=_words(locale)["reprompt"], locale=locale, action_url=gather_url))


def _say_and_hang_up(text: str, *, locale: str) -> str:
    response = VoiceResponse()
    response.say(text, language=language(locale))
    response.hangup()
    return str(response)


def acknowledged(*, locale: str) -> str:
    """Thank the contact for confirming and hang up."""
    return _say_and_hang_up(_words(locale)["thanks"], locale=locale)


def already_acknowledged(*, locale: str) -> str:
    """Say the memo was confirmed before and hang up."""
    return _say_and_hang_up(_words(locale)["already"], locale=locale)


def not_confirmed(*, locale: str) -> str:
    """Close politely without a confirmation."""
    return _say_and_hang_up(_words(locale)["no_key"], locale=locale)


def unknown_callout() -> str:
    """A polite answer for a call-out Relay cannot place (no such delivery)."""
    response = VoiceResponse()
    response.say(_WORDS["ja"]["unknown"], language="ja-JP")
    response.say(_WORDS["en"]["unknown"], language="en-US")
    response.hangup()
    return str(response)
