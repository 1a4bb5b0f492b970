"""The memo browser for the bureau's staff: search every company's memos, open one with its
whole trail. Times are in the memo's company's zone, words in the reader's language."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session, col, select

from service.acks.service import AckVia
from service.audit.service import Actor
from service.auth.models import User
from service.calls.models import Call
from service.companies.models import Company
from service.errors import Conflict, Invalid, NotFound
from service.escalation.trail import MemoTrail, memo_trail
from service.followup.reminders import set_deadline
from service.followup.schema import ResolutionIn
from service.followup.service import resolve
from service.http_deps import OptionalUser, SessionDep, client_address
from service.i18n import N_, format_moment, translate
from service.memos import service as memos
from service.memos.models import Category, Memo, MemoStatus, Urgency
from service.settings import Settings
from service.web.csrf import CsrfProtected, csrf_token
from service.web.memo_view import CompanyView, company_view, fact_labels, label, memo_view
from service.web.pages import STAFF_ROLES, refusal_page, render
from service.web.templating import page_locale

router = APIRouter(include_in_schema=False)
E = TypeVar("E", bound=StrEnum)

PAGE_SIZE = 30
# Dates typed in the search form are days in this zone unless one company is chosen.

# The words of a trail's codes; a code without words is shown as it is.
TRAIL_WORDS: dict[str, dict[str, str]] = {
    "channel": {
        "email": N_("Email"),
        "sms": N_("SMS"),
        "voice": N_("Phone call"),
        "slack": N_("Slack"),
        "chatwork": N_("Chatwork"),
        "lineworks": N_("LINE WORKS"),
        "line": N_("LINE"),
        "teams": N_("Microsoft Teams"),
        "webhook": N_("Webhook"),
    },
    "delivery": {
        "pending": N_("Waiting to be sent"),
        "sending": N_("Sending"),
        "sent": N_("Sent"),
        "delivered": N_("Delivered"),
        "retrying": N_("Will be tried again"),
        "failed": N_("Failed"),
    },
    "reason": {
        "routing": N_("First message"),
        "escalation": N_("Escalation"),
        "fallback": N_("Other channel after a failure"),
        "acknowledged": N_("Update: marked acknowledged"),
        "memo_failed": N_("Event: one of the memo's messages failed"),
    },
    "action": {
        "notify": N_("Notify contacts"),
        "operator_callback": N_("An operator calls the company"),
    },
    "task": {"open": N_("Waiting"), "taken": N_("Being called"), "done": N_("Done")},
    "outcome": {
        "acknowledged": N_("Reached; they confirmed"),
        "no_answer": N_("No answer"),
        "left_message": N_("Left a message"),
    },
}


def words(kind: str, value: str | None, locale: str) -> str:
    """A trail code (a channel, a delivery status, …) in words of `locale`."""
    if not value:
        return ""
    message = TRAIL_WORDS[kind].get(value)
    return translate(locale, message) if message else value


def _choice(kind: type[E], value: str | None) -> E | None:
    try:
        return kind(value) if value else None
    except ValueError:
        return None


def _day(value: str | None) -> date | str | None:
    """A typed date; the text itself when it is no date (shown back beside its field)."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return value


def _moment(day: date | str | None, *, zone: ZoneInfo, days: int = 0) -> datetime | None:
    """The first moment of `day` (plus `days`) in `zone`, in UTC; None for no date, or one
    whose moment lies outside the calendar."""
    if not isinstance(day, date):
        return None
    try:
        return datetime.combine(day + timedelta(days=days), time(), zone).astimezone(UTC)
    except OverflowError:
        return None


def _views(companies: list[Company], locale: str) -> dict[str, CompanyView]:
    """Each company's zone and names, with its labels in the reader's language."""
    return {c.id: dataclasses.replace(company_view(c), locale=locale) for c in companies}


Text = Annotated[str | None, Query(max_length=200)]
Short = Annotated[str | None, Query(max_length=64)]


