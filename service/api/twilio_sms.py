"""Twilio SMS webhooks: replies from the company's phones, and the status of relayed SMS."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from twilio.twiml.messaging_response import MessagingResponse

from service.acks.sms_replies import handle_sms_reply
from service.api.twilio_auth import TwilioForm
from service.api.twiml_response import TwiML
from service.calls.service import seen_webhook
from service.dispatch.outcomes import advance_status, find_delivery, provider_status
from service.http_deps import SessionDep

router = APIRouter(prefix="/twilio/sms", tags=["twilio"])


def _twiml(answer: str | None) -> Response:
    reply = MessagingResponse()
    if answer:
        reply.message(answer)
    return TwiML(content=str(reply))


@router.post("", response_class=TwiML)
def sms_inbound(form: TwilioForm, session: SessionDep) -> Response:
    """A reply to a relayed SMS: STOP/START, or an acknowledgement; answered with TwiML."""
    message_sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    # A replay answers nothing, so Twilio never sends the confirmation twice either.
    if message_sid and seen_webhook(session=session, key=f"sms-in:{message_sid}"):
        return _twiml(None)
    outcome = handle_sms_reply(
        session=session, from_number=form.get("From", ""), body=form.get("Body", "")
    )
    return _twiml(outcome.answer)


@router.post("/status", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def sms_status(form: TwilioForm, session: SessionDep, d: str | None = None) -> Response:
    """A relayed SMS moved on; replays and late news change nothing."""
    message_sid = form.get("MessageSid", "").strip()
    word = form.get("MessageStatus", "").strip().lower()
    done = Response(status_code=status.HTTP_204_NO_CONTENT)
    new_status = provider_status(word)
    # A word Relay does not know changes nothing, so it is not kept as a receipt either.
    if not message_sid or new_status is None:
        return done
    if seen_webhook(session=session, key=f"sms-status:{message_sid}:{word}"):
        return done
    delivery = find_delivery(session=session, delivery_id=d, provider_id=message_sid)
    if delivery is None:
        return done
    if delivery.provider_id is None:
        delivery.provider_id = message_sid
    advance_status(
        session=session,
        delivery=delivery,
        status=new_status,
        error_code=form.get("ErrorCode") or None,
    )
    return done
