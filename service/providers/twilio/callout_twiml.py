"""TwiML for the call-out: Relay reads a memo's summary to a contact and takes one key."""

from __future__ import annotations

from twilio.twiml.voice_response import Gather, VoiceResponse

from service.i18n import LOCALES, N_, translate
from service.providers.twilio.twiml import language, say

# Seconds Twilio waits for the key after the summary has been read.
KEY_TIMEOUT = 8

NO_KEY = N_("We could not confirm receipt. We will contact you again later. Goodbye.")
THANKS = N_("Thank you. Your receipt of the message is confirmed. Goodbye.")
ALREADY = N_("This message has already been acknowledged. Thank you. Goodbye.")
REPROMPT = N_("Sorry. Press 1 to acknowledge this message, or press 2 to hear it again.")
UNKNOWN = N_(
    "This is the answering service. We are sorry, we could not find "
    "what this call is about. Goodbye."
)


def _gather(*, text: str, locale: str, action_url: str) -> VoiceResponse:
    """Speak `text` while listening for one key, then close if none came."""
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=action_url, method="POST", timeout=KEY_TIMEOUT)
    gather.say(text, language=language(locale))
    response.append(gather)
    say(response, NO_KEY, locale=locale)
    response.hangup()
    return response


def read_summary(*, summary: str, locale: str, gather_url: str) -> str:
    """Read the memo's spoken summary and wait for 1 (acknowledge) or 2 (again)."""
    return str(_gather(text=summary, locale=locale, action_url=gather_url))


def reprompt(*, locale: str, gather_url: str) -> str:
    """Ask once more for 1 or 2 after a key that means nothing."""
    return str(_gather(text=translate(locale, REPROMPT), locale=locale, action_url=gather_url))


def _say_and_hang_up(message: str, *, locale: str) -> str:
    response = VoiceResponse()
    say(response, message, locale=locale)
    response.hangup()
    return str(response)


def acknowledged(*, locale: str) -> str:
    """Thank the contact for confirming and hang up."""
    return _say_and_hang_up(THANKS, locale=locale)


def already_acknowledged(*, locale: str) -> str:
    """Say the memo was confirmed before and hang up."""
    return _say_and_hang_up(ALREADY, locale=locale)


def not_confirmed(*, locale: str) -> str:
    """Close politely without a confirmation."""
    return _say_and_hang_up(NO_KEY, locale=locale)


def unknown_callout() -> str:
    """A polite answer for a call-out Relay cannot place (no such delivery)."""
    response = VoiceResponse()
    # No delivery, so no locale: each language in turn, each in its own voice.
    for locale in LOCALES:
        say(response, UNKNOWN, locale=locale)
    response.hangup()
    return str(response)
