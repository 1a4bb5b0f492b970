"""One caller's evidence export as a PDF a lawyer can read: A4, in the reader's language.

A title block (the number, whose record, the period it covers, when and by whom it was made),
then the calls, the memos with how each was confirmed and handled, how each company wants the
caller handled, the notes kept about them and, for staff, the bureau's flags. Every page's
footer names the export and says "n / N", so a page that goes missing or changes place shows.
Text is set in a CID font every PDF reader knows, so Japanese can be searched and copied; no
font file is embedded.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from fastapi import Request, Response
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import TimeStamp
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from sqlmodel import Session

from service import clock
from service.audit import service as audit
from service.auth.models import User
from service.calls.models import Call
from service.companies.models import Company
from service.http_deps import actor_of
from service.i18n import N_, translate
from service.memos.caller_record import CallerRecord, FlagRecord
from service.memos.models import Memo
from service.memos.resolutions import MemoResolution
from service.phones import display_for
from service.web.caller_export import PRIVATE_HEADERS, flag_kind_label
from service.web.memo_view import (
    FACT_LABELS,
    CompanyView,
    acknowledged_by,
    company_view,
    custom_fields,
    label,
    local_time,
)

# Japanese gothic with Latin glyphs, built into every PDF reader (Adobe-Japan1).
FONT = "HeiseiKakuGo-W5"
MEDIA_TYPE = "application/pdf"

# A call's progress in words, as the console shows it.
CALL_STATUS = {
    "queued": N_("ringing"),
    "ringing": N_("ringing"),
    "in-progress": N_("in call"),
    "completed": N_("ended"),
    "busy": N_("busy"),
    "failed": N_("Failed"),
    "no-answer": N_("No answer"),
    "canceled": N_("canceled"),
}

_MARGIN = 18 * mm
_FOOTER_GAP = 10 * mm
_GREY = colors.HexColor("#555555")
_RULE = colors.HexColor("#BBBBBB")
_SHADE = colors.HexColor("#F1F1F1")
# Control characters other than line breaks and tabs cannot be set; they would stop the page.
_UNSETTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@functools.cache
def _font() -> str:
    """The font's name, registered with reportlab once."""
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


@functools.cache
def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    return {
        "body": body,
        "title": ParagraphStyle("title", parent=body, fontSize=17, leading=24, spaceAfter=6),
        # A heading stays on the page of what it heads.
        "h2": ParagraphStyle(
            "h2",
            parent=body,
            fontSize=13,
            leading=18,
            spaceBefore=10,
            spaceAfter=5,
            keepWithNext=1,
        ),
        "h3": ParagraphStyle(
            "h3", parent=body, fontSize=10.5, leading=15, spaceBefore=8, keepWithNext=1
        ),
        "label": ParagraphStyle("label", parent=body, fontSize=8, leading=11, textColor=_GREY),
        "muted": ParagraphStyle("muted", parent=body, textColor=_GREY),
    }


def _text(value: str) -> str:
    """Plain text as a paragraph's markup: escaped, its line breaks kept."""
    cleaned = _UNSETTABLE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    return escape(cleaned).replace("\n", "<br/>")


def _para(value: str, style: str = "body") -> Paragraph:
    return Paragraph(_text(value), _styles()[style])


def _link(url: str) -> Paragraph:
    """A web address as a link that prints the address too, for the reader of the page."""
    if not url.startswith(("https://", "http://")):
        return _para(url)  # anything else is shown, never followed
    markup = f'<a href={quoteattr(url)} color="blue">{_text(url)}</a>'
    return Paragraph(markup, _styles()["body"])


def _facts(rows: Sequence[tuple[str, Flowable | str]]) -> Table:
    """Labelled facts, one a row; a long value goes on to the next page mid-row."""
    cells = [
        [_para(name, "label"), value if isinstance(value, Flowable) else _para(value)]
        for name, value in rows
    ]
    table = Table(cells, colWidths=[34 * mm, None], splitInRow=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, _RULE),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _grid(header: Sequence[str], rows: Sequence[Sequence[Flowable]], widths: list[Any]) -> Table:
    """A table with its header row repeated on every page it runs onto."""
    table = Table(
        [[_para(name, "label") for name in header], *rows],
        colWidths=widths,
        repeatRows=1,
        splitInRow=1,
        hAlign="LEFT",
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), _SHADE),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, _RULE),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _stamp(moment: datetime) -> TimeStamp:
    """reportlab's time stamp of `moment`, in UTC."""
    stamp = TimeStamp(invariant=1)
    utc = moment.astimezone(UTC)
    stamp.t = utc.timestamp()
    stamp.lt = tuple(utc.timetuple())
    stamp.YMDhms = stamp.lt[:6]
    return stamp


