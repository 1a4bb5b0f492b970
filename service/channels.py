"""The channels a memo is relayed by: one name each, shared by routing, dispatch and providers."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    # A contact's own address: their mailbox or their phone.
    email = "email"
    sms = "sms"
    voice = "voice"
    # A company's chat destination (CONTRACT §8): a room, channel or user on a platform.
    slack = "slack"
    chatwork = "chatwork"
    lineworks = "lineworks"
    line = "line"
    teams = "teams"
    webhook = "webhook"


CONTACT_CHANNELS = frozenset({Channel.email, Channel.sms, Channel.voice})
CHAT_CHANNELS = frozenset(Channel) - CONTACT_CHANNELS


def is_chat(channel: Channel | str) -> bool:
    """Whether `channel` is a destination's platform rather than a contact's address."""
    return Channel(channel) in CHAT_CHANNELS
