"""Schemathesis against the app's own OpenAPI description: no 5xx, and every answer as declared.

Every operation in `/openapi.json` is fuzzed from its declared parameters and bodies (valid
and invalid ones), as an admin, an operator and a client company's user in turn, each with a
Bearer token. Every response must be no 5xx, carry a status code the operation declares, the
content type declared for it, and a body that matches the declared schema (a refusal: the
one error body, `ErrorBody`). A company, memos, a callback task, a call, a caller's flag and
note, a spare user with a token and a stored secret are seeded, and the fuzzer is given their
ids and names beside the values it makes up, so the routes get past 404 some of the time.

Twilio's webhooks are fuzzed on an app with Twilio configured, each request signed the way
Twilio signs it (over the URL and the form the app reads), so the fuzz reaches past the
signature check; they declare no body, and test_hostile_values walks their form fields.

The run is derandomized, so CI sees the same cases every time. A larger run:

    RELAY_FUZZ_EXAMPLES=200 .venv/bin/pytest tests/api/test_openapi_fuzz.py

(the number is Hypothesis's `max_examples` per operation and caller, after schemathesis's
coverage cases; the default, 20, keeps the module to about two minutes a backend).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.app import create_app
from service.auth import service as auth
from service.auth.models import Role, User
from service.clock import ManualClock
from service.companies.models import Company
from service.escalation import tasks
from service.escalation.models import TaskStatus
from service.escalation.service import fire_due
from service.settings import Settings
from tests.dispatch.conftest import take_memo
from tests.factories import make_client_user, make_token, make_twilio_settings, make_user
from tests.twilio_signing import PUBLIC_BASE, signature

EXAMPLES = int(os.environ.get("RELAY_FUZZ_EXAMPLES", "20"))
CALLERS = ("admin", "operator", "client")
# A refusal's body is checked by the schema check: every 4xx is declared as the error body.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CALLER_PHONE = "+819011112222"
SECRET_NAME = "acme-chatwork"
# The event stream never ends by itself: each request reads it this long, then hangs up. It
# answers at once, so this bounds the wait for its first line too, on a busy machine.
EVENT_STREAM = "/api/v1/events"
EVENT_STREAM_SECONDS = 1.0


def _config() -> schemathesis.Config:
    # Defaults, not a schemathesis.toml found on the way up: the Hypothesis settings that
    # bound the run are the ones given to each operation's fuzz below.
    return schemathesis.Config()


@dataclass(frozen=True)
class Seeded:
    """Real values for the fuzzer to use beside its own, and each caller's headers."""

    path_values: dict[str, str]
    query_values: dict[str, str]
    body_values: dict[str, str]
    callers: dict[str, dict[str, str]]


@pytest.fixture
def seeded(
    settings: Settings,
    engine: Engine,
    clock: ManualClock,
    session: Session,
    company: Company,
    admin: User,
    operator: User,
) -> Seeded:
    """A company with a memo, a callback task, a call, a flag, a note, a spare user and a secret."""
    client_user = make_client_user(session, company_id=company.id, email="uketsuke@example.jp")
    callers = {
        "admin": make_token(session, admin),
        "operator": make_token(session, operator),
        "client": make_token(session, client_user),
    }
    # The one a fuzzed PATCH or DELETE may disable or revoke: never a caller of the run.
    spare = make_user(session, email="spare@relay.example", role=Role.operator)
    _, spare_token = auth.issue_api_token(session=session, user=spare, name="spare")
    memo = take_memo(session, operator, caller={"name": "山田 太郎", "phone": CALLER_PHONE})
    clock.advance(timedelta(hours=1))
    while fire_due(session=session, worker="w"):
        session.commit()
    [row] = tasks.list_tasks(session=session, statuses=(TaskStatus.open,))
    take_memo(session, operator, caller={"name": "田中 花子", "phone": "+819033334444"})
    session.commit()
    with TestClient(create_app(settings=settings, engine=engine)) as client:
        staff, own = callers["operator"], callers["client"]
        call = client.post(
            "/api/v1/calls/simulate",
            json={"client": company.slug, "from": CALLER_PHONE},
            headers=staff,
        )
        flag = client.post(
            f"/api/v1/callers/{CALLER_PHONE}/flags",
            json={"kind": "other", "note": "何度も"},
            headers=staff,
        )
        note = client.post(
            f"/api/v1/callers/{CALLER_PHONE}/notes",
            json={"text": "午後のみ折り返し可"},
            headers=own,
        )
        secret = client.put(
            f"/api/v1/secrets/{SECRET_NAME}",
            json={"value": "cw-token-0123456789"},
            headers=callers["admin"],
        )
    assert [call.status_code, flag.status_code, note.status_code, secret.status_code] == [
        201,
        201,
        201,
        200,
    ]
    return Seeded(
        path_values={
            "slug": company.slug,
            "version": "1",
            "memo_id": memo.id,
            "task_id": row.task.id,
            "call_id": call.json()["id"],
            "phone": CALLER_PHONE,
            "flag_id": flag.json()["id"],
            "note_id": note.json()["id"],
            "user_id": spare.id,
            "token_id": spare_token.id,
            "name": SECRET_NAME,
        },
        query_values={"company": company.slug, "client": company.slug},
        body_values={"client": company.slug, "contact": "director"},
        callers=callers,
    )


