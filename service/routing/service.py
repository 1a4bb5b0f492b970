"""Who at a company gets a memo, and on which channels."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from service.channels import Channel, is_chat
from service.companies.config import CompanyConfig, RoutingRule


@dataclass(frozen=True)
class Recipient:
    contact_key: str
    channel: Channel
    to: str


@dataclass(frozen=True)
class Skipped:
    contact_key: str
    channel: Channel
    reason: str

    def record(self) -> dict[str, str]:
        """As a memo keeps it in `skipped`."""
        return {"contact": self.contact_key, "channel": self.channel.value, "reason": self.reason}


@dataclass(frozen=True)
class RoutePlan:
    recipients: list[Recipient]
    skipped: list[Skipped]


def matching_rule(*, config: CompanyConfig, category: str, urgency: str) -> RoutingRule:
    """The first rule whose conditions the memo meets; the last rule is the default."""
    for rule in config.routing:
        when = rule.when
        if when is None:
            return rule
        if (when.urgency is None or when.urgency == urgency) and (
            when.category is None or when.category == category
        ):
            return rule
    return config.routing[-1]


def address_of(*, config: CompanyConfig, contact_key: str, channel: Channel) -> str | None:
    """Where a contact or destination is reached on a channel, if it can be; KeyError if gone."""
    if is_chat(channel):
        destination = config.destination(contact_key)
        return destination.address if destination.kind == channel else None
    contact = config.contact(contact_key)
    return contact.email if channel == Channel.email else contact.phone


def _is_destination(config: CompanyConfig, key: str) -> bool:
    return any(destination.key == key for destination in config.destinations)


def _sms_numbers(
    *, config: CompanyConfig, contact_keys: Iterable[str], channels: Iterable[str]
) -> set[str]:
    """The phones an SMS would go to, so their opt-outs can be looked up before planning."""
    if Channel.sms.value not in channels:
        return set()
    phones = set()
    for key in contact_keys:
        try:
            phone = config.contact(key).phone
        except KeyError:
            continue
        if phone:
            phones.add(phone)
    return phones


# Asked which of the given SMS numbers sent STOP; not asked when there are none.
OptedOut = Callable[[set[str]], frozenset[str]]


def _none_opted_out(phones: set[str]) -> frozenset[str]:
    return frozenset()


def plan_recipients(
    *,
    config: CompanyConfig,
    contact_keys: Iterable[str],
    channels: Iterable[str],
    opted_out: OptedOut = _none_opted_out,
) -> RoutePlan:
    """One recipient per contact and channel; those that cannot be reached are skipped with why."""
    contact_keys, channels = list(contact_keys), list(channels)
    phones = _sms_numbers(config=config, contact_keys=contact_keys, channels=channels)
    stopped = opted_out(phones) if phones else frozenset()
    recipients: list[Recipient] = []
    skipped: list[Skipped] = []
    for key in contact_keys:
        destination = _is_destination(config, key)
        for name in channels:
            channel = Channel(name)
            if destination != is_chat(channel):
                continue  # a contact is not reached by chat, nor a destination by email
            try:
                address = address_of(config=config, contact_key=key, channel=channel)
            except KeyError:
                skipped.append(Skipped(key, channel, "no such contact any more"))
                continue
            if address is None and destination:
                continue  # another platform's channel: this destination is not on it
            if address is None:
                what = "email address" if channel == Channel.email else "phone number"
                skipped.append(Skipped(key, channel, f"no {what} for {channel.value}"))
            elif channel == Channel.sms and address in stopped:
                skipped.append(Skipped(key, channel, "the number replied STOP to our SMS"))
            else:
                recipients.append(Recipient(key, channel, address))
    return RoutePlan(recipients=recipients, skipped=skipped)


def route_memo(
    *, config: CompanyConfig, category: str, urgency: str, opted_out: OptedOut = _none_opted_out
) -> RoutePlan:
    """The recipients of a new memo by the company's routing rules."""
    rule = matching_rule(config=config, category=category, urgency=urgency)
    return plan_recipients(
        config=config, contact_keys=rule.notify, channels=rule.channels, opted_out=opted_out
    )
