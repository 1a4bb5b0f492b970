"""Every route, walked with hostile values in each input it declares: never a 5xx.

Each path parameter, query parameter, JSON body field (nested ones too) and form field a route
declares gets, one at a time, values an attacker would try: times without a zone or past the
end of the calendar, huge and negative numbers, NUL characters (PostgreSQL refuses them in
text), unpaired surrogates, very long strings, cursors that no list handed out, and values of
the wrong type. Every other input keeps a valid value (real ids, a valid memo), so the hostile
one reaches as far into the route as it can. Twilio's webhooks are walked signed, field by
field of the forms they read. Callers: an admin, an operator, a client company's user, and
nobody; a caller a route refuses (401/403) is not walked further on that route.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from itertools import count
from typing import Any, get_args
from urllib.parse import parse_qsl, quote, urlencode

import httpx
import pytest
from fastapi import FastAPI, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from service.app import create_app
from service.auth import service as auth
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.companies.service import company_config
from service.errors import ErrorBody
from service.escalation import tasks
from service.escalation.models import TaskStatus
from service.escalation.service import fire_due
from service.memos.ack_links import make_ack_token
from service.providers import outbox
from service.settings import Settings
from service.web.api_docs import SWAGGER_UI_ASSETS
from tests.dispatch.conftest import take_memo
from tests.factories import (
    company_document,
    csrf_from,
    make_client_user,
    make_outgoing_message,
    make_token,
    make_twilio_settings,
)
from tests.twilio_signing import ACCOUNT_SID, PUBLIC_BASE, signature

CALLER_PHONE = "+819011112222"
# Values as they travel in a path, a query string or a form (encoded as UTF-8, or as the
# bytes of a surrogate, which are no UTF-8 at all).
HOSTILE_TEXT: list[str] = [
    "2024-01-01T00:00:00",
    "9999-12-31T23:59:59-14:00",
    str(10**30),
    "-1",
    "\x00",
    "a\x00b",
    "\ud800",
    "x" * 5000,
    "MjAyNC0wMS0wMVQwMDowMDowMHx4",  # a memo list cursor whose time has no zone
    "%%%",
]
# Values as they travel in JSON: the same, and values of every other type.
HOSTILE_JSON: list[Any] = [
    *HOSTILE_TEXT,
    10**30,
    -(10**30),
    -1,
    1.5,
    True,
    None,
    [],
    {},
    ["\x00"],
    {"\x00": "\ud800"},
]
# A valid body for each JSON model, so the hostile field is the only thing wrong.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "MemoIn": {
        "client": "sakura-dental",
        "category": "complaint",
        "urgency": "normal",
        "caller": {"name": "山田 太郎", "phone": "090-1111-2222", "company": "山田商事"},
        "subject": "予約の件",
        "body": "折り返し希望",
        "fields": {},
    },
    "CallbackResult": {"outcome": "no_answer", "retry_in_minutes": 30},
    "AckIn": {"by": "佐藤 院長"},
    "ResolutionIn": {"response": "お詫びした", "cause": "", "result": "", "resolved": True},
    "FollowUpDueIn": {"due": "2030-01-01T09:00:00+09:00"},
    "SimulatedCall": {"client": "sakura-dental", "from": "090-1111-2222"},
    "FlagIn": {"kind": "other", "note": "同じ番号から何度も"},
    "NoteIn": {"text": "午後のみ折り返し可"},
    "PolicyIn": {"text": "折り返しはいたしません", "time_limit_minutes": 5},
    "MeChange": {"locale": "en"},
    "TestSendIn": {"contact": "director"},
    "UserCreate": {"email": "shinjin@relay.example", "role": "operator"},
    "UserChange": {"name": "新しい名前"},
    "TokenCreate": {"name": "CRM"},
    "TwoFactorSettingChange": {"required_for_staff": False},
    "SecretValue": {"value": "cw-token-0123456789"},
}
# A stream that never ends: it is answered, but not walked.
NOT_WALKED = {"/api/v1/events"}
# The form fields Twilio's webhooks read.
TWILIO_FIELDS = (
    "CallSid",
    "MessageSid",
    "SmsSid",
    "From",
    "To",
    "Body",
    "CallStatus",
    "DialCallStatus",
    "MessageStatus",
    "Digits",
    "RecordingUrl",
    "ErrorCode",
)
_quote = partial(quote, safe="", errors="surrogatepass")
_encode = partial(urlencode, safe="", errors="surrogatepass")


@dataclass
class World:
    """Ids of real rows for the inputs that are not the hostile one, and each caller's headers."""

    path_values: dict[str, str]
    callers: dict[str, dict[str, str]]
    company_number: str
    sids: Iterator[int] = field(default_factory=lambda: count(1))


