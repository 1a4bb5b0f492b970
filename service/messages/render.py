"""A memo formatted for one recipient on one channel: email, SMS or a spoken voice summary.

The default formats are `templates/messages/<locale>/`; a company's overrides (CONTRACT §4
`templates`) take their place part by part. Both render in the bounded sandbox. Every email
and SMS carries the recipient's acknowledgement link: an override that leaves it out gets it
added at the end. An override that fails at send time (a memo far longer than any sample)
gives way to the default format rather than losing the memo.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from service.channels import Channel
from service.i18n import translate
from service.messages.check import MAX_CHARS, ONE_LINE, OVERRIDABLE
from service.messages.context import (
    CompanyFormat,
    MemoFacts,
    fold_header,
    memo_context,
    one_line,
)
from service.messages.sandbox import (
    TemplateError,
    compile_source,
    default_template,
    render_bounded,
)
from service.messages.sms import count_sms, fits

__all__ = ["RenderedMessage", "TemplateError", "render_memo_message"]

logger = logging.getLogger(__name__)

DEFAULT_SMS_SEGMENTS = 3
# How long Relay's own formats may take: far beyond any real memo, unlike a company's override.
DEFAULT_FORMAT_SECONDS = 5.0
_FILES = {
    "email_subject": "email_subject.txt",
    "email_text": "email_text.txt",
    "email_html": "email_html.html",
    "sms": "sms.txt",
    "voice": "voice.txt",
}
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class RenderedMessage:
    """A memo's words for one recipient: the subject and HTML are for email only."""

    subject: str
    text: str
    html: str | None


def render_memo_message(
    *,
    channel: Channel,
    memo: MemoFacts,
    company_name: str,
    config: CompanyFormat,
    contact_name: str,
    ack_url: str,
    received_at_local: datetime,
    operator_name: str,
    sms_segment_budget: int = DEFAULT_SMS_SEGMENTS,
) -> RenderedMessage:
    """`memo` in the company's format for one contact, its email subject always one line."""
    context = memo_context(
        memo=memo,
        company_name=company_name,
        config=config,
        contact_name=contact_name,
        ack_url=ack_url,
        received_at_local=received_at_local,
        operator_name=operator_name,
    )
    words = _words(config.locale)
    if channel == Channel.email:
        # Folded, not refused: an override saved before a rule, or a character nobody
        # foresaw, must not stop the memo. Saving an override still refuses such a subject.
        subject = fold_header(_render(part="email_subject", context=context, config=config))
        text = _render(part="email_text", context=context, config=config)
        html = _render(part="email_html", context=context, config=config)
        return RenderedMessage(
            subject=subject,
            text=_text_with_link(text, context=context, words=words),
            html=_html_with_link(html, context=context, words=words),
        )
    if channel == Channel.sms:
        text = _fit_sms(context=context, config=config, budget=sms_segment_budget)
        return RenderedMessage(subject="", text=text, html=None)
    if channel == Channel.voice:
        spoken = _render(part="voice", context=context, config=config)
        lines = [line.strip() for line in spoken.splitlines() if line.strip()]
        return RenderedMessage(subject="", text="\n".join(lines), html=None)
    raise ValueError(f"no message format for channel {channel!r}")


def _words(locale: str) -> dict[str, str]:
    """Words Relay adds itself: the link an override left out, and the last-resort SMS."""
    return {
        "link": translate(locale, "Please confirm receipt"),
        "code": translate(locale, "Code"),
        # TRANSLATORS: put before an urgent SMS; keep the space if the words need one.
        "urgent": translate(locale, "[URGENT] "),
    }


def _render(*, part: str, context: dict[str, Any], config: CompanyFormat) -> str:
    if part in ONE_LINE:
        context = one_line(context)
    html = part == "email_html"
    source = getattr(config.templates, part) if part in OVERRIDABLE else None
    if source is not None:
        try:
            template = compile_source(source=source, html=html)
            return render_bounded(template=template, context=context, max_chars=MAX_CHARS[part])
        except TemplateError as error:
            logger.warning(
                "the %s template of %s failed, so the default is used: %s", part, config.slug, error
            )
    template = default_template(name=f"{config.locale}/{_FILES[part]}", html=html)
    # Relay's own formats are trusted and have no fallback: a pause of the process (a garbage
    # collection, a busy host) must not fail a memo, so only a runaway is cut short.
    return render_bounded(
        template=template,
        context=context,
        max_chars=MAX_CHARS[part],
        seconds=DEFAULT_FORMAT_SECONDS,
    )


def _text_with_link(text: str, *, context: dict[str, Any], words: dict[str, str]) -> str:
    text = text.rstrip() + "\n"
    if context["ack_url"] in text:
        return text
    link = f"{words['link']}\n{context['ack_url']}"
    return f"{text}\n{link}\n{words['code']}: {context['ack_code']}\n"


def _html_with_link(html: str, *, context: dict[str, Any], words: dict[str, str]) -> str:
    url = escape(context["ack_url"])
    if url in html:
        return html
    added = (
        f'<p><a href="{url}">{escape(words["link"])}</a><br>'
        f"{escape(words['code'])}: {escape(context['ack_code'])}</p>\n"
    )
    found = list(_BODY_END.finditer(html))
    if not found:
        return html + added
    return html[: found[-1].start()] + added + html[found[-1].start() :]


def _fit_sms(*, context: dict[str, Any], config: CompanyFormat, budget: int) -> str:
    """The SMS within `budget` segments: details trimmed, then dropped; link and code kept."""
    words = _words(config.locale)
    flat = one_line(context)
    details: str = flat["body"]
    # More than `budget` segments could ever hold is never worth rendering.
    longest = min(len(details), budget * 160)

    def render(size: int) -> str:
        shown = details[:size]
        if size < len(details):
            shown = shown.rstrip() + cut_mark if size else ""
        trial = {**flat, "body": shown, "memo": {**flat["memo"], "body": shown}}
        return _sms_with_link(_render(part="sms", context=trial, config=config), flat, words)

    cut_mark = "…"
    if count_sms(text=render(0)).encoding == "GSM-7":
        cut_mark = "..."  # an ellipsis "…" is not GSM-7: it would send the whole SMS as UCS-2
    if longest == len(details):
        full = render(longest)
        if fits(text=full, segments=budget):
            return full
    best = _longest_fitting(render, longest, budget)
    if best is not None:
        return best
    mark = words["urgent"] if flat["urgent"] else ""
    code_line = f"{words['code']} {flat['ack_code']}\n{flat['ack_url']}"
    # The last is plain ASCII, so GSM-7: a Japanese one-segment budget still holds code and link.
    bare = f"{flat['ack_code']}\n{flat['ack_url']}"
    for text in (f"{mark}{flat['company']}\n{code_line}", code_line, bare):
        if fits(text=text, segments=budget):
            return text
    return bare


def _longest_fitting(render: Callable[[int], str], limit: int, budget: int) -> str | None:
    """The text of the largest size in 0..limit that fits `budget` (sizes searched by halving)."""
    low, high, best = 0, limit, None
    while low <= high:
        size = (low + high) // 2
        text = render(size)
        if fits(text=text, segments=budget):
            best, low = text, size + 1
        else:
            high = size - 1
    return best


def _sms_with_link(text: str, context: dict[str, Any], words: dict[str, str]) -> str:
    text = text.strip()
    if context["ack_url"] in text:
        return text
    code = "" if context["ack_code"] in text else f"\n{words['code']} {context['ack_code']}"
    return f"{text}{code}\n{context['ack_url']}"
