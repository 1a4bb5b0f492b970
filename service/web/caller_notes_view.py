"""The notes and policies kept about a caller, as the caller pages show them and their forms.

Staff see every company's notes and policies and write a note for a company they choose; only
an admin sets or clears a policy there. A company's users see and write their company's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlmodel import Session

from service.auth.models import Role, User
from service.calls.caller_notes import NOTE_MAX, may_delete_note
from service.calls.caller_policies import LIMIT_MAX, LIMIT_MIN, POLICY_MAX
from service.companies.service import list_companies
from service.memos.caller_record import CallerRecord
from service.web.csrf import csrf_token
from service.web.memo_view import company_view, local_time


@dataclass(frozen=True)
class NoteForm:
    """What was entered in the note form, and what is wrong with it."""

    company: str = ""
    text: str = ""
    error: str | None = None


@dataclass(frozen=True)
class PolicyForm:
    """What was entered in the policy form, and what is wrong with it."""

    company: str = ""
    text: str = ""
    minutes: str = ""
    error: str | None = None


@dataclass(frozen=True)
class CallerForms:
    """The forms of a caller page as a refused submission left them."""

    note: NoteForm | None = None
    policy: PolicyForm | None = None


def notes_context(
    *,
    request: Request,
    session: Session,
    record: CallerRecord,
    user: User,
    locale: str,
    base: str,
    forms: CallerForms | None,
) -> dict[str, Any]:
    """The template values of a caller page's notes and policies; `base` is the page's path."""
    staff = user.role != Role.client
    notes = []
    for note, company in record.notes:
        writer = record.writers.get(note.written_by)
        notes.append(
            {
                "id": note.id,
                "company": company.name,
                "text": note.text,
                "by": writer.name if writer else "",
                "bureau": writer.bureau if writer else False,
                "when": local_time(note.written_at, company_view(company), locale=locale),
                "iso": note.written_at.isoformat(),
                "delete_action": f"{base}/notes/{note.id}/delete"
                if may_delete_note(user=user, note=note)
                else None,
            }
        )
    policies = []
    for policy, company in record.policies:
        setter = record.writers.get(policy.set_by)
        policies.append(
            {
                "company": company.name,
                "slug": company.slug,
                "text": policy.text,
                "minutes": policy.time_limit_minutes,
                "by": setter.name if setter else "",
                "when": local_time(policy.set_at, company_view(company), locale=locale),
                "iso": policy.set_at.isoformat(),
            }
        )
    forms = forms or CallerForms()
    # Staff choose the company; the one the caller last rang comes first.
    latest = record.calls[0][1].slug if record.calls else ""
    # A company's users edit the one policy their company has.
    own = record.policies[0][0] if record.policies and not staff else None
    return {
        "staff": staff,
        "caller_notes": notes,
        "caller_policies": policies,
        "note_companies": (
            [(c.slug, c.name) for c in list_companies(session=session)] if staff else []
        ),
        "can_set_policy": user.role in (Role.admin, Role.client),
        "note_form": forms.note or NoteForm(company=latest),
        "policy_form": forms.policy
        or PolicyForm(
            company=latest,
            text=own.text if own else "",
            minutes=str(own.time_limit_minutes or "") if own else "",
        ),
        "note_action": f"{base}/notes",
        "policy_action": f"{base}/policy",
        "policy_clear_action": f"{base}/policy/clear",
        "note_max": NOTE_MAX,
        "policy_max": POLICY_MAX,
        "limit_min": LIMIT_MIN,
        "limit_max": LIMIT_MAX,
        "csrf": csrf_token(request),
    }
