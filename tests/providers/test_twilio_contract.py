"""What the SMS provider sends and parses, checked against Twilio's own OpenAPI description."""

from __future__ import annotations

import json
import re
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from service.channels import Channel
from service.clock import ManualClock
from service.providers.base import Found, Outcome, OutgoingMessage
from service.providers.twilio.rest import TwilioRest
from service.providers.twilio.sms import TwilioSmsProvider
from service.providers.twilio.voice import TwilioVoiceProvider
from tests.factories import make_outgoing_message

# Twilio's description, copied unchanged into the repository (see twilio/README.md there).
SPEC_PATH = Path(__file__).resolve().parent / "twilio" / "twilio_api_v2010.json"
MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
FORM = "application/x-www-form-urlencoded"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
API_BASE = "https://api.twilio.test"


@cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return document


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if reference is None:
        return schema
    node: Any = spec()
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return resolve(node)


def create_message_schema() -> dict[str, Any]:
    body = spec()["paths"][MESSAGES]["post"]["requestBody"]["content"][FORM]["schema"]
    return resolve(body)


def message_schema() -> dict[str, Any]:
    created = spec()["paths"][MESSAGES]["post"]["responses"]["201"]["content"]
    return resolve(created["application/json"]["schema"])


def messages_url() -> str:
    return API_BASE + MESSAGES.replace("{AccountSid}", ACCOUNT_SID)


def make_provider(*, sms_from: str | None, messaging_service_sid: str | None) -> TwilioSmsProvider:
    rest = TwilioRest(account_sid=ACCOUNT_SID, auth_token="token", api_base=API_BASE)
    return TwilioSmsProvider(
        rest=rest, sms_from=sms_from, messaging_service_sid=messaging_service_sid
    )


def check_value(name: str, value: str, schema: dict[str, Any]) -> None:
    assert schema["type"] == "string", name
    if "pattern" in schema:
        assert re.fullmatch(schema["pattern"], value), (name, value)
    if schema.get("format") == "uri":
        parts = urlsplit(value)
        assert parts.scheme in ("http", "https") and parts.netloc, (name, value)
    if schema.get("format") == "phone-number":
        assert re.fullmatch(r"\+[1-9]\d{6,14}", value), (name, value)


def test_the_account_sid_and_path_are_twilios() -> None:
    parameters = spec()["paths"][MESSAGES]["post"]["parameters"]
    [account] = [item for item in parameters if item["name"] == "AccountSid"]
    assert re.fullmatch(account["schema"]["pattern"], ACCOUNT_SID)
    rest = TwilioRest(account_sid=ACCOUNT_SID, auth_token="token", api_base=API_BASE)
    assert rest.account_url + "/Messages.json" == messages_url()
    assert {"url": "https://api.twilio.com"} in spec()["servers"]


@pytest.mark.parametrize(
    ("sms_from", "service_sid"), [("+815011112222", None), (None, "MG" + "0" * 32)]
)
async def test_every_form_field_sent_is_one_twilio_defines_and_required_ones_are_there(
    respx_mock: respx.MockRouter, sms_from: str | None, service_sid: str | None
) -> None:
    route = respx_mock.post(messages_url()).respond(201, json={"sid": "SM" + "0" * 32})
    provider = make_provider(sms_from=sms_from, messaging_service_sid=service_sid)

    await provider.send(make_outgoing_message(text="【至急】苦情の伝言があります。"))
    await provider.aclose()

    request = route.calls.last.request
    assert request.headers["content-type"] == FORM
    security = spec()["paths"][MESSAGES]["post"]["security"]
    [scheme_name] = security[0]
    assert spec()["components"]["securitySchemes"][scheme_name]["scheme"] == "basic"
    assert request.headers["authorization"].startswith("Basic ")

    form = {name: values[0] for name, values in parse_qs(request.content.decode()).items()}
    schema = create_message_schema()
    properties = schema["properties"]
    assert set(form) <= set(properties), set(form) - set(properties)
    assert set(schema.get("required", [])) <= set(form)
    # Twilio also needs a sender and a content; the schema states these only in prose.
    assert {"From", "MessagingServiceSid"} & set(form)
    assert "Body" in form
    assert "StatusCallback" in form
    for name, value in form.items():
        check_value(name, value, properties[name])


