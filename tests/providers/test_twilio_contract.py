"""What the SMS provider sends and parses, checked against Twilio's own OpenAPI description."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import respx

from service.providers.base import Outcome
from service.providers.twilio_rest import TwilioRest
from service.providers.twilio_sms import TwilioSmsProvider
from tests.factories import make_outgoing_message

SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "twilio" / "twilio_api_v2010.json"
MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
FORM = "application/x-www-form-urlencoded"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
API_BASE = "https://api.twilio.test"

pytestmark = pytest.mark.skipif(
    not SPEC_PATH.is_file(), reason=f"Twilio's OpenAPI description is not at {SPEC_PATH}"
)


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

    assert found is not None
    assert (found.found, found.provider_id, found.status) == (
        True,
        documented["sid"],
        documented["status"],
    )
    query_names = {item["name"] for item in operation["parameters"] if item["in"] == "query"}
    assert set(route.calls.last.request.url.params) <= query_names
    assert "messages" in resolve(listed["schema"])["properties"]
