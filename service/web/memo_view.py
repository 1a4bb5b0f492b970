"""A memo as the company reads it: in its language and time zone, in words, not codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from service.companies.models import Company
from service.companies.schema import CompanyConfig
from service.companies.service import company_config
from service.memos.models import Memo
from service.messages.context import CATEGORY_LABELS, URGENCY_LABELS
from service.phones import display

DEFAULT_ZONE = "Asia/Tokyo"

# Category and urgency read as in the relayed messages; the rest only appear on pages.
LABELS: dict[str, dict[str, dict[str, str]]] = {
    "category": CATEGORY_LABELS,
    "urgency": URGENCY_LABELS,
    "status": {
        "ja": {
            "relaying": "未確認（送信前）",
            "sent": "未確認（送信済み）",
            "delivered": "未確認（配信済み）",
            "acknowledged": "確認済み",
            "failed": "未確認（送信失敗）",
        },
        "en": {
            "relaying": "Not confirmed (not sent yet)",
            "sent": "Not confirmed (sent)",
            "delivered": "Not confirmed (delivered)",
            "acknowledged": "Confirmed",
            "failed": "Not confirmed (sending failed)",
        },
    },
    "via": {
        "ja": {
            "link": "リンク",
            "sms": "SMS返信",
            "voice": "電話（番号入力）",
            "portal": "ポータル",
            "operator": "オペレーターが電話で確認",
        },
        "en": {
            "link": "link",
            "sms": "SMS reply",
            "voice": "phone call (key press)",
            "portal": "portal",
            "operator": "operator, by phone",
        },
    },
}
_WEEKDAYS = {"ja": "月火水木金土日", "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class CompanyView:
    """What showing a company's memos needs to know about the company."""

    name: str
    slug: str
    locale: str
    zone: ZoneInfo
    field_labels: dict[str, str] = field(default_factory=dict)
    contact_names: dict[str, str] = field(default_factory=dict)


def company_view(company: Company) -> CompanyView:
    """The company's locale, time zone and names; safe defaults if its configuration is off."""
    try:
        config: CompanyConfig | None = company_config(company)
    except ValidationError:
        config = None
    if config is None:
        return CompanyView(
            name=company.name, slug=company.slug, locale="ja", zone=ZoneInfo(DEFAULT_ZONE)
        )
    return CompanyView(
        name=company.name,
        slug=company.slug,
        locale=config.locale,
        zone=ZoneInfo(config.hours.timezone if config.hours else DEFAULT_ZONE),
        field_labels={f.key: f.label for f in config.fields},
        contact_names={c.key: c.name for c in config.contacts},
    )


def label(kind: str, value: str, locale: str) -> str:
    """A category, urgency, status or acknowledgement channel in words of `locale`."""
    return LABELS[kind].get(locale, LABELS[kind]["en"]).get(value, value)


def local_time(moment: datetime, view: CompanyView, *, weekday: bool = True) -> str:
    """`moment` in the company's zone, written as its people write it."""
    at = moment.astimezone(view.zone)
    clock = f"{at.hour:02d}:{at.minute:02d}"
    if view.locale == "ja":
        day = f"({_WEEKDAYS['ja'][at.weekday()]})" if weekday else ""
        return f"{at.year}年{at.month}月{at.day}日{day} {clock}"
    name = f"{_WEEKDAYS['en'][at.weekday()]} " if weekday else ""
    return f"{name}{at.day} {_MONTHS[at.month - 1]} {at.year}, {clock}"


def sortable_time(moment: datetime | None, view: CompanyView) -> str:
    """`moment` in the company's zone as `2026-01-05 09:00`, which spreadsheets read as a time."""
    if moment is None:
        return ""
    return moment.astimezone(view.zone).strftime("%Y-%m-%d %H:%M")


def acknowledged_by(memo: Memo, view: CompanyView) -> str:
    """Who acknowledged: the contact's name when the record holds a contact key."""
    by = memo.acknowledged_by or ""
    return view.contact_names.get(by, by)


def custom_fields(memo: Memo, view: CompanyView) -> list[tuple[str, str]]:
    """The company's own fields that have a value, labelled, declared ones first."""
    values = dict(memo.fields or {})
    ordered = [key for key in view.field_labels if key in values]
    ordered += [key for key in values if key not in view.field_labels]
    found = []
    for key in ordered:
        value = values[key]
        if value is None or value == "":
            continue
        found.append((view.field_labels.get(key, key), str(value)))
    return found


def memo_view(memo: Memo, view: CompanyView) -> dict[str, Any]:
    """Everything a page shows of a memo, already in the company's words."""
    locale = view.locale
    return {
        "id": memo.id,
        "received_at": local_time(memo.created_at, view),
        "received_iso": memo.created_at.isoformat(),
        "category": memo.category.value,
        "category_label": label("category", memo.category.value, locale),
        "urgent": memo.urgency.value == "urgent",
        "urgency_label": label("urgency", memo.urgency.value, locale),
        "caller_name": memo.caller_name,
        "caller_company": memo.caller_company or "",
        "caller_phone": memo.caller_phone or "",
        "caller_phone_display": display(memo.caller_phone) if memo.caller_phone else "",
        "subject": memo.subject,
        "body": memo.body,
        "fields": custom_fields(memo, view),
        "status": memo.status.value,
        "status_label": label("status", memo.status.value, locale),
        "acknowledged": memo.acknowledged_at is not None,
        "acknowledged_at": (
            local_time(memo.acknowledged_at, view) if memo.acknowledged_at is not None else ""
        ),
        "acknowledged_by": acknowledged_by(memo, view),
        "acknowledged_via": label("via", memo.acknowledged_via or "", locale),
        "ack_code": memo.ack_code,
    }


# The words around a memo's facts on every page that shows one.
FACT_LABELS = {
    "ja": {
        "received_at": "受付日時",
        "caller": "お客様",
        "callback": "折り返し先",
        "caller_company": "会社名",
        "category": "区分",
        "urgency": "緊急度",
        "subject": "件名",
        "body": "内容",
        "status": "状態",
        "ack_code": "確認コード",
        "acknowledged": "確認",
        "by": "確認者",
        "via": "確認方法",
        "no_caller": "（お名前なし）",
        "call": "電話をかける",
    },
    "en": {
        "received_at": "Received",
        "caller": "Caller",
        "callback": "Call back",
        "caller_company": "Company",
        "category": "Category",
        "urgency": "Urgency",
        "subject": "Subject",
        "body": "Details",
        "status": "Status",
        "ack_code": "Code",
        "acknowledged": "Confirmed",
        "by": "Confirmed by",
        "via": "How",
        "no_caller": "(no name given)",
        "call": "Call",
    },
}


def fact_labels(locale: str) -> dict[str, str]:
    """The labels of a memo's facts in `locale` (English for any other)."""
    return FACT_LABELS.get(locale, FACT_LABELS["en"])
