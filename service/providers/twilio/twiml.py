"""TwiML answers to inbound calls, built with the `twilio` package."""

from __future__ import annotations

from twilio.twiml.voice_response import Dial, VoiceResponse

from service.i18n import LOCALES, N_, supported, translate

LANGUAGES = {"ja": "ja-JP", "en": "en-US"}

UNKNOWN_NUMBER = N_(
    "Thank you for calling. This number is not in service with us. "
    "Please check the number and call again."
)
VOICEMAIL_PROMPT = N_(
    "All of our staff are busy at the moment. After the tone, please leave your name, "
    "what you are calling about and a number to call you back. We will return your call."
)
THANKS = N_("Thank you. Goodbye.")


def language(locale: str) -> str:
    """Twilio's <Say> language for a company locale."""
    return LANGUAGES[supported(locale)]


def say(response: VoiceResponse, message: str, *, locale: str) -> None:
    """Speak catalogue `message` in `locale`, with the voice of that language."""
    locale = supported(locale)
    response.say(translate(locale, message), language=language(locale))


def ring_operators(
    *,
    targets: list[str],
    timeout: int,
    dial_action_url: str,
    company_slug: str,
    company_name: str,
) -> str:
    """Ring every operator target at once; Twilio calls `dial_action_url` when it ends."""
    response = VoiceResponse()
    dial = Dial(answer_on_bridge=True, timeout=timeout, action=dial_action_url, method="POST")
    for target in targets:
        if target.startswith("client:"):
            client = dial.client()
            client.identity(target.removeprefix("client:"))
            # The softphone learns which company was called before the operator says a word.
            client.parameter(name="client", value=company_slug)
            client.parameter(name="client_name", value=company_name)
        elif target.startswith("sip:"):
            dial.sip(target)
        else:
            dial.number(target)
    response.append(dial)
    return str(response)


def voicemail(*, locale: str, recording_action_url: str, greeting: str = "") -> str:
    """Apologise that nobody could answer and record a message for the company."""
    response = VoiceResponse()
    lang = language(locale)
    if greeting:
        response.say(greeting, language=lang)
    say(response, VOICEMAIL_PROMPT, locale=locale)
    response.record(
        action=recording_action_url, method="POST", max_length=180, play_beep=True, timeout=5
    )
    say(response, THANKS, locale=locale)
    return str(response)


def unknown_number() -> str:
    """A polite answer for a number that belongs to no client company."""
    response = VoiceResponse()
    # No company, so no locale: each language in turn, each in its own voice.
    for locale in LOCALES:
        say(response, UNKNOWN_NUMBER, locale=locale)
    response.hangup()
    return str(response)


def hang_up(*, locale: str) -> str:
    """Close a finished call politely."""
    response = VoiceResponse()
    say(response, THANKS, locale=locale)
    response.hangup()
    return str(response)


def empty() -> str:
    """A TwiML answer that does nothing."""
    return str(VoiceResponse())
