"""Who at a company gets a memo, on which channels, and who is skipped and why."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from service.channels import Channel
from service.companies.config import CompanyConfig
from service.companies.validation import validate_document
from service.routing.optouts import opted_out_among, record_opt_out
from service.routing.service import (
    Recipient,
    Skipped,
    address_of,
    matching_rule,
    plan_recipients,
    route_memo,
)
from tests.factories import company_document

DIRECTOR_PHONE = "+819012345678"
DIRECTOR_EMAIL = "sato@example.jp"
OFFICE_EMAIL = "uketsuke@example.jp"
NIGHT_PHONE = "+819087654321"

# Beside the default routing: a night-duty contact reached by phone only, and a rule that
# needs both conditions.
CONTACTS = [
    {"key": "director", "name": "佐藤 院長", "email": DIRECTOR_EMAIL, "phone": DIRECTOR_PHONE},
    {"key": "office", "name": "受付", "email": OFFICE_EMAIL},
    {"key": "night", "name": "夜間当番", "phone": NIGHT_PHONE},
]
ROUTING = [
    {
        "when": {"urgency": "urgent", "category": "order"},
        "notify": ["night"],
        "channels": ["voice"],
    },
    {"when": {"urgency": "urgent"}, "notify": ["director"], "channels": ["sms", "email"]},
    {"when": {"category": "complaint"}, "notify": ["director", "office"], "channels": ["email"]},
    {"notify": ["office"], "channels": ["email"]},
]


@pytest.fixture
def config() -> CompanyConfig:
    return validate_document(company_document(contacts=CONTACTS, routing=ROUTING))


@pytest.mark.parametrize(
    ("category", "urgency", "rule"),
    [
        # Both conditions of the first rule met: it wins over the plain urgent one.
        ("order", "urgent", 0),
        # Only one of its two conditions met: the next rule that matches.
        ("complaint", "urgent", 1),
        ("inquiry", "urgent", 1),
        ("order", "normal", 3),
        # An urgent complaint matched the urgent rule above; a normal one reaches this.
        ("complaint", "normal", 2),
        # Nothing else matches: the last rule, the default.
        ("inquiry", "normal", 3),
        ("other", "normal", 3),
    ],
)
def test_the_first_rule_the_memo_meets_wins(
    config: CompanyConfig, category: str, urgency: str, rule: int
) -> None:
    assert matching_rule(config=config, category=category, urgency=urgency) is config.routing[rule]


def test_every_contact_of_the_rule_gets_it_on_every_channel_of_the_rule(
    config: CompanyConfig,
) -> None:
    urgent = route_memo(config=config, category="inquiry", urgency="urgent")
    assert urgent.recipients == [
        Recipient("director", Channel.sms, DIRECTOR_PHONE),
        Recipient("director", Channel.email, DIRECTOR_EMAIL),
    ]
    assert urgent.skipped == []

    complaint = route_memo(config=config, category="complaint", urgency="normal")
    assert complaint.recipients == [
        Recipient("director", Channel.email, DIRECTOR_EMAIL),
        Recipient("office", Channel.email, OFFICE_EMAIL),
    ]

    order = route_memo(config=config, category="order", urgency="urgent")
    assert order.recipients == [Recipient("night", Channel.voice, NIGHT_PHONE)]


def test_a_channel_reaches_the_contact_at_its_own_address(config: CompanyConfig) -> None:
    assert address_of(config=config, contact_key="director", channel=Channel.email) == (
        DIRECTOR_EMAIL
    )
    assert address_of(config=config, contact_key="director", channel=Channel.sms) == (
        DIRECTOR_PHONE
    )
    assert address_of(config=config, contact_key="director", channel=Channel.voice) == (
        DIRECTOR_PHONE
    )
    assert address_of(config=config, contact_key="office", channel=Channel.sms) is None
    assert address_of(config=config, contact_key="night", channel=Channel.email) is None
    with pytest.raises(KeyError):
        address_of(config=config, contact_key="gone", channel=Channel.email)


def test_a_contact_without_the_address_a_channel_needs_is_skipped_with_why(
    config: CompanyConfig,
) -> None:
    # As an escalation step planned before the company's contacts changed would ask.
    plan = plan_recipients(
        config=config,
        contact_keys=["office", "night", "gone"],
        channels=["email", "sms", "voice"],
    )
    assert plan.recipients == [
        Recipient("office", Channel.email, OFFICE_EMAIL),
        Recipient("night", Channel.sms, NIGHT_PHONE),
        Recipient("night", Channel.voice, NIGHT_PHONE),
    ]
    assert plan.skipped == [
        Skipped("office", Channel.sms, "no phone number for sms"),
        Skipped("office", Channel.voice, "no phone number for voice"),
        Skipped("night", Channel.email, "no email address for email"),
        Skipped("gone", Channel.email, "no such contact any more"),
        Skipped("gone", Channel.sms, "no such contact any more"),
        Skipped("gone", Channel.voice, "no such contact any more"),
    ]


def test_a_number_that_replied_stop_gets_no_sms_but_the_other_channels(
    config: CompanyConfig,
) -> None:
    asked: list[set[str]] = []

    def opted_out(phones: set[str]) -> frozenset[str]:
        asked.append(phones)
        return frozenset({DIRECTOR_PHONE})

    plan = route_memo(config=config, category="inquiry", urgency="urgent", opted_out=opted_out)

    assert asked == [{DIRECTOR_PHONE}]
    assert plan.recipients == [Recipient("director", Channel.email, DIRECTOR_EMAIL)]
    assert plan.skipped == [
        Skipped("director", Channel.sms, "the number replied STOP to our SMS"),
    ]
    # Voice calls still reach a number that opted out of SMS.
    voice = plan_recipients(
        config=config, contact_keys=["director"], channels=["voice"], opted_out=opted_out
    )
    assert voice.recipients == [Recipient("director", Channel.voice, DIRECTOR_PHONE)]


def test_opt_outs_are_looked_up_only_when_an_sms_would_go(config: CompanyConfig) -> None:
    asked: list[set[str]] = []

    def opted_out(phones: set[str]) -> frozenset[str]:
        asked.append(phones)
        return frozenset(phones)

    route_memo(config=config, category="complaint", urgency="normal", opted_out=opted_out)
    plan_recipients(config=config, contact_keys=["office"], channels=["sms"], opted_out=opted_out)
    plan_recipients(config=config, contact_keys=["gone"], channels=["sms"], opted_out=opted_out)
    assert asked == []

    plan_recipients(
        config=config,
        contact_keys=["director", "office", "night", "gone"],
        channels=["email", "sms"],
        opted_out=opted_out,
    )
    assert asked == [{DIRECTOR_PHONE, NIGHT_PHONE}]


def test_a_skip_is_kept_on_the_memo_as_a_plain_record() -> None:
    skipped = Skipped("director", Channel.sms, "the number replied STOP to our SMS")
    assert skipped.record() == {
        "contact": "director",
        "channel": "sms",
        "reason": "the number replied STOP to our SMS",
    }


def test_routing_skips_the_numbers_stored_as_opted_out(
    session: Session, config: CompanyConfig
) -> None:
    record_opt_out(session=session, phone=DIRECTOR_PHONE)
    record_opt_out(session=session, phone="+819000000000")
    session.commit()

    plan = route_memo(
        config=config,
        category="inquiry",
        urgency="urgent",
        opted_out=lambda phones: opted_out_among(session=session, phones=phones),
    )

    assert [recipient.channel for recipient in plan.recipients] == [Channel.email]
    assert [(skip.contact_key, skip.channel) for skip in plan.skipped] == [
        ("director", Channel.sms)
    ]
