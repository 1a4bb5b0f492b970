"""A memo as a chat card: the parts every chat platform lays out in its own format.

Each platform builds its request from the same card (Slack blocks, a Chatwork `[info]`, a
LINE bubble, an Adaptive Card), so a memo reads the same wherever the company reads it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from service.i18n import N_, translate

# The longest memo text a card carries; the link opens the whole memo.
SUMMARY_MAX_CHARS = 1500


@dataclass(frozen=True)
class ChatCard:
    """One memo laid out for chat: a title, labelled facts, the memo text, code and link."""

    locale: str
    company: str
    title: str
    urgent: bool
    facts: list[tuple[str, str]]
    summary: str
    code: str
    ack_url: str
    # The signed acknowledgement token a button or postback carries back to Relay.
    ack_value: str
    ack_label: str  # the button: 確認しました
    link_label: str
    code_label: str
    # Set once acknowledged: "確認済み 佐藤 10:42", shown where the button was.
    acknowledged: str | None = None
    # Whom the message is addressed to on the platform (Chatwork account ids to [To:]).
    mentions: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The card as plain text, for platforms and previews that show text only."""
        lines = [self.title, ""]
        lines += [f"{label}: {value}" for label, value in self.facts]
        if self.summary:
            lines += ["", self.summary]
        lines.append("")
        if self.acknowledged:
            lines.append(self.acknowledged)
        else:
            lines += [f"{self.code_label}: {self.code}", f"{self.link_label}: {self.ack_url}"]
        return "\n".join(lines)

    def seen(self, *, by: str, at: str) -> ChatCard:
        """The same card once acknowledged, by whom and when (local time)."""
        words = translate(self.locale, N_("Acknowledged by %(by)s at %(at)s"))
        return replace(self, acknowledged=words % {"by": by, "at": at})

    def to_dict(self) -> dict[str, Any]:
        """As a delivery keeps it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatCard:
        """Read back what `to_dict` kept."""
        data = dict(data)
        data["facts"] = [tuple(pair) for pair in data.get("facts", [])]
        return cls(**data)


def chat_card(
    *, context: dict[str, Any], ack_value: str, mentions: list[str] | None = None
) -> ChatCard:
    """The card of a memo, from the same names its email and SMS are made from."""
    locale = context["locale"]

    def word(message: str) -> str:
        return translate(locale, message)

    caller = context["caller"]
    facts: list[tuple[str, str]] = [(word(N_("Received")), context["received_at"])]
    if caller.get("name"):
        facts.append((word(N_("Caller")), caller["name"]))
    if caller.get("company"):
        facts.append((word(N_("Caller's company")), caller["company"]))
    if caller.get("phone_display"):
        facts.append((word(N_("Phone")), caller["phone_display"]))
    facts.append((word(N_("Category")), context["category_label"]))
    facts += [(label, value) for label, value in context["fields"]]
    if context.get("operator"):
        facts.append((word(N_("Taken by")), context["operator"]))
    summary = context["body"]
    if len(summary) > SUMMARY_MAX_CHARS:
        summary = summary[: SUMMARY_MAX_CHARS - 1].rstrip() + "…"
    mark = word(N_("[URGENT] ")) if context["urgent"] else ""
    return ChatCard(
        locale=locale,
        company=context["company"],
        title=f"{mark}{context['company']}: {context['subject']}",
        urgent=bool(context["urgent"]),
        facts=facts,
        summary=summary,
        code=context["ack_code"],
        ack_url=context["ack_url"],
        ack_value=ack_value,
        ack_label=word(N_("Acknowledge")),
        link_label=word(N_("Open the memo")),
        code_label=word(N_("Code")),
        mentions=list(mentions or []),
    )


def card_json(card: ChatCard) -> str:
    """A card as JSON text."""
    return json.dumps(card.to_dict(), ensure_ascii=False)
