"""A company's daily recap: the day's memos by urgency with their state, and what is still open.

Relay's own format, in the company's language: every word comes from the catalogues, and the
layouts (`templates/messages/recap_text.txt`, `recap_html.html`) only arrange them. Email gets
a plain-text and an HTML part; a chat destination gets the same summary as a card.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton

from service.i18n import N_, format_moment, supported, translate
from service.messages.chat import ChatCard
from service.messages.context import CATEGORY_LABELS, URGENCY_LABELS, fold_header
from service.messages.render import DEFAULT_FORMAT_SECONDS, RenderedMessage
from service.messages.sandbox import default_template, render_bounded
from service.phones import display_for

__all__ = ["RecapFacts", "RecapMemo", "RecapState", "recap_card", "recap_email"]

MAX_CHARS = 512 * 1024
# A chat card holds the day's memos and the open ones in its text; past this it is cut, and
# the portal link shows the rest.
CARD_SUMMARY_MAX = 2800


class RecapState(StrEnum):
    """Where a memo stands, as the recap words it."""

    unconfirmed = "unconfirmed"
    confirmed = "confirmed"
    resolved = "resolved"
    overdue = "overdue"  # acknowledged, its follow-up deadline passed, not resolved


@dataclass(frozen=True)
class RecapMemo:
    """One memo as a recap line shows it."""

    received_at: datetime
    code: str
    caller_name: str
    caller_phone: str | None
    category: str
    urgent: bool
    state: RecapState
    acknowledged_by: str = ""
    acknowledged_at: datetime | None = None


@dataclass(frozen=True)
class RecapFacts:
    """What a company's recap of one local day says, before it is put into words."""

    company: str
    locale: str
    country: str
    zone: ZoneInfo
    day: date
    made_at: datetime
    memos: Sequence[RecapMemo]  # the day's, in any order
    still_open: Sequence[RecapMemo]  # the first of them, oldest first
    still_open_count: int
    portal_url: str

    @property
    def urgent_count(self) -> int:
        """The day's urgent memos."""
        return sum(1 for memo in self.memos if memo.urgent)

    @property
    def unconfirmed_count(self) -> int:
        """The day's memos nobody has acknowledged yet."""
        return sum(1 for memo in self.memos if memo.state == RecapState.unconfirmed)


def _day(facts: RecapFacts) -> str:
    return format_skeleton("MMMd", facts.day, locale=supported(facts.locale))


def _state(memo: RecapMemo, facts: RecapFacts) -> str:
    word = _words(facts.locale)
    if memo.state == RecapState.resolved:
        return word(N_("Handled"))
    if memo.state == RecapState.overdue:
        return word(N_("Follow-up overdue"))
    if memo.state == RecapState.confirmed and memo.acknowledged_at is not None:
        at = memo.acknowledged_at.astimezone(facts.zone)
        when = at.strftime("%H:%M")
        if at.date() != facts.day:
            when = format_moment(at, locale=facts.locale, zone=facts.zone, short=True)
        by = memo.acknowledged_by
        return word(N_("Acknowledged by %(by)s at %(at)s")) % {"by": by, "at": when}
    return word(N_("Not confirmed"))


def _line(memo: RecapMemo, facts: RecapFacts, *, with_date: bool) -> dict[str, str]:
    """A memo's line: time, code, caller, category and state, each a column."""
    local = memo.received_at.astimezone(facts.zone)
    if with_date:
        time = format_moment(local, locale=facts.locale, zone=facts.zone, short=True)
    else:
        time = local.strftime("%H:%M")
    phone = display_for(memo.caller_phone, country=facts.country)
    caller = " ".join(part for part in (memo.caller_name, phone) if part) or "—"
    category = CATEGORY_LABELS.get(memo.category)
    return {
        "time": time,
        "code": memo.code,
        "caller": caller,
        "category": translate(facts.locale, category) if category else memo.category,
        "state": _state(memo, facts),
        "urgent": "1" if memo.urgent else "",
    }


def _words(locale: str) -> Any:
    def word(message: str) -> str:
        return translate(locale, message)

    return word


def subject_of(facts: RecapFacts) -> str:
    """The recap's subject: the day, and how many memos were urgent and are unconfirmed."""
    words = _words(facts.locale)(
        N_("Today's memos (%(day)s) — %(urgent)d urgent, %(unconfirmed)d not confirmed")
    )
    return words % {
        "day": _day(facts),
        "urgent": facts.urgent_count,
        "unconfirmed": facts.unconfirmed_count,
    }


