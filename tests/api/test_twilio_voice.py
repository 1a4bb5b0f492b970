"""POST /twilio/voice and its follow-ups: signed, idempotent, answering real TwiML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.calls.models import Call, WebhookReceipt
from service.companies.models import Company
from tests.twilio_signing import PUBLIC_BASE, post_signed, signature

INBOUND = {
    "CallSid": "CA" + "1" * 32,
    "AccountSid": "AC" + "0" * 32,
    "From": "+819011112222",
    "To": "+815012345678",
    "CallStatus": "ringing",
    "Direction": "inbound",
}


def twiml(response_text: str) -> ET.Element:
    root = ET.fromstring(response_text)
    assert root.tag == "Response"
    return root


def calls_in(session: Session) -> list[Call]:
    session.expire_all()
    return list(session.exec(select(Call)).all())


def test_signed_call_is_recorded_and_rings_the_operators(
    twilio_client: TestClient, session: Session, sakura: Company
) -> None:
    response = post_signed(twilio_client, "/twilio/voice", INBOUND)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    dial = twiml(response.text).find("Dial")
    assert dial is not None
    assert dial.get("answerOnBridge") == "true"
    assert dial.get("action") == f"{PUBLIC_BASE}/twilio/voice/dial"
    client = dial.find("Client")
    assert client is not None
    assert client.findtext("Identity") == "operators"
    params = {p.get("name"): p.get("value") for p in client.findall("Parameter")}
    assert params["client"] == "sakura-dental"
    assert dial.findtext("Sip") == "sip:desk@relay.example.jp"

    [call] = calls_in(session)
    assert (call.call_sid, call.from_number, call.to_number, call.status) == (
        INBOUND["CallSid"],
        "+819011112222",
        "+815012345678",
        "ringing",
    )
    assert call.company_id == sakura.id
    assert call.company_version == sakura.version


def test_missing_signature_is_refused_and_records_nothing(
    twilio_client: TestClient, session: Session, sakura: Company
) -> None:
    response = twilio_client.post("/twilio/voice", data=INBOUND)
    assert response.status_code == 403
    assert calls_in(session) == []


def test_wrong_signature_is_refused(
    twilio_client: TestClient, session: Session, sakura: Company
) -> None:
    forged = signature(f"{PUBLIC_BASE}/twilio/voice", INBOUND, token="not-the-token")
    tampered = {**INBOUND, "From": "+819099999999"}
    for form, sig in (
        (INBOUND, forged),
        (tampered, signature(f"{PUBLIC_BASE}/twilio/voice", INBOUND)),
    ):
        response = twilio_client.post(
            "/twilio/voice", data=form, headers={"X-Twilio-Signature": sig}
        )
        assert response.status_code == 403
    assert calls_in(session) == []


def test_signature_is_checked_against_the_public_url_not_the_proxy_headers(
    twilio_client: TestClient, session: Session, sakura: Company
) -> None:
    # Behind a TLS-terminating proxy the app sees http://testserver; Twilio signed the public URL.
    internal = signature("http://testserver/twilio/voice", INBOUND)
    spoofed = twilio_client.post(
        "/twilio/voice",
        data=INBOUND,
        headers={
            "X-Twilio-Signature": internal,
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Host": "testserver",
        },
    )
    assert spoofed.status_code == 403
    assert post_signed(twilio_client, "/twilio/voice", INBOUND).status_code == 200
    assert len(calls_in(session)) == 1


def test_replayed_webhook_records_the_call_once(
    twilio_client: TestClient, session: Session, sakura: Company
) -> None:
    token = {"I-Twilio-Idempotency-Token": "idem-1"}
    for _ in range(3):
        response = post_signed(twilio_client, "/twilio/voice", INBOUND, headers=token)
        assert response.status_code == 200
        assert twiml(response.text).find("Dial") is not None
    assert len(calls_in(session)) == 1
    assert len(session.exec(select(WebhookReceipt)).all()) == 1


def test_unknown_number_gets_a_polite_spoken_answer(
    twilio_client: TestClient, session: Session, sakura: Company
) -> None:
    for to in ("+81120000000", "not-a-number"):
        response = post_signed(twilio_client, "/twilio/voice", {**INBOUND, "To": to})
        assert response.status_code == 200
        root = twiml(response.text)
        says = root.findall("Say")
        assert [s.get("language") for s in says] == ["ja-JP", "en-US"]
        assert "お電話ありがとうございます" in (says[0].text or "")
        assert root.find("Hangup") is not None
        assert root.find("Dial") is None
    assert calls_in(session) == []


def test_webhooks_are_off_without_twilio(client: TestClient, sakura: Company) -> None:
    assert client.post("/twilio/voice", data=INBOUND).status_code == 404


def test_call_status_only_moves_forward(
    twilio_client: TestClient, session: Session, sakura: Company
) -> None:
    post_signed(twilio_client, "/twilio/voice", INBOUND)
    for status in ("in-progress", "ringing", "completed", "in-progress"):
        form = {"CallSid": INBOUND["CallSid"], "CallStatus": status}
        assert post_signed(twilio_client, "/twilio/voice/status", form).status_code == 204
    [call] = calls_in(session)
    assert call.status == "completed"
    assert call.ended_at is not None

    bad = post_signed(
        twilio_client,
        "/twilio/voice/status",
        {"CallSid": INBOUND["CallSid"], "CallStatus": "exploded"},
    )
    assert bad.status_code == 400


def test_unanswered_call_takes_a_voicemail_in_the_company_language(
    twilio_client: TestClient, session: Session, sakura: Company
) -> None:
    post_signed(twilio_client, "/twilio/voice", INBOUND)
    dial = {"CallSid": INBOUND["CallSid"], "DialCallStatus": "no-answer"}
    root = twiml(post_signed(twilio_client, "/twilio/voice/dial", dial).text)
    says = root.findall("Say")
    assert {say.get("language") for say in says} == {"ja-JP"}
    # The company's own greeting first, so the caller knows they reached the right place.
    assert says[0].text == "お電話ありがとうございます。さくら歯科クリニックでございます。"
    record = root.find("Record")
    assert record is not None
    assert record.get("action") == f"{PUBLIC_BASE}/twilio/voice/recording"

    recording = {
        "CallSid": INBOUND["CallSid"],
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1",
    }
    answer = twiml(post_signed(twilio_client, "/twilio/voice/recording", recording).text)
    assert answer.find("Hangup") is not None
    [call] = calls_in(session)
    assert call.recording_url == recording["RecordingUrl"]


def test_answered_dial_just_says_goodbye(
    twilio_client: TestClient, session: Session, sakura: Company
) -> None:
    post_signed(twilio_client, "/twilio/voice", INBOUND)
    done = {"CallSid": INBOUND["CallSid"], "DialCallStatus": "completed"}
    root = twiml(post_signed(twilio_client, "/twilio/voice/dial", done).text)
    assert root.find("Record") is None
    assert root.find("Hangup") is not None
