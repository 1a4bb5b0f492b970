"""The names a memo format can use, the same in the default formats and in a company's overrides.

- `company`: the client company's name, e.g. さくら歯科クリニック
- `contact_name`: the person the message goes to, e.g. 佐藤 院長 (write `{{ contact_name }}様`)
- `received_at`: when the call was taken, in the company's time zone: 2025年4月1日(火) 14:05;
  `received_at_short`: the same for SMS, 4/1 14:05
- `caller.name`, `caller.company`: who called, and for which company (empty when not given)
- `caller.phone`: the number to call back as E.164 (+819011112222), empty when unknown;
  `caller.phone_display`: the same as written in the company's country (090-1111-2222)
- `category`: complaint, inquiry, callback, order or other; `category_label`: the same in the
  company's language (Complaint, Inquiry, … in English; 苦情, お問い合わせ, … in Japanese)
- `urgency`: normal or urgent; `urgent`: true for an urgent memo; `urgency_label`: 至急 / 通常
- `subject`, `body`: the memo's subject and details as the operator wrote them
- `fields`: the company's own memo fields that have a value, in order, each a label and a value:
  `{% for label, value in fields %}{{ label }}: {{ value }}{% endfor %}` (or `field.label`)
- `ack_code`: the code that acknowledges the memo, e.g. 4821
- `ack_url`: this recipient's acknowledgement link
- `operator`: the name of the operator who took the call
- `memo`: the memo's facts grouped: `memo.subject`, `memo.body`, `memo.caller.name`, …

In an email subject, an SMS and a voice summary every value is on one line (line breaks in what
the caller said become spaces). A name that does not exist refuses the template when it is saved.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from service.i18n import N_, format_moment, translate
from service.phones import display_for


# What rendering reads of a memo and of its company: structural types, so the messages
# stay below both (companies check their templates here; memos.models.Memo and
# companies.config.CompanyConfig are what callers pass).
class CompanyField(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def label(self) -> str: ...


class CompanyFormat(Protocol):
    @property
    def slug(self) -> str: ...
    @property
    def locale(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def fields(self) -> Sequence[CompanyField]: ...
    @property
    def templates(self) -> object: ...


class MemoFacts(Protocol):
    @property
    def caller_name(self) -> str | None: ...
    @property
    def caller_phone(self) -> str | None: ...
    @property
    def caller_company(self) -> str | None: ...
    @property
    def category(self) -> str: ...
    @property
    def urgency(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def fields(self) -> dict[str, Any]: ...
    @property
    def ack_code(self) -> str: ...


# Translated into the company's language where a memo is shown.
CATEGORY_LABELS = {
    "complaint": N_("Complaint"),
    "inquiry": N_("Inquiry"),
    "callback": N_("Callback request"),
    "order": N_("Order"),
    "other": N_("Other"),
}
URGENCY_LABELS = {"urgent": N_("Urgent"), "normal": N_("Normal")}
# Line breaks of every kind (each character str.splitlines() splits at, as Python's email
# library does when it refuses a header), with the spaces around them; other spaces (全角 too)
# stay as typed.
LINE_BREAKS = "\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029"
_BREAKS = re.compile(rf"[ \t]*[{LINE_BREAKS}]+[ \t]*")
# What may not stand in an email header: line breaks and every other control character.
NOT_IN_HEADER = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NOT_IN_HEADER_RUN = re.compile(rf"[ \t]*(?:{NOT_IN_HEADER.pattern}[ \t]*)+")


class FieldValue(NamedTuple):
    """One of the company's own memo fields, as a template sees it."""

    label: str
    value: str


def format_received(*, moment: datetime, locale: str) -> tuple[str, str]:
    """`moment` written in full and short, the way people of `locale` write it."""
    zone = moment.tzinfo or ZoneInfo("UTC")
    return (
        format_moment(moment, locale=locale, zone=zone),
        format_moment(moment, locale=locale, zone=zone, short=True),
    )


def phone_for(*, e164: str | None, country: str) -> str:
    """A caller's number as written in `country`: national at home, international otherwise."""
    return display_for(e164, country=country)


def _field_values(*, values: dict[str, Any], config: CompanyFormat) -> list[FieldValue]:
    yes, no = translate(config.locale, "Yes"), translate(config.locale, "No")
    labels = {field.key: field.label for field in config.fields}
    declared = [key for key in labels if key in values]
    ordered = declared + [key for key in values if key not in labels]
    found: list[FieldValue] = []
    for key in ordered:
        value = values[key]
        if value is None or value == "":
            continue
        text = (yes if value else no) if isinstance(value, bool) else str(value)
        found.append(FieldValue(labels.get(key, key), text))
    return found


