"""/docs describes every answer: each JSON body names its model, and no model has a loose field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from service.app import create_app
from service.settings import Settings

# The keywords that say what a value is; a schema with none of them accepts anything.
_TYPING_KEYWORDS = frozenset({"type", "$ref", "anyOf", "oneOf", "allOf", "const", "enum"})

# FastAPI's own model of a request validation error: `ctx` is whatever pydantic put there.
_NOT_OURS = frozenset({"ValidationError.ctx"})


@pytest.fixture
def spec(twilio_settings: Settings, engine: Engine) -> dict[str, Any]:
    """The OpenAPI document of an app with every route, Twilio's included."""
    app: FastAPI = create_app(settings=twilio_settings, engine=engine)
    return app.openapi()


def _answers(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Each route's successful answers: ("POST /twilio/sms", "200", response)."""
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation.get("responses", {}).items():
                if code.startswith("2"):
                    yield f"{method.upper()} {path}", code, response


def _untyped(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "object" and not schema.get("properties"):
        return schema.get("additionalProperties", True) is True
    return not _TYPING_KEYWORDS & schema.keys()


def _loose_fields(schema: dict[str, Any], where: str) -> Iterator[str]:
    """Where in `schema` a value may be any object or anything at all."""
    if _untyped(schema):
        yield where
    for name, field in schema.get("properties", {}).items():
        yield from _loose_fields(field, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _loose_fields(schema["items"], f"{where}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _loose_fields(schema["additionalProperties"], f"{where}{{}}")
    for keyword in ("anyOf", "oneOf", "allOf"):
        for choice in schema.get(keyword, []):
            yield from _loose_fields(choice, where)


def test_every_json_answer_is_a_named_schema(spec: dict[str, Any]) -> None:
    unnamed = [
        f"{route} {code}"
        for route, code, response in _answers(spec)
        if "application/json" in response.get("content", {})
        and "$ref" not in response["content"]["application/json"].get("schema", {})
    ]
    assert unnamed == [], "JSON answers without a named response model: " + ", ".join(unnamed)


def test_no_model_has_a_field_of_any_shape(spec: dict[str, Any]) -> None:
    loose = [
        where
        for name, schema in spec["components"]["schemas"].items()
        for field, field_schema in schema.get("properties", {}).items()
        for where in _loose_fields(field_schema, f"{name}.{field}")
        if where not in _NOT_OURS
    ]
    assert loose == [], "fields typed as any object or anything: " + ", ".join(loose)


def test_twilio_webhooks_answer_twiml_or_nothing(spec: dict[str, Any]) -> None:
    answers = {
        route: (code, sorted(response.get("content", {})))
        for route, code, response in _answers(spec)
        if route.split()[1].startswith("/twilio/")
    }
    twiml: tuple[str, list[str]] = ("200", ["application/xml"])
    nothing: tuple[str, list[str]] = ("204", [])
    assert answers == {
        "POST /twilio/voice": twiml,
        "POST /twilio/voice/dial": twiml,
        "POST /twilio/voice/recording": twiml,
        "POST /twilio/voice/status": nothing,
        "POST /twilio/voice/callout": twiml,
        "POST /twilio/voice/callout/gather": twiml,
        "POST /twilio/voice/callout/status": nothing,
        "POST /twilio/sms": twiml,
        "POST /twilio/sms/status": nothing,
    }


def test_the_event_stream_and_metrics_say_what_they_send(spec: dict[str, Any]) -> None:
    kinds = {
        route: sorted(response.get("content", {}))
        for route, _, response in _answers(spec)
        if route in ("GET /api/v1/events", "GET /metrics", "GET /healthz")
    }
    assert kinds == {
        "GET /api/v1/events": ["text/event-stream"],
        "GET /metrics": ["text/plain"],
        "GET /healthz": ["application/json"],
    }
