"""Refusing a company's template override when it is saved, with the line and the reason."""

from __future__ import annotations

from service.messages.context import LINE_BREAKS, NOT_IN_HEADER, one_line, sample_contexts
from service.messages.sandbox import TemplateError, compile_source, render_bounded

# The formats a company may override (CONTRACT §4 `templates`), and the voice summary.
OVERRIDABLE = ("email_subject", "email_text", "email_html", "sms")
PARTS = (*OVERRIDABLE, "voice")
# How long each rendered part may be, in characters. A memo body may be 64 KiB, and escaping
# can make it several times longer in HTML.
MAX_CHARS = {
    "email_subject": 1_000,
    "email_text": 256 * 1024,
    "email_html": 512 * 1024,
    "sms": 16 * 1024,
    "voice": 4 * 1024,
}
# Parts that are one line: every value in them is folded onto one line before rendering.
ONE_LINE = frozenset({"email_subject", "sms", "voice"})
_NAMES = (
    "company, contact_name, received_at, received_at_short, caller.name, caller.phone, "
    "caller.phone_display, caller.company, category, category_label, urgency, urgency_label, "
    "urgent, subject, body, fields, ack_code, ack_url, operator, memo"
)


def check_override(*, part: str, source: str) -> None:
    """Raise TemplateError unless `source` compiles and renders sample memos within bounds."""
    if part not in OVERRIDABLE:
        raise TemplateError(reason=f"{part!r} is not a template that can be overridden")
    template = compile_source(source=source, html=part == "email_html", strict=True)
    for context in sample_contexts():
        if part in ONE_LINE:
            context = one_line(context)
        try:
            text = render_bounded(template=template, context=context, max_chars=MAX_CHARS[part])
        except TemplateError as error:
            if error.undefined:
                reason = f"{error.reason} (the names you can use: {_NAMES})"
                raise TemplateError(reason=reason, line=error.line, undefined=True) from None
            raise
        if part == "email_subject":
            require_one_line(text)


def require_one_line(subject: str) -> str:
    """`subject` trimmed; TemplateError if it has a line break or a control character."""
    subject = subject.strip()
    found = NOT_IN_HEADER.search(subject)
    if found:
        char = found.group()
        kind = "a line break" if char in LINE_BREAKS else "a control character"
        reason = f"an email subject is one line, but this one has {kind} (U+{ord(char):04X})"
        raise TemplateError(reason=reason)
    return subject