async def test_the_documented_create_response_parses_to_its_sid(
    respx_mock: respx.MockRouter,
) -> None:
    created = spec()["paths"][MESSAGES]["post"]["responses"]["201"]["content"]["application/json"]
    example = created["examples"]["create"]["value"]
    properties = message_schema()["properties"]
    assert set(example) <= set(properties)
    assert re.fullmatch(properties["sid"]["pattern"], example["sid"])
    respx_mock.post(messages_url()).respond(201, json=example)
    provider = make_provider(sms_from="+815011112222", messaging_service_sid=None)

    result = await provider.send(make_outgoing_message())
    await provider.aclose()

    assert result.outcome == Outcome.sent
    assert result.provider_id == example["sid"]


async def test_a_body_built_from_the_schema_properties_parses(
    respx_mock: respx.MockRouter,
) -> None:
    properties = message_schema()["properties"]
    status_values = resolve(properties["status"])["enum"]
    sid = "SM" + "0123456789abcdef" * 2
    assert re.fullmatch(properties["sid"]["pattern"], sid)
    body = {name: None for name in properties} | {"sid": sid, "status": status_values[0]}
    respx_mock.post(messages_url()).respond(201, json=body)
    provider = make_provider(sms_from="+815011112222", messaging_service_sid=None)

    result = await provider.send(make_outgoing_message())
    await provider.aclose()

    assert result.provider_id == sid


async def test_lookup_uses_documented_filters_and_reads_the_documented_list(
    respx_mock: respx.MockRouter,
) -> None:
    operation = spec()["paths"][MESSAGES]["get"]
    listed = operation["responses"]["200"]["content"]["application/json"]
    page = listed["examples"]["readFullPage1"]["value"]
    documented = page["messages"][0]
    assert set(documented) <= set(message_schema()["properties"])
    route = respx_mock.get(messages_url()).respond(200, json=page)
    provider = make_provider(sms_from="+815011112222", messaging_service_sid=None)
    message = make_outgoing_message(to=documented["to"], text=documented["body"])

    found = await provider.lookup(message)
    await provider.aclose()

    assert (found.state, found.provider_id, found.status) == (
        Found.found,
        documented["sid"],
        documented["status"],
    )
    query_names = {item["name"] for item in operation["parameters"] if item["in"] == "query"}
    assert set(route.calls.last.request.url.params) <= query_names
    assert "messages" in resolve(listed["schema"])["properties"]


# --- voice call-outs: the Calls resource ------------------------------------------------------

CALLS = "/2010-04-01/Accounts/{AccountSid}/Calls.json"


def calls_url() -> str:
    return API_BASE + CALLS.replace("{AccountSid}", ACCOUNT_SID)


def call_schema() -> dict[str, Any]:
    created = spec()["paths"][CALLS]["post"]["responses"]["201"]["content"]
    return resolve(created["application/json"]["schema"])


def make_voice_provider() -> TwilioVoiceProvider:
    rest = TwilioRest(account_sid=ACCOUNT_SID, auth_token="token", api_base=API_BASE)
    return TwilioVoiceProvider(
        rest=rest, caller_id="+815011112222", public_base_url="https://relay.example.jp"
    )


def make_voice_message() -> OutgoingMessage:
    message: OutgoingMessage = make_outgoing_message(
        channel=Channel.voice,
        text="佐藤 院長様。さくら歯科クリニックの電話代行でございます。",
        status_callback="https://relay.example.jp/twilio/voice/callout/status?d=" + "d" * 32,
    )
    return message


def check_call_value(name: str, values: list[str], schema: dict[str, Any]) -> None:
    kind = schema["type"]
    if kind != "array":
        assert len(values) == 1, (name, values)  # only arrays repeat a field
    for value in values:
        if kind == "integer":
            assert re.fullmatch(r"\d+", value), (name, value)
            continue
        item = schema["items"] if kind == "array" else schema
        assert item["type"] == "string", name
        if "enum" in item:
            assert value in item["enum"], (name, value)
        if item.get("format") == "uri":
            parts = urlsplit(value)
            assert parts.scheme in ("http", "https") and parts.netloc, (name, value)
        if item.get("format") == "endpoint":
            assert re.fullmatch(r"\+[1-9]\d{6,14}", value), (name, value)