@router.get("/memos")
def memo_search(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    q: Text = None,
    client: Short = None,
    status_filter: Annotated[str | None, Query(alias="status", max_length=32)] = None,
    category: Short = None,
    urgency: Short = None,
    since: Short = None,
    until: Short = None,
    cursor: Text = None,
) -> Response:
    """Every company's memos, newest first, found by words, number, company, status and dates."""
    refused = refusal_page(request, user, STAFF_ROLES)
    if refused is not None:
        return refused
    locale = page_locale(request)
    companies = list(session.exec(select(Company).order_by(col(Company.name))).all())
    chosen = next((c for c in companies if c.slug == client), None)
    settings: Settings = request.app.state.settings
    zone = company_view(chosen).zone if chosen else ZoneInfo(settings.timezone)
    wanted_status = _choice(MemoStatus, status_filter)
    wanted_category = _choice(Category, category)
    wanted_urgency = _choice(Urgency, urgency)
    first, last = _day(since), _day(until)
    # The last day counts whole: up to the start of the next.
    start, end = _moment(first, zone=zone), _moment(last, zone=zone, days=1)
    errors = {
        name: translate(locale, N_("Write a date as 2026-04-01."))
        for name, value, moment in (("since", first, start), ("until", last, end))
        if value is not None and moment is None
    }
    filters = {
        "q": (q or "").strip(),
        "client": chosen.slug if chosen else "",
        "status": wanted_status.value if wanted_status else "",
        "category": wanted_category.value if wanted_category else "",
        "urgency": wanted_urgency.value if wanted_urgency else "",
        "since": since or "",
        "until": until or "",
    }
    shown = {key: value for key, value in filters.items() if value}
    page: list[tuple[Memo, Company]] = []
    next_cursor = None
    if not errors:
        try:
            page, next_cursor = memos.list_memos(
                session=session,
                company_id=chosen.id if chosen else (None if not client else "-"),
                status=wanted_status,
                category=wanted_category,
                urgency=wanted_urgency,
                since=start,
                until=end,
                query=filters["q"] or None,
                cursor=cursor,
                limit=PAGE_SIZE,
            )
        except memos.MemoError:
            # A stale or edited cursor: start from the newest.
            page, next_cursor = [], None
            errors["cursor"] = translate(locale, N_("This cursor is not one a page gave."))
    views = _views(list({c.id: c for _, c in page}.values()), locale)
    rows = [
        {**memo_view(memo, views[company.id]), "client_name": company.name}
        for memo, company in page
    ]
    context = {
        "user": user,
        "section": "memos",
        "filters": filters,
        "errors": errors,
        "memos": rows,
        "companies": [(c.slug, c.name) for c in companies],
        "statuses": [(s.value, label("status", s.value, locale)) for s in MemoStatus],
        "categories": [(c.value, label("category", c.value, locale)) for c in Category],
        "urgencies": [(u.value, label("urgency", u.value, locale)) for u in Urgency],
        "zone": str(zone),
        "next_url": f"/memos?{urlencode({**shown, 'cursor': next_cursor})}"
        if next_cursor
        else None,
        "first_url": ("/memos?" + urlencode(shown)) if cursor else None,
    }
    return render(request, "memos.html", context)


def _when(value: str | None, view: CompanyView) -> dict[str, str] | None:
    """An ISO time of the trail as the page shows it: in words, and as the machine reads it."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return {"text": format_moment(moment, locale=view.locale, zone=view.zone), "iso": value}


def trail_view(trail: MemoTrail, view: CompanyView) -> dict[str, Any]:
    """The trail with its codes in words and its times in the company's zone."""
    locale = view.locale
    return {
        "deliveries": [
            {
                **d.model_dump(),
                "channel_label": words("channel", d.channel, locale),
                "status_label": words("delivery", d.status, locale),
                "reason_label": words("reason", d.reason, locale),
                "created": _when(d.created_at, view),
                "due": _when(d.due_at, view),
                "attempted": _when(d.attempted_at, view),
                "sent": _when(d.sent_at, view),
                "delivered": _when(d.delivered_at, view),
                "answered": _when(d.updated_at, view),
            }
            for d in trail.deliveries
        ],
        "skipped": [
            {
                **s.model_dump(),
                "contact_name": view.contact_names.get(s.contact, s.contact),
                "channel_label": words("channel", s.channel, locale),
            }
            for s in trail.skipped
        ],
        "escalations": [
            {
                **e.model_dump(),
                "action_label": words("action", e.action, locale),
                "fired": _when(e.fired_at, view),
                "due": _when(e.due_at, view),
                "recipients": [
                    {
                        **r.model_dump(),
                        "channel_label": words("channel", r.channel, locale),
                        "status_label": words("delivery", r.status, locale),
                    }
                    for r in e.recipients
                ],
            }
            for e in trail.escalations
        ],
        "acknowledgement": (
            {
                **trail.acknowledgement.model_dump(),
                "via_label": label("via", trail.acknowledgement.via or "", locale),
                "when": _when(trail.acknowledgement.at, view),
            }
            if trail.acknowledgement
            else None
        ),
        "callbacks": [
            {
                **t.model_dump(),
                "status_label": words("task", t.status, locale),
                "outcome_label": words("outcome", t.outcome, locale),
                "due": _when(t.due_at, view),
                "taken": _when(t.taken_at, view),
                "created": _when(t.created_at, view),
                "answered": _when(t.updated_at, view),
            }
            for t in trail.callbacks
        ],
        "resolutions": [
            {
                **r.model_dump(),
                "by_name": view.contact_names.get(r.by, r.by),
                "via_label": label("via", r.via, locale),
                "when": _when(r.at, view),
            }
            for r in trail.resolutions
        ],
    }


