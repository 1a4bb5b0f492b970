"""The acknowledgement link `/a/<token>`: the memo on a phone, and one button to confirm it.

No sign-in and no CSRF field: the signed token in the URL is the credential, and it names one
memo and one contact. GET never acknowledges (mail scanners open links); POST does. Once it
is seen, a form on the same page records how the company handled the memo
(POST /a/<token>/resolution, which also acknowledges a memo not yet seen).

Answers: a forged, altered or unknown token is 404 (a page, not JSON). GET is 200 in every
other case. POST is 200 with a page saying it is done, or that someone had already confirmed
(nothing changes); on an expired link it is 410 with a page showing the memo's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import APIRouter, Request, Response, status
from pydantic import ValidationError
from sqlmodel import Session

from service.acks.service import AckVia, acknowledge
from service.companies.models import Company
from service.followup.schema import ResolutionIn
from service.followup.service import resolve
from service.http_deps import SessionDep, SettingsDep
from service.memos.ack_links import AckClaim, is_expired, read_ack_token
from service.memos.models import Memo
from service.memos.resolutions import latest_resolutions
from service.settings import Settings
from service.web.memo_view import CompanyView, company_view, fact_labels, memo_view
from service.web.templating import page_locale, use_locale

router = APIRouter(include_in_schema=False)

# The token is in the URL: keep it out of caches, other sites' logs and search engines.
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}
MAX_TOKEN_CHARS = 200


@dataclass(frozen=True)
class _Found:
    claim: AckClaim
    memo: Memo
    view: CompanyView


def _find(*, session: Session, settings: Settings, token: str) -> _Found | None:
    """The memo a genuine token names, with its company's way of showing it."""
    if len(token) > MAX_TOKEN_CHARS:
        return None
    claim = read_ack_token(secrets=settings.verifying_secrets(), token=token)
    if claim is None:
        return None
    memo = session.get(Memo, claim.memo_id)
    if memo is None:
        return None
    company = session.get(Company, memo.company_id)
    if company is None:
        return None
    return _Found(claim=claim, memo=memo, view=company_view(company))


def _expired(found: _Found, settings: Settings) -> bool:
    return is_expired(found.claim, lifetime=timedelta(days=settings.ack_link_days))


def _page(
    request: Request,
    *,
    session: Session | None,
    found: _Found | None,
    state: str,
    status_code: int = status.HTTP_200_OK,
    form: dict[str, object] | None = None,
    fresh: bool = True,
) -> Response:
    # The company's language; a link that names no company is read in the reader's own.
    if found is not None:
        use_locale(request, found.view.locale)
    context: dict[str, object] = {"state": state, "L": fact_labels(page_locale(request))}
    if found is not None and session is not None:
        resolution = latest_resolutions(session=session, memo_ids=[found.memo.id]).get(
            found.memo.id
        )
        context |= {
            "company": found.view.name,
            "contact": found.view.contact_names.get(found.claim.contact_key, ""),
            "m": memo_view(found.memo, found.view),
            # An expired link keeps showing where the memo stands, but no longer its contents.
            "show_details": state != "expired",
            "fresh": fresh,
            # Once seen, and while the link is fresh, how it was handled can be recorded.
            "resolution_form": form
            or {"response": "", "cause": "", "result": "", "resolved": False, "error": None},
            "resolution_action": request.url.path.removesuffix("/resolution") + "/resolution",
            "resolution": resolution,
            "resolution_by": found.view.contact_names.get(resolution.by) if resolution else None,
        }
    response: Response = request.app.state.templates.TemplateResponse(
        request, "ack.html", context, status_code=status_code, headers=PRIVATE_HEADERS
    )
    return response


def _not_found(request: Request) -> Response:
    return _page(
        request, session=None, found=None, state="not_found", status_code=status.HTTP_404_NOT_FOUND
    )


@router.get("/a/{token}")
def ack_page(token: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The memo and, while it waits and the link is fresh, the confirm button."""
    found = _find(session=session, settings=settings, token=token)
    if found is None:
        return _not_found(request)
    if found.memo.acknowledged_at is not None:
        return _page(
            request,
            session=session,
            found=found,
            state="acknowledged",
            fresh=not _expired(found, settings),
        )
    if _expired(found, settings):
        return _page(request, session=session, found=found, state="expired")
    return _page(request, session=session, found=found, state="waiting")


@router.post("/a/{token}")
def ack_submit(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Acknowledge on behalf of the token's contact; a second time changes nothing."""
    found = _find(session=session, settings=settings, token=token)
    if found is None:
        return _not_found(request)
    if found.memo.acknowledged_at is not None:
        return _page(
            request,
            session=session,
            found=found,
            state="already",
            fresh=not _expired(found, settings),
        )
    if _expired(found, settings):
        return _page(
            request, session=session, found=found, state="expired", status_code=status.HTTP_410_GONE
        )
    result = acknowledge(
        session=session, memo_id=found.memo.id, by=found.claim.contact_key, via=AckVia.link
    )
    if result is None:
        return _not_found(request)
    found = _Found(claim=found.claim, memo=result.memo, view=found.view)
    return _page(request, session=session, found=found, state="done" if result.first else "already")


def _form_text(value: object) -> str:
    return value if isinstance(value, str) else ""


@router.post("/a/{token}/resolution")
async def resolution_submit(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Record how the token's contact handled the memo; acknowledges it first if need be."""
    found = _find(session=session, settings=settings, token=token)
    if found is None:
        return _not_found(request)
    if _expired(found, settings):
        return _page(
            request, session=session, found=found, state="expired", status_code=status.HTTP_410_GONE
        )
    form = await request.form()
    entered: dict[str, object] = {
        "response": _form_text(form.get("response")),
        "cause": _form_text(form.get("cause")),
        "result": _form_text(form.get("result")),
        "resolved": form.get("resolved") == "on",
    }
    try:
        data = ResolutionIn.model_validate(entered)
    except ValidationError as error:
        problem = error.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else "response"
        state = "acknowledged" if found.memo.acknowledged_at is not None else "waiting"
        return _page(
            request,
            session=session,
            found=found,
            state=state,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            form={**entered, "error": field},
        )
    resolve(
        session=session,
        memo=found.memo,
        data=data,
        by=found.claim.contact_key,
        via=AckVia.link,
    )
    return _page(request, session=session, found=found, state="resolved")