class _FooterCanvas(Canvas):
    """A canvas that keeps every page until the end, then foots each with `identity` and
    "n / N"."""

    def __init__(self, *args: Any, identity: str, made_at: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._identity = identity
        self._kept: list[dict[str, Any]] = []
        # The file's own creation date is the export's moment, not the machine's.
        self._doc._timeStamp = _stamp(made_at)

    def showPage(self) -> None:
        self._kept.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        """Each kept page with its footer, then the file."""
        total = len(self._kept)
        for number, state in enumerate(self._kept, start=1):
            self.__dict__.update(state)
            self._footer(number, total)
            super().showPage()
        super().save()

    def _footer(self, number: int, total: int) -> None:
        width, _ = A4
        self.saveState()
        self.setFont(_font(), 7.5)
        self.setFillColor(_GREY)
        self.setStrokeColor(_RULE)
        self.line(_MARGIN, _FOOTER_GAP + 9, width - _MARGIN, _FOOTER_GAP + 9)
        self.drawString(_MARGIN, _FOOTER_GAP, self._identity)
        self.drawRightString(width - _MARGIN, _FOOTER_GAP, f"{number} / {total}")
        self.restoreState()


class _Layout:
    """The export's parts, written in one reader's language."""

    def __init__(self, record: CallerRecord, *, locale: str, home: CompanyView) -> None:
        self.record = record
        self.locale = locale
        self.home = home
        self.views: dict[str, CompanyView] = {}

    def _(self, message: str) -> str:
        return translate(self.locale, message)

    def view_of(self, company: Company) -> CompanyView:
        return self.views.setdefault(company.id, company_view(company))

    def when(self, moment: datetime, view: CompanyView) -> str:
        """`moment` in `view`'s zone, naming the zone when it is not the export's own."""
        written = local_time(moment, view, locale=self.locale)
        return written if view.zone == self.home.zone else f"{written} ({view.zone})"

    def calls(self) -> list[Flowable]:
        """The calls from the number, oldest first."""
        flowables: list[Flowable] = [_para(self._("Calls"), "h2")]
        calls = list(reversed(self.record.calls))
        if not calls:
            return [*flowables, _para(self._("No calls."), "muted")]
        bureau = self.record.flags is not None
        header = [self._("When"), self._("Status"), self._("Operator"), self._("Recording")]
        widths: list[Any] = [44 * mm, 24 * mm, 32 * mm, None]
        if bureau:
            header.insert(1, self._("Company"))
            widths = [40 * mm, 34 * mm, 20 * mm, 28 * mm, None]
        rows = []
        for call, company in calls:
            row = self._call(call, company)
            rows.append(row if bureau else [row[0], *row[2:]])
        return [*flowables, _grid(header, rows, widths)]

    def _call(self, call: Call, company: Company) -> list[Flowable]:
        status = CALL_STATUS.get(call.status)
        return [
            _para(self.when(call.started_at, self.view_of(company))),
            _para(company.name),
            _para(self._(status) if status else call.status),
            _para(self.record.names.get(call.answered_by or "", "")),
            _link(call.recording_url) if call.recording_url else _para(""),
        ]

    def memos(self, heading: str, empty: str) -> list[Flowable]:
        """Each memo, oldest first, with how it was confirmed and handled."""
        flowables: list[Flowable] = [_para(self._(heading), "h2")]
        memos = list(reversed(self.record.memos))
        if not memos:
            return [*flowables, _para(self._(empty), "muted")]
        for number, (memo, company) in enumerate(memos, start=1):
            flowables.extend(self._memo(number, memo, company))
        return flowables

    def _memo(self, number: int, memo: Memo, company: Company) -> list[Flowable]:
        view = self.view_of(company)
        facts = FACT_LABELS
        rows: list[tuple[str, Flowable | str]] = [
            (self._(facts["received_at"]), self.when(memo.created_at, view)),
            (self._("Company"), company.name),
            (self._(facts["ack_code"]), memo.ack_code),
            (self._("Reference"), memo.id),
            (self._(facts["category"]), label("category", memo.category.value, self.locale)),
            (self._(facts["urgency"]), label("urgency", memo.urgency.value, self.locale)),
            (self._(facts["status"]), label("status", memo.status.value, self.locale)),
            (self._(facts["caller"]), memo.caller_name or self._(facts["no_caller"])),
        ]
        if memo.caller_company:
            rows.append((self._("Caller company"), memo.caller_company))
        if memo.caller_phone:
            shown = display_for(memo.caller_phone, country=view.country)
            rows.append((self._(facts["callback"]), shown))
        rows += [
            (self._("Taken by"), self.record.names.get(memo.operator_id, "")),
            (self._(facts["subject"]), memo.subject),
            (self._(facts["body"]), memo.body),
            *custom_fields(memo, view),
        ]
        if memo.acknowledged_at is None:
            rows.append((self._(facts["acknowledged"]), self._("Not confirmed")))
        else:
            confirmed = self._("Confirmed by %(who)s (%(how)s), %(when)s") % {
                "who": acknowledged_by(memo, view) or "?",
                "how": label("via", memo.acknowledged_via or "", self.locale),
                "when": self.when(memo.acknowledged_at, view),
            }
            if memo.acknowledged_recorded_by:
                recorded = self._("Recorded by %(person)s")
                confirmed += " / " + recorded % {"person": memo.acknowledged_recorded_by}
            rows.append((self._(facts["acknowledged"]), confirmed))
        title = f"{number}. {memo.subject}"
        flowables: list[Flowable] = [_para(title, "h3"), _facts(rows)]
        heading: list[Flowable] = [_para(self._("How it was handled"), "h3")]
        for account in self.record.resolutions.get(memo.id, []):
            # One account on one page unless it is longer than one; the heading with the first.
            flowables.append(
                KeepTogether([*heading, self._resolution(account, view), Spacer(0, 4)])
            )
            heading = []
        return flowables

    def _resolution(self, account: MemoResolution, view: CompanyView) -> Table:
        by = f"{account.by} ({label('via', account.via, self.locale)})"
        if account.recorded_by:
            by += " / " + self._("Recorded by %(person)s") % {"person": account.recorded_by}
        state = N_("Resolved") if account.resolved else N_("Not resolved yet")
        return _facts(
            [
                (self._("When"), self.when(account.at, view)),
                (self._("Handled by"), by),
                (self._("Status"), self._(state)),
                (self._("Response"), account.response),
                (self._("Cause"), account.cause),
                (self._("Result"), account.result),
            ]
        )

    def flags(self, flags: list[FlagRecord]) -> list[Flowable]:
        """The bureau's flags on the number, lifted ones too, oldest first."""
        flowables: list[Flowable] = [_para(self._("Flags"), "h2")]
        if not flags:
            return [*flowables, _para(self._("No flags."), "muted")]
        rows = []
        for found in reversed(flags):
            flag = found.flag
            if flag.cleared_at is None:
                state = self._("In force")
            else:
                state = self._("Lifted by %(person)s, %(when)s") % {
                    "person": found.cleared_by or "?",
                    "when": self.when(flag.cleared_at, self.home),
                }
            rows.append(
                [
                    _para(self.when(flag.flagged_at, self.home)),
                    _para(flag_kind_label(flag.kind, self.locale)),
                    _para(flag.note),
                    _para(found.flagged_by),
                    _para(state),
                ]
            )
        header = [
            self._("When"),
            self._("Kind"),
            self._("Details"),
            self._("Set by"),
            self._("Status"),
        ]
        return [*flowables, _grid(header, rows, [34 * mm, 32 * mm, None, 24 * mm, 36 * mm])]

    def policies(self) -> list[Flowable]:
        """How each company wants the caller handled."""
        flowables: list[Flowable] = [_para(self._("How to handle this caller"), "h2")]
        if not self.record.policies:
            return [*flowables, _para(self._("No policy for this caller."), "muted")]
        rows = []
        for policy, company in self.record.policies:
            text = policy.text
            if policy.time_limit_minutes is not None:
                limit = self._("Time limit: %(minutes)s minutes")
                text += "\n" + limit % {"minutes": policy.time_limit_minutes}
            setter = self.record.writers.get(policy.set_by)
            rows.append(
                [
                    _para(self.when(policy.set_at, self.view_of(company))),
                    _para(company.name),
                    _para(text),
                    _para(setter.name if setter else ""),
                ]
            )
        header = [self._("When"), self._("Company"), self._("Details"), self._("Set by")]
        return [*flowables, _grid(header, rows, [40 * mm, 34 * mm, None, 30 * mm])]

    def notes(self) -> list[Flowable]:
        """The notes kept about the caller, oldest first, and who wrote each for whom."""
        flowables: list[Flowable] = [_para(self._("Notes"), "h2")]
        if not self.record.notes:
            return [*flowables, _para(self._("No notes."), "muted")]
        rows = []
        for note, company in reversed(self.record.notes):
            writer = self.record.writers.get(note.written_by)
            by = ""
            if writer is not None:
                side = N_("Answering service") if writer.bureau else N_("The company")
                by = f"{writer.name} ({self._(side)})"
            rows.append(
                [
                    _para(self.when(note.written_at, self.view_of(company))),
                    _para(company.name),
                    _para(note.text),
                    _para(by),
                ]
            )
        header = [self._("When"), self._("Company"), self._("Details"), self._("Written by")]
        return [*flowables, _grid(header, rows, [40 * mm, 34 * mm, None, 30 * mm])]

    def period(self) -> str:
        """From the first to the last moment on record, in the export's zone."""
        record = self.record
        moments = [call.started_at for call, _ in record.calls]
        moments += [memo.created_at for memo, _ in record.memos]
        moments += [account.at for accounts in record.resolutions.values() for account in accounts]
        moments += [note.written_at for note, _ in record.notes]
        moments += [policy.set_at for policy, _ in record.policies]
        for found in record.flags or []:
            moments.append(found.flag.flagged_at)
            if found.flag.cleared_at is not None:
                moments.append(found.flag.cleared_at)
        if not moments:
            return self._("Nothing on record.")
        first, last = (
            local_time(moment, self.home, locale=self.locale, weekday=False)
            for moment in (min(moments), max(moments))
        )
        return f"{first} – {last}"


def export_pdf(
    record: CallerRecord,
    *,
    company: Company | None,
    user: User,
    locale: str,
    home: CompanyView,
    reference: str,
) -> bytes:
    """The record as an A4 PDF in `locale`, its pages footed with `reference` and "n / N"."""
    layout = _Layout(record, locale=locale, home=home)
    _ = layout._
    phone = display_for(record.phone, country=home.country)
    made_at = clock.now()
    made_by = user.display_name or user.email
    if user.display_name and user.email:
        made_by = f"{user.display_name} <{user.email}>"
    bureau = record.flags is not None
    # A company's users call memos messages.
    memo_word, no_memos = (
        (N_("Memos"), N_("No memos.")) if bureau else (N_("Messages"), N_("No messages."))
    )
    summary: list[tuple[str, Flowable | str]] = [
        (_("Caller number"), f"{phone} ({record.phone})"),
        (_("Company"), company.name if company is not None else _("Every company")),
        (_("Period covered"), layout.period()),
        (_("Generated at"), f"{local_time(made_at, home, locale=locale)} ({home.zone})"),
        (_("Generated by"), made_by),
        (_("Calls"), str(len(record.calls))),
        (_(memo_word), str(len(record.memos))),
        (_("Notes"), str(len(record.notes))),
    ]
    if record.flags is not None:
        summary.append((_("Flags"), str(len(record.flags))))
    summary.append((_("Export reference"), reference))
    story: list[Flowable] = [
        _para(_("Caller record") + f" {phone}", "title"),
        _facts(summary),
        Spacer(0, 4),
        _para(_("Times in %(zone)s") % {"zone": str(home.zone)}, "muted"),
        *layout.calls(),
        *layout.memos(memo_word, no_memos),
        *layout.policies(),
        *layout.notes(),
    ]
    if record.flags is not None:
        story += layout.flags(record.flags)
    identity = f"{_('Caller record')} {phone} · {_('Export reference')} {reference}"
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN + 6 * mm,
        title=f"{_('Caller record')} {phone}",
        author=made_by,
        subject=identity,
        creator="Relay",
        lang=locale,
    )
    document.build(
        story, canvasmaker=functools.partial(_FooterCanvas, identity=identity, made_at=made_at)
    )
    return buffer.getvalue()


def pdf_response(
    *,
    request: Request,
    session: Session,
    user: User,
    record: CallerRecord,
    company: Company | None,
    locale: str,
    home: CompanyView,
) -> Response:
    """The export as a PDF download, recorded in the audit trail as the other formats are."""
    entry = audit.record(
        session=session,
        actor=actor_of(request, user),
        action=audit.Action.exported,
        target=f"caller:{record.phone}",
        company_id=company.id if company is not None else None,
        detail={
            "format": "pdf",
            "scope": company.slug if company is not None else "bureau",
            "calls": str(len(record.calls)),
            "memos": str(len(record.memos)),
            "flags": str(len(record.flags or [])),
        },
    )
    content = export_pdf(
        record, company=company, user=user, locale=locale, home=home, reference=entry.id
    )
    stamp = clock.now().astimezone(home.zone).strftime("%Y%m%d-%H%M")
    filename = f"relay-caller-{record.phone.lstrip('+')}-{stamp}.pdf"
    headers = {**PRIVATE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(content=content, media_type=MEDIA_TYPE, headers=headers)