def _or_real(real_values: dict[str, str]) -> Any:
    """A hook that offers the generated values, or the same with the seeded ones put in."""

    def hook(context: Any, generated: Any) -> Any:
        if not isinstance(generated, dict) or not real_values.keys() & generated.keys():
            return st.just(generated)
        real = {key: real_values.get(key, value) for key, value in generated.items()}
        return st.sampled_from([generated, real])

    return hook


def _with_real_values(schema: BaseSchema, seeded: Seeded) -> BaseSchema:
    """`schema`, its fuzzer told to try the seeded ids and names as well as its own values."""
    schema.hook("flatmap_path_parameters")(_or_real(seeded.path_values))
    schema.hook("flatmap_query")(_or_real(seeded.query_values))
    schema.hook("flatmap_body")(_or_real(seeded.body_values))
    return schema


@pytest.fixture
def fuzzed_app(settings: Settings, engine: Engine, clock: ManualClock) -> Iterator[FastAPI]:
    """The app without Twilio, so that calls are simulated; its lifespan ends with the test."""
    yield create_app(settings=settings, engine=engine)
    schemathesis_asgi.shutdown_lifespans()


@pytest.fixture
def api_schema(fuzzed_app: FastAPI, seeded: Seeded) -> BaseSchema:
    """Every operation but Twilio's webhooks, as the app describes them to its staff."""
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", fuzzed_app, config=_config(), headers=seeded.callers["admin"]
    )
    return _with_real_values(schema, seeded).exclude(path_regex="^/twilio/")


def _fuzz(schema: BaseSchema, subtests: pytest.Subtests, headers: dict[str, str]) -> int:
    """Fuzz every operation of `schema`, each in a subtest of its own; how many there were."""
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"an operation the fuzzer cannot read: {result.err()}"
        operations.append(result.ok())
    for operation in operations:
        extra: dict[str, Any] = {}
        if operation.path == EVENT_STREAM:
            extra["timeout"] = EVENT_STREAM_SECONDS
        with subtests.test(msg=operation.label):
            _fuzz_operation(operation, headers, extra)
    return len(operations)


def _fuzz_operation(
    operation: APIOperation, headers: dict[str, str], extra: dict[str, Any]
) -> None:
    # Schemathesis's coverage cases first (each boundary and each kind of wrong value once),
    # then Hypothesis's, valid and invalid alike.
    for case in operation.schema.iter_coverage_cases(
        operation,
        generation_modes=list(GenerationMode),
        generation_config=operation.schema.config.generation_for(
            operation=operation, phase="coverage"
        ),
    ):
        case.call_and_validate(headers=dict(headers), checks=CHECKS, **extra)

    cases = st.one_of(*(operation.as_strategy(mode) for mode in GenerationMode))

    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=cases)
    def fuzzed(case: Case) -> None:
        case.call_and_validate(headers=dict(headers), checks=CHECKS, **extra)

    fuzzed()


@pytest.mark.parametrize("caller", CALLERS)
def test_every_operation_answers_as_declared(
    api_schema: BaseSchema, seeded: Seeded, caller: str, subtests: pytest.Subtests
) -> None:
    assert _fuzz(api_schema, subtests, seeded.callers[caller]) > 50


class SignedLikeTwilio:
    """Signs each request to /twilio/ as Twilio would: over the public URL and the form sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/twilio/"):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        query = scope["query_string"].decode("latin-1")
        url = PUBLIC_BASE + scope["path"] + (f"?{query}" if query else "")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        headers = [(key, value) for key, value in scope["headers"] if key != b"x-twilio-signature"]
        headers.append((b"x-twilio-signature", signature(url, form).encode()))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)


@pytest.fixture
def twilio_schema(
    settings: Settings, engine: Engine, clock: ManualClock, seeded: Seeded
) -> Iterator[BaseSchema]:
    """Twilio's webhooks, on an app with Twilio configured, every request signed."""
    app = create_app(settings=make_twilio_settings(settings), engine=engine)
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", SignedLikeTwilio(app), config=_config(), headers=seeded.callers["admin"]
    )
    yield _with_real_values(schema, seeded).include(path_regex="^/twilio/")
    schemathesis_asgi.shutdown_lifespans()


def test_every_twilio_webhook_answers_as_declared(
    twilio_schema: BaseSchema, subtests: pytest.Subtests
) -> None:
    assert _fuzz(twilio_schema, subtests, {}) >= 8