@dataclass(frozen=True)
class Attempt:
    method: str
    url: str
    content: bytes | None = None
    content_type: str | None = None

    def send(self, client: TestClient, headers: dict[str, str]) -> httpx.Response:
        sent = dict(headers)
        if self.content_type:
            sent["Content-Type"] = self.content_type
        return client.request(self.method, self.url, content=self.content, headers=sent)


@pytest.fixture
def plain_app(settings: Settings, engine: Engine, clock: ManualClock) -> FastAPI:
    """The app without Twilio: simulated calls work, the webhooks are not there."""
    plain = settings.model_copy(update={"public_base_url": PUBLIC_BASE})
    return create_app(settings=plain, engine=engine)


@pytest.fixture
def twilio_app(settings: Settings, engine: Engine, clock: ManualClock) -> FastAPI:
    twilio = make_twilio_settings(settings, twilio_sms_from="+815000000000")
    return create_app(settings=twilio, engine=engine)


@pytest.fixture
def world(
    plain_app: FastAPI,
    session: Session,
    settings: Settings,
    clock: ManualClock,
    company: Company,
    admin: User,
    operator: User,
) -> World:
    """A company with a memo, a callback task taken by the operator, a call and a flag."""
    client_user = make_client_user(session, company_id=company.id, email="uketsuke@example.jp")
    callers = {
        "admin": make_token(session, admin),
        "operator": make_token(session, operator),
        "client": make_token(session, client_user),
        "nobody": {},
    }
    memo = take_memo(session, operator, caller={"name": "山田 太郎", "phone": CALLER_PHONE})
    clock.advance(timedelta(hours=1))
    while fire_due(session=session, worker="w"):
        session.commit()
    [row] = tasks.list_tasks(session=session, statuses=(TaskStatus.open,))
    tasks.take_task(session=session, task_id=row.task.id, operator_id=operator.id)
    session.commit()
    with TestClient(plain_app) as client:
        call = client.post(
            "/api/v1/calls/simulate",
            json=VALID_BODIES["SimulatedCall"],
            headers=callers["operator"],
        ).json()
        flag = client.post(
            f"/api/v1/callers/{CALLER_PHONE}/flags",
            json=VALID_BODIES["FlagIn"],
            headers=callers["operator"],
        ).json()
        note = client.post(
            f"/api/v1/callers/{CALLER_PHONE}/notes",
            json=VALID_BODIES["NoteIn"],
            headers=callers["client"],
        ).json()
    token = make_ack_token(secret=settings.secret(), memo_id=memo.id, contact_key="director")
    _, spare_token = auth.issue_api_token(session=session, user=operator, name="spare")
    kept = outbox.store_message(session=session, message=make_outgoing_message())
    session.commit()
    return World(
        path_values={
            "slug": company.slug,
            "version": "1",
            "memo_id": memo.id,
            "task_id": row.task.id,
            "call_id": call["id"],
            "phone": CALLER_PHONE,
            "flag_id": flag["id"],
            "note_id": note["id"],
            "token": token,
            "name": next(iter(SWAGGER_UI_ASSETS)),
            "user_id": operator.id,
            "token_id": spare_token.id,
            "message_id": kept.id,
        },
        callers=callers,
        company_number=company_config(company).phone_numbers[0],
    )