def _label(labels: dict[str, str], value: str, locale: str) -> str:
    message = labels.get(value)
    return translate(locale, message) if message else value


def build_context(
    *,
    locale: str,
    company: str,
    contact_name: str,
    received_at: datetime,
    caller: dict[str, str],
    category: str,
    urgency: str,
    subject: str,
    body: str,
    fields: list[FieldValue],
    ack_code: str,
    ack_url: str,
    operator: str,
) -> dict[str, Any]:
    """The names of the module docstring, from plain values."""
    full, short = format_received(moment=received_at, locale=locale)
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    memo = {
        "subject": subject,
        "body": body,
        "category": category,
        "category_label": _label(CATEGORY_LABELS, category, locale),
        "urgency": urgency,
        "urgency_label": _label(URGENCY_LABELS, urgency, locale),
        "urgent": urgency == "urgent",
        "caller": caller,
        "fields": fields,
        "ack_code": ack_code,
        "received_at": full,
        "received_at_short": short,
    }
    context: dict[str, Any] = {
        **memo,
        "company": company,
        "contact_name": contact_name,
        "ack_url": ack_url,
        "operator": operator,
        "locale": locale,
        "memo": memo,
    }
    return context


def memo_context(
    *,
    memo: MemoFacts,
    company_name: str,
    config: CompanyFormat,
    contact_name: str,
    ack_url: str,
    received_at_local: datetime,
    operator_name: str,
) -> dict[str, Any]:
    """What a template of `config` sees of `memo`, for one recipient."""
    caller = {
        "name": memo.caller_name or "",
        "phone": memo.caller_phone or "",
        "phone_display": phone_for(e164=memo.caller_phone, country=config.country),
        "company": memo.caller_company or "",
    }
    return build_context(
        locale=config.locale,
        company=company_name,
        contact_name=contact_name,
        received_at=received_at_local,
        caller=caller,
        category=str(memo.category),
        urgency=str(memo.urgency),
        subject=memo.subject,
        body=memo.body,
        fields=_field_values(values=memo.fields or {}, config=config),
        ack_code=memo.ack_code,
        ack_url=ack_url,
        operator=operator_name,
    )


SAMPLE_ACK_URL = "https://relay.example.jp/a/SAMPLE-TOKEN"


def sample_contexts(*, locale: str = "ja") -> list[dict[str, Any]]:
    """Two made-up memos that take every branch a template may have: one full, one sparse."""
    moment = datetime(2025, 4, 1, 14, 5, tzinfo=ZoneInfo("Asia/Tokyo"))
    full = build_context(
        locale=locale,
        company="さくら歯科クリニック",
        contact_name="佐藤 院長",
        received_at=moment,
        caller={
            "name": "山田 太郎",
            "phone": "+819011112222",
            "phone_display": "090-1111-2222",
            "company": "山田商事株式会社",
        },
        category="complaint",
        urgency="urgent",
        subject="予約時間の行き違い",
        body="10時の予約と伺っていたが、受付では11時と言われた。\n折り返しのお電話を希望。",
        fields=[FieldValue("診察券番号", "12345"), FieldValue("ご来院予定", "4月3日")],
        ack_code="4821",
        ack_url=SAMPLE_ACK_URL,
        operator="鈴木",
    )
    sparse = build_context(
        locale=locale,
        company="さくら歯科クリニック",
        contact_name="受付",
        received_at=moment,
        caller={"name": "", "phone": "", "phone_display": "", "company": ""},
        category="other",
        urgency="normal",
        subject="ご連絡",
        body="",
        fields=[],
        ack_code="0001",
        ack_url=SAMPLE_ACK_URL,
        operator="",
    )
    return [full, sparse]


def fold_header(text: str) -> str:
    """`text` as one header line: each run of line breaks or control characters is one space."""
    return _NOT_IN_HEADER_RUN.sub(" ", text).strip()


def one_line(value: Any) -> Any:
    """`value` with every string in it on one line: each line break becomes one space."""
    if isinstance(value, str):
        return _BREAKS.sub(" ", value).strip()
    if isinstance(value, FieldValue):
        return FieldValue(one_line(value.label), one_line(value.value))
    if isinstance(value, dict):
        return {key: one_line(item) for key, item in value.items()}
    if isinstance(value, list):
        return [one_line(item) for item in value]
    return value
