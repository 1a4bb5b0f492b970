"""A sample memo written out as each channel would send it: what an admin sees while editing.

The words come from `render_memo_message`, the very function that writes each delivery, so
a preview is what a contact would get; the SMS is counted as carriers count it (encoding and
segments, hence its cost). Each chat destination's card comes from `chat_card`, as its
delivery's does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.channels import Channel
from service.i18n import N_, translate
from service.messages.chat import ChatCard, chat_card
from service.messages.context import CompanyFormat, MemoFacts, memo_context
from service.messages.render import DEFAULT_SMS_SEGMENTS, render_memo_message
from service.messages.sms import Encoding, count_sms

# The sample memo, in the company's language. Its phone numbers are made up (a Japanese
# mobile number, a North American 555 number).
SAMPLE_CALLER_NAME = N_("Taro Yamada")
SAMPLE_CALLER_COMPANY = N_("Yamada Trading Co., Ltd.")
SAMPLE_SUBJECT = N_("Mix-up over an appointment time")
SAMPLE_BODY = N_(
    "I was told my appointment was at 10:00, but reception said 11:00.\nPlease call me back."
)
SAMPLE_FIELD_VALUE = N_("(example)")
SAMPLE_PHONES = {"ja": "+819011112222", "en": "+12125550123"}
SAMPLE_ACK_CODE = "4821"


@dataclass(frozen=True)
class SampleMemo:
    """A memo that was never taken: the facts a message is written from."""

    caller_name: str | None
    caller_phone: str | None
    caller_company: str | None
    category: str
    urgency: str
    subject: str
    body: str
    fields: dict[str, Any] = field(default_factory=dict)
    ack_code: str = SAMPLE_ACK_CODE


def sample_memo(*, config: CompanyFormat, given: Mapping[str, Any] | None = None) -> SampleMemo:
    """The sample memo in the company's language, with whatever of it `given` replaces.

    `given` holds memo fields as `POST /api/v1/memos` takes them (`caller` a mapping of name,
    phone and company; `fields` the company's own), each already checked by the caller.
    """
    given = given or {}
    locale = config.locale
    caller = given.get("caller") or {}
    own = {item.key: translate(locale, SAMPLE_FIELD_VALUE) for item in config.fields}
    own.update({key: value for key, value in (given.get("fields") or {}).items()})

    def pick(mapping: Mapping[str, Any], key: str, default: str) -> str:
        value = mapping.get(key)
        return default if value is None else str(value)

    return SampleMemo(
        caller_name=pick(caller, "name", translate(locale, SAMPLE_CALLER_NAME)),
        caller_phone=pick(caller, "phone", SAMPLE_PHONES.get(locale, SAMPLE_PHONES["en"])) or None,
        caller_company=pick(caller, "company", translate(locale, SAMPLE_CALLER_COMPANY)) or None,
        category=pick(given, "category", "complaint"),
        urgency=pick(given, "urgency", "urgent"),
        subject=pick(given, "subject", translate(locale, SAMPLE_SUBJECT)),
        body=pick(given, "body", translate(locale, SAMPLE_BODY)),
        fields=own,
    )


@dataclass(frozen=True)
class EmailPreview:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class SmsPreview:
    text: str
    segments: int
    encoding: Encoding
    # Characters as carriers count them (GSM-7 septets or UCS-2 units), and the most segments
    # Relay lets one SMS take (a longer memo is shortened to fit).
    units: int
    budget: int


@dataclass(frozen=True)
class VoicePreview:
    text: str


@dataclass(frozen=True)
class ChatTo:
    """One chat destination a preview writes a card for, with its own acknowledgement."""

    key: str
    label: str
    kind: str
    ack_url: str
    ack_value: str  # the signed token its button or postback would carry
    mentions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ChatPreview:
    """One destination's card, as its delivery would carry it."""

    key: str
    label: str
    kind: str
    card: ChatCard


@dataclass(frozen=True)
class Preview:
    """One memo as each channel would send it to one contact, and as each destination's card."""

    email: EmailPreview
    sms: SmsPreview
    voice: VoicePreview
    chat: list[ChatPreview] = field(default_factory=list)


def preview_messages(
    *,
    memo: MemoFacts,
    company_name: str,
    config: CompanyFormat,
    contact_name: str,
    ack_url: str,
    received_at_local: datetime,
    operator_name: str,
    destinations: Sequence[ChatTo] = (),
) -> Preview:
    """`memo` rendered for email, SMS, a voice call-out and each destination, as deliveries are."""

    def render(channel: Channel) -> tuple[str, str, str | None]:
        message = render_memo_message(
            channel=channel,
            memo=memo,
            company_name=company_name,
            config=config,
            contact_name=contact_name,
            ack_url=ack_url,
            received_at_local=received_at_local,
            operator_name=operator_name,
        )
        return message.subject, message.text, message.html

    subject, text, html = render(Channel.email)
    _, sms_text, _ = render(Channel.sms)
    _, spoken, _ = render(Channel.voice)
    counted = count_sms(text=sms_text)
    chat = []
    for destination in destinations:
        context = memo_context(
            memo=memo,
            company_name=company_name,
            config=config,
            contact_name=destination.label,
            ack_url=destination.ack_url,
            received_at_local=received_at_local,
            operator_name=operator_name,
        )
        card = chat_card(
            context=context, ack_value=destination.ack_value, mentions=destination.mentions
        )
        chat.append(
            ChatPreview(
                key=destination.key, label=destination.label, kind=destination.kind, card=card
            )
        )
    return Preview(
        email=EmailPreview(subject=subject, text=text, html=html or ""),
        sms=SmsPreview(
            text=sms_text,
            segments=counted.segments,
            encoding=counted.encoding,
            units=counted.units,
            budget=DEFAULT_SMS_SEGMENTS,
        ),
        voice=VoicePreview(text=spoken),
        chat=chat,
    )
