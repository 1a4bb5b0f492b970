"""A memo as the company reads it: in its time zone, in words, not codes, in a page's language.

A company's language (`CompanyView.locale`) is what its acknowledgement page and messages speak;
a page for one of its users may speak another, so the functions here take the page's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from service.companies.config import CompanyConfig
from service.companies.models import Company
from service.companies.service import company_config
from service.i18n import N_, format_moment, translate
from service.memos.models import Memo
from service.messages.context import CATEGORY_LABELS, URGENCY_LABELS
from service.phones import display_for

DEFAULT_ZONE = "Asia/Tokyo"
DEFAULT_COUNTRY = "JP"

# Category and urgency read as in the relayed messages; the rest only appear on pages.
LABELS: dict[str, dict[str, str]] = {
    "category": CATEGORY_LABELS,
    "urgency": URGENCY_LABELS,
    "status": {
        "relaying": N_("Not confirmed (not sent yet)"),
        "sent": N_("Not confirmed (sent)"),
        "delivered": N_("Not confirmed (delivered)"),
        "acknowledged": N_("Confirmed"),
        "failed": N_("Not confirmed (sending failed)"),
    },
    "via": {
        "link": N_("link"),
        "sms": N_("SMS reply"),
        "voice": N_("phone call (key press)"),
        "portal": N_("portal"),
        "operator": N_("operator, by phone"),
        "slack": N_("Slack button"),
        "chatwork": N_("Chatwork reply"),
        "line": N_("LINE button"),
        "lineworks": N_("LINE WORKS button"),
    },
}


@dataclass(frozen=True)
class CompanyView:
    """What showing a company's memos needs to know about the company."""

    name: str
    slug: str
    locale: str  # the company's own language, not necessarily the page's
    zone: ZoneInfo
    country: str = DEFAULT_COUNTRY
    field_labels: dict[str, str] = field(default_factory=dict)
    contact_names: dict[str, str] = field(default_factory=dict)


def company_view(company: Company) -> CompanyView:
    """The company's locale, zone, country and names; safe defaults if its configuration is off."""
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
        country=config.country,
        field_labels={f.key: f.label for f in config.fields},
        contact_names={c.key: c.name for c in config.contacts},
    )


def label(kind: str, value: str, locale: str) -> str:
    """A category, urgency, status or acknowledgement channel in words of `locale`."""
    message = LABELS[kind].get(value)
    return translate(locale, message) if message else value


def local_time(
    moment: datetime, view: CompanyView, *, locale: str | None = None, weekday: bool = True
) -> str:
    """`moment` in the company's zone, written in `locale` (the company's unless given)."""
    return format_moment(moment, locale=locale or view.locale, zone=view.zone, weekday=weekday)


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


def memo_view(memo: Memo, view: CompanyView, *, locale: str | None = None) -> dict[str, Any]:
    """Everything a page shows of a memo, in words of `locale` (the company's unless given)."""
    locale = locale or view.locale
    return {
        "id": memo.id,
        "received_at": local_time(memo.created_at, view, locale=locale),
        "received_iso": memo.created_at.isoformat(),
        "category": memo.category.value,
        "category_label": label("category", memo.category.value, locale),
        "urgent": memo.urgency.value == "urgent",
        "urgency_label": label("urgency", memo.urgency.value, locale),
        "caller_name": memo.caller_name,
        "caller_company": memo.caller_company or "",
        "caller_phone": memo.caller_phone or "",
        "caller_phone_display": display_for(memo.caller_phone, country=view.country),
        "subject": memo.subject,
        "body": memo.body,
        "fields": custom_fields(memo, view),
        "status": memo.status.value,
        "status_label": label("status", memo.status.value, locale),
        "acknowledged": memo.acknowledged_at is not None,
        "acknowledged_at": (
            local_time(memo.acknowledged_at, view, locale=locale)
            if memo.acknowledged_at is not None
            else ""
        ),
        "acknowledged_by": acknowledged_by(memo, view),
        "acknowledged_via": label("via", memo.acknowledged_via or "", locale),
        "ack_code": memo.ack_code,
    }


# The words around a memo's facts on every page that shows one.
FACT_LABELS = {
    "received_at": N_("Received"),
    "caller": N_("Caller"),
    "callback": N_("Call back"),
    "caller_company": N_("Company"),
    "category": N_("Category"),
    "urgency": N_("Urgency"),
    "subject": N_("Subject"),
    "body": N_("Details"),
    "status": N_("Status"),
    "ack_code": N_("Code"),
    "acknowledged": N_("Confirmed"),
    "by": N_("Confirmed by"),
    "via": N_("How"),
    "no_caller": N_("(no name given)"),
    "call": N_("Call"),
}


def fact_labels(locale: str) -> dict[str, str]:
    """The labels of a memo's facts in `locale`."""
    return {key: translate(locale, message) for key, message in FACT_LABELS.items()}