def _inputs(dependant: Dependant, kind: str) -> list[Any]:
    """The parameters of one kind a route and its dependencies declare, each once."""
    found = {param.alias: param for param in getattr(dependant, kind)}
    for sub in dependant.dependencies:
        for param in _inputs(sub, kind):
            found.setdefault(param.alias, param)
    return list(found.values())


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        model = _model_of(arg)
        if model is not None:
            return model
    return None


def _field_paths(model: type[BaseModel], body: dict[str, Any]) -> list[tuple[str, ...]]:
    """Every field of `model` by its JSON name, nested models' fields too."""
    paths: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        paths.append((key,))
        nested = _model_of(info.annotation)
        if nested is not None and isinstance(body.get(key), dict):
            paths += [(key, *sub) for sub in _field_paths(nested, body[key])]
    return paths


def _replaced(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


def _json(body: Any) -> bytes:
    # Escaped as ASCII: a lone surrogate travels as \ud800, as any JSON client may send it.
    return json.dumps(body).encode()


def _form(fields: dict[str, str]) -> bytes:
    return _encode(fields).encode()


def _url(path_format: str, path_values: dict[str, str], query: dict[str, str]) -> str:
    url = path_format.format(**{k: _quote(v) for k, v in path_values.items()})
    return f"{url}?{_encode(query)}" if query else url


def _attempts(route: Any, world: World, form_defaults: dict[str, str]) -> Iterator[Attempt]:
    """Requests to `route`, each with one hostile value in one input it declares."""
    dependant: Dependant = route.dependant
    method = sorted(route.methods)[0]
    path_names = [param.alias for param in _inputs(dependant, "path_params")]
    valid_path = {name: world.path_values[name] for name in path_names}
    body_params = _inputs(dependant, "body_params")
    forms = [p for p in body_params if isinstance(p.field_info, params.Form)]
    model = _model_of(body_params[0].field_info.annotation) if body_params and not forms else None
    body: dict[str, Any] | None = None
    if body_params and not forms:
        # The one body that is no model is a company's document (PUT /api/v1/clients/{slug}).
        body = VALID_BODIES[model.__name__] if model else company_document()
    content = _json(body) if body is not None else None
    content_type = "application/json" if body is not None else None
    if forms:
        content = _form({p.alias: form_defaults.get(p.alias, "x") for p in forms})
        content_type = "application/x-www-form-urlencoded"

    # First with valid values only: a caller the route refuses is not walked any further.
    yield Attempt(method, _url(route.path_format, valid_path, {}), content, content_type)
    # Inputs nobody declared are ignored: a hostile query string must not matter either.
    junk = {"cursor": "\x00", "x": "\ud800"}
    yield Attempt(method, _url(route.path_format, valid_path, junk), content, content_type)
    for name in path_names:
        for value in HOSTILE_TEXT:
            url = _url(route.path_format, {**valid_path, name: value}, {})
            yield Attempt(method, url, content, content_type)
    for param in _inputs(dependant, "query_params"):
        for value in HOSTILE_TEXT:
            url = _url(route.path_format, valid_path, {param.alias: value})
            yield Attempt(method, url, content, content_type)
    url = _url(route.path_format, valid_path, {})
    for param in forms:
        valid = {p.alias: form_defaults.get(p.alias, "x") for p in forms}
        for value in HOSTILE_TEXT:
            yield Attempt(method, url, _form({**valid, param.alias: value}), content_type)
    if body is not None:
        paths = _field_paths(model, body) if model else [(key,) for key in body]
        for path in paths:
            for value in HOSTILE_JSON:
                yield Attempt(method, url, _json(_replaced(body, path, value)), content_type)
        for value in HOSTILE_JSON:
            yield Attempt(method, url, _json(value), content_type)


def _api_routes(app: FastAPI) -> list[Any]:
    return [rc for rc in iter_route_contexts(app.routes) if hasattr(rc, "dependant")]


def _in_error_shape(response: httpx.Response) -> bool:
    """Whether a refusal carries the one error body (pages may answer HTML instead)."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return not response.url.path.startswith(("/api/", "/twilio/"))
    try:
        ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return False
    return True


def _shown(attempt: Attempt) -> str:
    body = (attempt.content or b"")[:300].decode(errors="replace")
    return f"{attempt.method} {attempt.url[:160]} {body}"


@pytest.mark.parametrize("caller", ["admin", "operator", "client", "nobody"])
def test_every_route_answers_hostile_values_with_a_4xx_at_worst(
    plain_app: FastAPI, world: World, caller: str
) -> None:
    failures: list[str] = []
    walked = 0
    with TestClient(plain_app, raise_server_exceptions=False) as client:
        form_defaults = {
            "email": "nobody@example.com",
            "password": "wrong password",
            "csrf_token": csrf_from(client.get("/login").text),
            "next": "/",
        }
        for route in _api_routes(plain_app):
            if route.path in NOT_WALKED:
                continue
            for number, attempt in enumerate(_attempts(route, world, form_defaults)):
                response = attempt.send(client, world.callers[caller])
                walked += 1
                if response.status_code >= 500:
                    failures.append(f"{response.status_code} {_shown(attempt)}")
                elif response.status_code >= 400 and not _in_error_shape(response):
                    failures.append(
                        f"{response.status_code} not in the error shape {_shown(attempt)}"
                    )
                if number == 0 and response.status_code in (401, 403):
                    break  # this caller may not use the route at all
        # The walk did not sign anyone out or lock anyone out on the way.
        if caller != "nobody":
            assert client.get("/api/v1/memos/x", headers=world.callers[caller]).status_code == 404

    assert not failures, "\n".join(failures)
    assert walked > 100


def _twilio_attempts(route: Any, world: World) -> Iterator[tuple[str, dict[str, str], str]]:
    def valid() -> dict[str, str]:
        sid = f"{next(world.sids):032d}"
        return {
            "AccountSid": ACCOUNT_SID,
            "CallSid": f"CA{sid}",
            "MessageSid": f"SM{sid}",
            "SmsSid": f"SM{sid}",
            "From": CALLER_PHONE,
            "To": world.company_number,
            "Body": "OK",
            "CallStatus": "completed",
            "DialCallStatus": "completed",
            "MessageStatus": "delivered",
            "Digits": "1",
            "RecordingUrl": "https://api.twilio.com/recordings/RE1",
            "ErrorCode": "30003",
        }

    query_names = [param.alias for param in _inputs(route.dependant, "query_params")]
    for name in TWILIO_FIELDS:
        for value in HOSTILE_TEXT:
            yield route.path, {**valid(), name: value}, f"{name}={value[:20]!r}"
    for name in query_names:
        for value in HOSTILE_TEXT:
            yield f"{route.path}?{_encode({name: value})}", valid(), f"?{name}={value[:20]!r}"


def test_every_twilio_webhook_answers_hostile_fields_with_a_4xx_at_worst(
    twilio_app: FastAPI, world: World
) -> None:
    failures: list[str] = []
    routes = [route for route in _api_routes(twilio_app) if route.path.startswith("/twilio/")]
    assert len(routes) >= 8
    with TestClient(twilio_app, raise_server_exceptions=False) as client:
        for route in routes:
            for url, form, hostile in _twilio_attempts(route, world):
                content = _form(form)
                # Signed over the fields as the server reads them back from the body.
                received = dict(parse_qsl(content.decode(), keep_blank_values=True))
                headers = {
                    "X-Twilio-Signature": signature(PUBLIC_BASE + url, received),
                    "Content-Type": "application/x-www-form-urlencoded",
                }
                response = client.post(url, content=content, headers=headers)
                if response.status_code == 403:
                    failures.append(f"not signed right: POST {route.path} {hostile}")
                elif response.status_code >= 500:
                    failures.append(f"{response.status_code} POST {route.path} {hostile}")
                elif response.status_code >= 400 and not _in_error_shape(response):
                    failures.append(f"{response.status_code} not in the error shape: {hostile}")

    assert not failures, "\n".join(failures)
