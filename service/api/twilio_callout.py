"""Twilio webhooks of the voice call-out: the contact answers, presses a key, or the call ends."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from service.acks import voice_replies
from service.api.twilio_auth import TwilioForm
from service.api.twiml_response import TwiML
from service.calls.service import seen_webhook
from service.dispatch.models import Delivery
from service.http_deps import SessionDep, SettingsDep
from service.providers.twilio import callout_twiml
from service.settings import Settings

router = APIRouter(prefix="/twilio/voice/callout", tags=["twilio"])

ACKNOWLEDGE_KEY = "1"
REPEAT_KEY = "2"


def _twiml(body: str) -> Response:
    return TwiML(content=body)


def _gather_url(settings: Settings, delivery: Delivery, *, retry: bool = False) -> str:
    url = f"{settings.public_base_url}{router.prefix}/gather?d={delivery.id}"
    return url + "&retry=1" if retry else url


def _summary(settings: Settings, delivery: Delivery) -> Response:
    assert delivery.text is not None
    return _twiml(
        callout_twiml.read_summary(
            summary=delivery.text,
            locale=delivery.locale,
            gather_url=_gather_url(settings, delivery),
        )
    )


@router.post("", response_class=TwiML)
def callout_answered(
    form: TwilioForm, session: SessionDep, settings: SettingsDep, d: str | None = None
) -> Response:
    """The contact picked up: read the memo's summary and listen for one key."""
    call_sid = form.get("CallSid", "").strip()
    delivery = voice_replies.find_callout(session=session, delivery_id=d, call_sid=call_sid)
    memo = voice_replies.memo_of(session=session, delivery=delivery) if delivery else None
    if delivery is None or memo is None or delivery.text is None:
        return _twiml(callout_twiml.unknown_callout())
    voice_replies.call_answered(session=session, delivery=delivery, call_sid=call_sid)
    if memo.acknowledged_at is not None:
        return _twiml(callout_twiml.already_acknowledged(locale=delivery.locale))
    return _summary(settings, delivery)


@router.post("/gather", response_class=TwiML)
def callout_key(
    form: TwilioForm,
    session: SessionDep,
    settings: SettingsDep,
    d: str | None = None,
    retry: int = 0,
) -> Response:
    """The key pressed: 1 acknowledges, 2 reads the summary again, anything else asks once more."""
    call_sid = form.get("CallSid", "").strip()
    delivery = voice_replies.find_callout(session=session, delivery_id=d, call_sid=call_sid)
    if delivery is None or delivery.text is None:
        return _twiml(callout_twiml.unknown_callout())
    digits = form.get("Digits", "").strip()
    if digits == ACKNOWLEDGE_KEY:
        result = voice_replies.acknowledge_by_key(session=session, delivery=delivery)
        if result is None:
            return _twiml(callout_twiml.unknown_callout())
        if result.first:
            return _twiml(callout_twiml.acknowledged(locale=delivery.locale))
        return _twiml(callout_twiml.already_acknowledged(locale=delivery.locale))
    if digits == REPEAT_KEY:
        return _summary(settings, delivery)
    if retry:
        return _twiml(callout_twiml.not_confirmed(locale=delivery.locale))
    return _twiml(
        callout_twiml.reprompt(
            locale=delivery.locale, gather_url=_gather_url(settings, delivery, retry=True)
        )
    )


@router.post("/status", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def callout_status(form: TwilioForm, session: SessionDep, d: str | None = None) -> Response:
    """The call ended: answered, busy, not answered or failed; replays change nothing."""
    call_sid = form.get("CallSid", "").strip()
    word = form.get("CallStatus", "").strip().lower()
    done = Response(status_code=status.HTTP_204_NO_CONTENT)
    if not call_sid or not word:
        return done
    if seen_webhook(session=session, key=f"callout-status:{call_sid[:64]}:{word[:32]}"):
        return done
    delivery = voice_replies.find_callout(session=session, delivery_id=d, call_sid=call_sid)
    if delivery is not None:
        voice_replies.record_call_outcome(
            session=session, delivery=delivery, call_status=word, call_sid=call_sid
        )
    return done