def _groups(facts: RecapFacts) -> list[dict[str, Any]]:
    """The day's memos by urgency, urgent first, each group in the order they were taken."""
    word = _words(facts.locale)
    groups = []
    for urgency in ("urgent", "normal"):
        memos = sorted(
            (memo for memo in facts.memos if memo.urgent == (urgency == "urgent")),
            key=lambda memo: memo.received_at,
        )
        if not memos:
            continue
        heading = word(N_("%(label)s: %(count)d")) % {
            "label": word(URGENCY_LABELS[urgency]),
            "count": len(memos),
        }
        groups.append(
            {
                "heading": heading,
                "urgent": urgency == "urgent",
                "lines": [_line(memo, facts, with_date=False) for memo in memos],
            }
        )
    return groups


def _context(facts: RecapFacts, *, contact_name: str) -> dict[str, Any]:
    """Everything the layouts show, already in the company's words."""
    word = _words(facts.locale)
    more = facts.still_open_count - len(facts.still_open)
    return {
        "lang": supported(facts.locale),
        "subject": subject_of(facts),
        "greeting": word(N_("Dear %(name)s,")) % {"name": contact_name} if contact_name else "",
        "intro": word(N_("Here is the recap of the memos taken for %(company)s on %(day)s."))
        % {"company": facts.company, "day": _day(facts)},
        "groups": _groups(facts),
        "no_memos": word(N_("No memos were taken today.")),
        "open_heading": word(N_("Still open: %(count)d")) % {"count": facts.still_open_count},
        "open_note": word(
            N_("Memos from any day not yet confirmed, or whose follow-up is not resolved.")
        ),
        "open_lines": [_line(memo, facts, with_date=True) for memo in facts.still_open],
        "open_more": word(N_("…and %(count)d more")) % {"count": more} if more > 0 else "",
        "nothing_open": word(N_("Nothing is left open.")),
        "portal_label": word(N_("See every memo on the portal:")),
        "portal_button": word(N_("Open the portal")),
        "portal_url": facts.portal_url,
        "signature": word(N_("The answering service for %(company)s")) % {"company": facts.company},
    }


def _render(name: str, context: dict[str, Any], *, html: bool) -> str:
    template = default_template(name=name, html=html)
    return render_bounded(
        template=template, context=context, max_chars=MAX_CHARS, seconds=DEFAULT_FORMAT_SECONDS
    )


def recap_email(*, facts: RecapFacts, contact_name: str) -> RenderedMessage:
    """The recap as an email to one contact: subject, plain text and HTML."""
    context = _context(facts, contact_name=contact_name)
    return RenderedMessage(
        subject=fold_header(context["subject"]),
        text=_render("recap_text.txt", context, html=False).rstrip() + "\n",
        html=_render("recap_html.html", context, html=True),
    )


def _card_line(line: dict[str, str]) -> str:
    return "  ".join([line["time"], line["code"], line["caller"], line["category"], line["state"]])


def recap_card(*, facts: RecapFacts) -> ChatCard:
    """The recap as a chat card: counts as facts, the lines as its text, the portal as its link.

    It asks nothing back, so it is laid out as a card already answered: no button, the link
    kept, and where the button would be, when the recap was made.
    """
    word = _words(facts.locale)
    context = _context(facts, contact_name="")
    lines: list[str] = []
    for group in context["groups"]:
        lines += [f"■ {group['heading']}", *(_card_line(line) for line in group["lines"]), ""]
    if not context["groups"]:
        lines += [context["no_memos"], ""]
    lines.append(f"■ {context['open_heading']}")
    lines += [_card_line(line) for line in context["open_lines"]]
    if context["open_more"]:
        lines.append(context["open_more"])
    summary = "\n".join(lines).strip()
    if len(summary) > CARD_SUMMARY_MAX:
        summary = summary[: CARD_SUMMARY_MAX - 1].rstrip() + "…"
    made_at = facts.made_at.astimezone(facts.zone).strftime("%H:%M")
    return ChatCard(
        locale=facts.locale,
        company=facts.company,
        title=context["subject"],
        urgent=facts.urgent_count > 0,
        facts=[
            (word(URGENCY_LABELS["urgent"]), str(facts.urgent_count)),
            (word(URGENCY_LABELS["normal"]), str(len(facts.memos) - facts.urgent_count)),
            (word(N_("Not confirmed")), str(facts.unconfirmed_count)),
            (word(N_("Still open")), str(facts.still_open_count)),
        ],
        summary=summary,
        code="",
        ack_url=facts.portal_url,
        ack_value="",
        ack_label=context["portal_button"],
        link_label=context["portal_button"],
        code_label="",
        acknowledged=word(N_("As of %(time)s")) % {"time": made_at},
    )