async def test_every_call_form_field_sent_is_one_twilio_defines_and_required_ones_are_there(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(calls_url()).respond(201, json={"sid": "CA" + "0" * 32})
    provider = make_voice_provider()

    await provider.send(make_voice_message())
    await provider.aclose()

    operation = spec()["paths"][CALLS]["post"]
    request = route.calls.last.request
    assert request.headers["content-type"] == FORM
    [scheme_name] = operation["security"][0]
    assert spec()["components"]["securitySchemes"][scheme_name]["scheme"] == "basic"
    assert request.headers["authorization"].startswith("Basic ")
    form = parse_qs(request.content.decode(), strict_parsing=True)
    schema = resolve(operation["requestBody"]["content"][FORM]["schema"])
    properties = schema["properties"]
    assert set(form) <= set(properties), set(form) - set(properties)
    assert set(schema["required"]) == {"To", "From"}
    assert set(schema["required"]) <= set(form)
    # What the call does is given by exactly one of these; the schema says so only in prose.
    assert {"Url", "Twiml", "ApplicationSid"} & set(form) == {"Url"}
    assert "StatusCallback" in form
    for name, values in form.items():
        check_call_value(name, values, properties[name])
    # Twilio calls Url and StatusCallback with the delivery named in the query.
    assert form["Url"] == ["https://relay.example.jp/twilio/voice/callout?d=" + "d" * 32]
    assert form["StatusCallback"][0].endswith("/twilio/voice/callout/status?d=" + "d" * 32)
    assert form["StatusCallbackEvent"] == ["completed"]
    assert "`completed`" in properties["StatusCallbackEvent"]["description"]
    assert 0 < int(form["Timeout"][0]) <= 600


async def test_the_documented_create_call_response_parses_to_its_sid(
    respx_mock: respx.MockRouter,
) -> None:
    created = spec()["paths"][CALLS]["post"]["responses"]["201"]["content"]["application/json"]
    example = created["examples"]["create"]["value"]
    properties = call_schema()["properties"]
    assert set(example) <= set(properties)
    assert re.fullmatch(properties["sid"]["pattern"], example["sid"])
    respx_mock.post(calls_url()).respond(201, json=example)
    provider = make_voice_provider()

    result = await provider.send(make_voice_message())
    await provider.aclose()

    assert (result.outcome, result.provider_id) == (Outcome.sent, example["sid"])


async def test_call_lookup_uses_documented_filters_and_reads_the_documented_list(
    respx_mock: respx.MockRouter, clock: ManualClock
) -> None:
    operation = spec()["paths"][CALLS]["get"]
    listed = operation["responses"]["200"]["content"]["application/json"]
    page = listed["examples"]["readFullPage1"]["value"]
    documented = page["calls"][0]
    properties = call_schema()["properties"]
    assert set(documented) <= set(properties)
    assert {"to", "from", "direction", "date_created", "status", "sid"} <= set(properties)
    assert properties["date_created"]["format"] == "date-time-rfc-2822"
    direction = properties["direction"]["description"]
    assert "`outbound-api` for calls initiated via the REST API" in direction
    # The documented call, as if placed by our timed-out attempt.
    clock.set(parsedate_to_datetime(documented["date_created"]))
    respx_mock.post(calls_url()).mock(side_effect=httpx.ReadTimeout("timed out"))
    # Its next page, as Twilio links it (a path from the API's root), in our account.
    example_account = documented["account_sid"]
    page = {**page, "next_page_uri": page["next_page_uri"].replace(example_account, ACCOUNT_SID)}
    token = httpx.URL(page["next_page_uri"]).params["PageToken"]
    following = respx_mock.get(calls_url(), params={"PageToken": token}).respond(
        200, json={**page, "calls": [], "next_page_uri": None}
    )
    route = respx_mock.get(calls_url()).respond(200, json=page)
    rest = TwilioRest(account_sid=ACCOUNT_SID, auth_token="token", api_base=API_BASE)
    provider = TwilioVoiceProvider(
        rest=rest, caller_id=documented["from"], public_base_url="https://relay.example.jp"
    )
    message = make_outgoing_message(
        channel=Channel.voice, to=documented["to"], attempted_at=clock.now()
    )
    assert (await provider.send(message)).outcome == Outcome.unknown

    found = await provider.lookup(message)
    await provider.aclose()

    assert (found.state, found.provider_id, found.status) == (
        Found.found,
        documented["sid"],
        documented["status"],
    )
    query_names = {item["name"] for item in operation["parameters"] if item["in"] == "query"}
    assert set(route.calls.last.request.url.params) <= query_names
    assert "calls" in resolve(listed["schema"])["properties"]
    # The documented call is as new as the attempt: the next page may hold another.
    assert following.call_count == 1
