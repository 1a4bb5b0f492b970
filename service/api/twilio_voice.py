"""Twilio voice webhooks: an inbound call rings the operators with its company on screen."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from service.api.twilio_auth import TwilioForm
from service.api.twiml_response import TwiML
from service.calls import service as calls
from service.companies.service import company_config, find_company_by_phone
from service.errors import BadRequest
from service.http_deps import SessionDep, SettingsDep
from service.i18n import N_
from service.phones import PhoneNumberError, to_e164
from service.providers.twilio import twiml

router = APIRouter(prefix="/twilio/voice", tags=["twilio"])


def _twiml(body: str) -> Response:
    return TwiML(content=body)


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise BadRequest(N_("%(name)s is missing."), field=name, code="missing", name=name)
    return value


def _caller_number(raw: str, *, country: str) -> str:
    # Withheld numbers arrive as "anonymous" or Twilio's placeholders; keep them as given.
    try:
        return to_e164(raw, country=country)
    except PhoneNumberError:
        return raw[:32]


@router.post("", response_class=TwiML)
def inbound_call(
    form: TwilioForm, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Record the call, show it on every console, and ring the operators."""
    call_sid = _required(form, "CallSid")
    try:
        to_number = to_e164(_required(form, "To"))
    except PhoneNumberError:
        return _twiml(twiml.unknown_number())
    company = find_company_by_phone(session=session, e164=to_number)
    if company is None:
        return _twiml(twiml.unknown_number())
    config = company_config(company)
    token = request.headers.get("i-twilio-idempotency-token")
    if token is None or not calls.seen_webhook(session=session, key=f"voice:{token}"):
        calls.record_inbound_call(
            session=session,
            company=company,
            call_sid=call_sid,
            from_number=_caller_number(form.get("From", ""), country=config.country),
            to_number=to_number,
        )
    return _twiml(
        twiml.ring_operators(
            targets=settings.twilio_operator_targets,
            timeout=settings.twilio_ring_timeout,
            dial_action_url=f"{settings.public_base_url}/twilio/voice/dial",
            company_slug=company.slug,
            company_name=company.name,
        )
    )


@router.post("/status", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def call_status(form: TwilioForm, session: SessionDep) -> Response:
    """Call progress; a status only moves forward, so replays and late ones change nothing."""
    call_sid = _required(form, "CallSid")
    calls.update_call_status(session=session, call_sid=call_sid, status=form.get("CallStatus", ""))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/dial", response_class=TwiML)
def dial_finished(form: TwilioForm, session: SessionDep, settings: SettingsDep) -> Response:
    """No operator answered in time: take a voicemail in the company's language."""
    call_sid = _required(form, "CallSid")
    call = calls.find_call(session=session, call_sid=call_sid)
    locale, greeting = "ja", ""
    if call is not None:
        config = company_config(calls.company_of(session=session, call=call))
        locale, greeting = config.locale, config.greeting
    if form.get("DialCallStatus") == "completed":
        return _twiml(twiml.hang_up(locale=locale))
    return _twiml(
        twiml.voicemail(
            locale=locale,
            greeting=greeting,
            recording_action_url=f"{settings.public_base_url}/twilio/voice/recording",
        )
    )


@router.post("/recording", response_class=TwiML)
def voicemail_recorded(form: TwilioForm, session: SessionDep) -> Response:
    """Keep the voicemail's recording on the call and say goodbye."""
    call_sid = _required(form, "CallSid")
    recording_url = form.get("RecordingUrl", "").strip()
    call = None
    if recording_url.startswith("https://"):
        call = calls.attach_recording(
            session=session, call_sid=call_sid, recording_url=recording_url
        )
    locale = company_config(calls.company_of(session=session, call=call)).locale if call else "ja"
    return _twiml(twiml.hang_up(locale=locale))