def _taken_by(session: Session, memo: Memo) -> tuple[str, str | None]:
    """The operator who took the memo, and the call's id at the provider."""
    operator = session.get(User, memo.operator_id)
    call = session.get(Call, memo.call_id) if memo.call_id else None
    name = (operator.display_name or operator.email) if operator else ""
    return name, call.call_sid if call else None


@router.get("/memos/{memo_id}")
def memo_page(memo_id: str, request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """One memo with its whole trail: deliveries, escalations, acknowledgement, callbacks, and
    how the company handled it, with the form staff record that in for the company."""
    refused = refusal_page(request, user, STAFF_ROLES)
    if refused is not None:
        return refused
    memo = memos.get_memo(session=session, memo_id=memo_id)
    if memo is None:
        raise NotFound(N_("No such memo."))
    return _memo_page(request, session, user, memo)


def _memo_page(
    request: Request,
    session: Session,
    user: User | None,
    memo: Memo,
    *,
    form: dict[str, object] | None = None,
    deadline_error: str | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    company = session.get(Company, memo.company_id)
    assert company is not None
    locale = page_locale(request)
    view = dataclasses.replace(company_view(company), locale=locale)
    due = memo.follow_up_due
    operator_name, call_sid = _taken_by(session, memo)
    context = {
        "user": user,
        "section": "memos",
        "company": company,
        "m": memo_view(memo, view),
        "L": fact_labels(locale),
        "operator_name": operator_name,
        "call_sid": call_sid,
        "script_version": memo.company_version,
        "zone": str(view.zone),
        "trail": trail_view(memo_trail(session=session, memo=memo, company=company), view),
        "resolution_form": form
        or {"response": "", "cause": "", "result": "", "resolved": False, "by": "", "error": None},
        "resolution_action": f"/memos/{memo.id}/resolution",
        "csrf": csrf_token(request),
        # Staff say who at the company told them; the latest account is in the trail above.
        "resolution_by_field": True,
        "resolution": None,
        "follow_up": {
            "open": memo.resolved_at is None,
            "due": format_moment(due, locale=locale, zone=view.zone) if due else "",
            "due_input": due.astimezone(view.zone).strftime("%Y-%m-%dT%H:%M") if due else "",
            "error": deadline_error,
        },
    }
    return render(request, "memos_detail.html", context, status_code=status_code)


@router.post("/memos/{memo_id}/follow-up")
async def memo_follow_up(
    memo_id: str, request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected
) -> Response:
    """Set by when the company should resolve the memo (in its zone); audited as staff's."""
    refused = refusal_page(request, user, STAFF_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    memo = memos.get_memo(session=session, memo_id=memo_id)
    if memo is None:
        raise NotFound(N_("No such memo."))
    entered = _form_text((await request.form()).get("due")).strip()
    try:
        due = datetime.fromisoformat(entered)
    except ValueError:
        return _memo_page(
            request,
            session,
            user,
            memo,
            deadline_error=N_("Enter a date and time for the deadline."),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    try:
        set_deadline(
            session=session,
            memo=memo,
            due=due,
            actor=Actor(name=user.email, user_id=user.id, ip=client_address(request)),
        )
    except (Invalid, Conflict) as error:
        session.rollback()
        return _memo_page(
            request,
            session,
            user,
            memo,
            deadline_error=error.message,
            status_code=error.status,
        )
    return RedirectResponse(
        f"/memos/{memo.id}#follow-up-deadline", status_code=status.HTTP_303_SEE_OTHER
    )


def _form_text(value: object) -> str:
    return value if isinstance(value, str) else ""


@router.post("/memos/{memo_id}/resolution")
async def memo_resolution(
    memo_id: str, request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected
) -> Response:
    """Record, for the company, how it handled a memo (confirming it if need be); audited."""
    refused = refusal_page(request, user, STAFF_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    memo = memos.get_memo(session=session, memo_id=memo_id)
    if memo is None:
        raise NotFound(N_("No such memo."))
    form = await request.form()
    entered: dict[str, object] = {
        "response": _form_text(form.get("response")),
        "cause": _form_text(form.get("cause")),
        "result": _form_text(form.get("result")),
        "resolved": form.get("resolved") == "on",
        "by": _form_text(form.get("by")),
    }
    try:
        data = ResolutionIn.model_validate(entered)
    except ValidationError as error:
        loc = error.errors()[0]["loc"]
        return _memo_page(
            request,
            session,
            user,
            memo,
            form={**entered, "error": str(loc[0]) if loc else "response"},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    resolve(
        session=session,
        memo=memo,
        data=data,
        by=data.by or user.display_name or user.email,
        via=AckVia.operator,
        recorded_by=user,
        ip=client_address(request),
    )
    return RedirectResponse(
        f"/memos/{memo.id}#trail-resolutions", status_code=status.HTTP_303_SEE_OTHER
    )
