"""Who at a company gets a memo, and on which channels."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from service.companies.schema import CompanyConfig, RoutingRule
from service.providers.base import Channel


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
    """Where a contact is reached on a channel, if it can be."""
    contact = config.contact(contact_key)
    return contact.email if channel == Channel.email else contact.phone


def sms_numbers(
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


def plan_recipients(
    *,
    config: CompanyConfig,
    contact_keys: Iterable[str],
    channels: Iterable[str],
    opted_out: frozenset[str] = frozenset(),
) -> RoutePlan:
    """One recipient per contact and channel; those that cannot be reached are skipped with why."""
    recipients: list[Recipient] = []
    skipped: list[Skipped] = []
    for key in contact_keys:
        for name in channels:
            channel = Channel(name)
            try:
                address = address_of(config=config, contact_key=key, channel=channel)
            except KeyError:
                skipped.append(Skipped(key, channel, "no such contact any more"))
                continue
            if address is None:
                what = "email address" if channel == Channel.email else "phone number"
                skipped.append(Skipped(key, channel, f"no {what} for {channel.value}"))
            elif channel == Channel.sms and address in opted_out:
                skipped.append(Skipped(key, channel, "the number replied STOP to our SMS"))
            else:
                recipients.append(Recipient(key, channel, address))
    return RoutePlan(recipients=recipients, skipped=skipped)


def route_memo(
    *,
    config: CompanyConfig,
    category: str,
    urgency: str,
    opted_out: Callable[[set[str]], frozenset[str]] = lambda phones: frozenset(),
) -> RoutePlan:
    """The recipients of a new memo by the company's routing rules.

    `opted_out` is asked which of the rule's SMS numbers sent STOP.
    """
    rule = matching_rule(config=config, category=category, urgency=urgency)
    phones = sms_numbers(config=config, contact_keys=rule.notify, channels=rule.channels)
    return plan_recipients(
        config=config,
        contact_keys=rule.notify,
        channels=rule.channels,
        opted_out=opted_out(phones) if phones else frozenset(),
    )
