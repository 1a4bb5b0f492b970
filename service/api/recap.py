"""A company's daily recap on demand: an admin sends today's recap so far, as a test.

`POST /api/v1/clients/{slug}/recap` queues it at once to everyone who opted in (contacts with
`recap: true` by email, destinations with `recap: true` on their platform). It is kept as a
test, so the day's own recap still goes out at the company's `recap.at`.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from service.api.clients import company_for
from service.audit.service import Action, record
from service.companies.service import company_config
from service.errors import Invalid
from service.http_deps import CurrentAdmin, SessionDep, SettingsDep, actor_of
from service.i18n import N_
from service.reports.recap import recap_recipients, send_test_recap
from service.web.csrf import verify_csrf

router = APIRouter(prefix="/api/v1", tags=["clients"], dependencies=[Depends(verify_csrf)])


class RecapDeliveryOut(BaseModel):
    """One recipient's delivery of the recap."""

    id: str
    contact: str = Field(description="the contact's or destination's key")
    channel: str
    to: str


class RecapSentOut(BaseModel):
    """What the recap counted, and one delivery per recipient, queued now."""

    recap_id: str
    day: date = Field(description="the company's local day the recap is of")
    memos: int = Field(description="the day's memos so far")
    urgent: int
    not_confirmed: int = Field(description="the day's memos nobody has acknowledged yet")
    still_open: int = Field(description="memos of any day unacknowledged or not yet resolved")
    deliveries: list[RecapDeliveryOut]


@router.post(
    "/clients/{slug}/recap",
    response_model=RecapSentOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={422: {"description": "`no_recap_recipients`: nobody opted in to the recap"}},
)
def send_recap_now(
    slug: str,
    admin: CurrentAdmin,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> RecapSentOut:
    """Send the company's recap of today so far now, as a test; the day's recap is still sent."""
    company = company_for(session=session, slug=slug, user=admin)
    if not recap_recipients(config=company_config(company)):
        raise Invalid(
            N_(
                "Nobody receives this company's recap: give a contact or a destination recap: true."
            ),
            code="no_recap_recipients",
        )
    recap, rows = send_test_recap(
        session=session, company=company, requested_by=admin.email, settings=settings
    )
    record(
        session=session,
        actor=actor_of(request, admin),
        action=Action.company_test_sent,
        target=f"company:{company.slug}",
        company_id=company.id,
        detail={"recap_id": recap.id, "recipients": str(len(rows))},
    )
    return RecapSentOut(
        recap_id=recap.id,
        day=recap.day,
        memos=recap.memos,
        urgent=recap.urgent,
        not_confirmed=recap.unconfirmed,
        still_open=recap.still_open,
        deliveries=[
            RecapDeliveryOut(id=d.id, contact=d.contact_key, channel=d.channel.value, to=d.to)
            for d in rows
        ],
    )
