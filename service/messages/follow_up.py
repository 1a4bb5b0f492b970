"""A follow-up reminder: a short note that an open memo's deadline is near, or has passed.

Relay's own format only (`templates/messages/<locale>/follow_up_*.txt`): a company's memo
overrides are for the memo itself. It names the memo's code, caller, category and deadline,
and carries the recipient's link, where the memo's handling is reported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.channels import Channel
from service.messages.context import (
    CompanyFormat,
    MemoFacts,
    fold_header,
    format_received,
    memo_context,
    one_line,
)
from service.messages.render import DEFAULT_FORMAT_SECONDS, RenderedMessage
from service.messages.sandbox import default_template, render_bounded

__all__ = ["render_follow_up_message"]

MAX_CHARS = 64 * 1024
# An SMS names the memo by its subject, cut to this many characters to stay short.
SMS_SUBJECT_CHARS = 30


def render_follow_up_message(
    *,
    channel: Channel,
    memo: MemoFacts,
    company_name: str,
    config: CompanyFormat,
    contact_name: str,
    ack_url: str,
    received_at_local: datetime,
    deadline_local: datetime,
    overdue: bool,
) -> RenderedMessage:
    """The reminder of `memo`'s deadline for one contact; `overdue` once the deadline passed."""
    context = memo_context(
        memo=memo,
        company_name=company_name,
        config=config,
        contact_name=contact_name,
        ack_url=ack_url,
        received_at_local=received_at_local,
        operator_name="",
    )
    full, short = format_received(moment=deadline_local, locale=config.locale)
    context.update(deadline=full, deadline_short=short, overdue=overdue)
    if channel == Channel.email:
        subject = fold_header(_render(config.locale, "follow_up_subject.txt", one_line(context)))
        text = _render(config.locale, "follow_up_text.txt", context).rstrip() + "\n"
        return RenderedMessage(subject=subject, text=text, html=None)
    if channel == Channel.sms:
        flat = one_line(context)
        title: str = flat["subject"]
        if len(title) > SMS_SUBJECT_CHARS:
            flat["subject"] = title[: SMS_SUBJECT_CHARS - 1].rstrip() + "…"
        text = _render(config.locale, "follow_up_sms.txt", flat).strip()
        return RenderedMessage(subject="", text=text, html=None)
    raise ValueError(f"no follow-up format for channel {channel!r}")


def _render(locale: str, name: str, context: dict[str, Any]) -> str:
    template = default_template(name=f"{locale}/{name}", html=False)
    return render_bounded(
        template=template, context=context, max_chars=MAX_CHARS, seconds=DEFAULT_FORMAT_SECONDS
    )
