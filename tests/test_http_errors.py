"""Every refusal in one shape, in the reader's language, and described so in the API docs."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from service.app import create_app
from service.companies.models import Company
from service.db import make_engine
from service.errors import RelayError
from service.http_errors import field_path, field_problem
from service.settings import Settings
from tests.i18n.japanese import japanese_in
from tests.refusals import refused

ENGLISH = {"Accept-Language": "en"}
JAPANESE = {"Accept-Language": "ja"}


def memo_without_subject(company: Company) -> dict[str, Any]:
    return {"client": company.slug, "category": "inquiry", "caller": {"name": "山田"}, "body": "x"}


def test_a_route_that_does_not_exist_is_a_404_in_the_shape(client: TestClient) -> None:
    japanese = refused(client.get("/api/v1/nothing-here"), status=404, code="not_found")
    english = refused(
        client.get("/api/v1/nothing-here", headers=ENGLISH), status=404, code="not_found"
    )

    assert japanese.detail == "見つかりません。"
    assert english.detail == "Not found."
    assert english.errors == []
    assert english.field is None


def test_a_method_a_route_does_not_take_is_a_405_in_the_shape(
    client: TestClient, operator_headers: dict[str, str]
) -> None:
    response = client.delete("/api/v1/memos", headers={**operator_headers, **ENGLISH})

    body = refused(response, status=405, code="method_not_allowed")
    assert body.detail == "This method is not allowed here."
    assert response.headers["allow"]


def test_signed_out_is_a_401_that_names_its_scheme(client: TestClient) -> None:
    response = client.get("/api/v1/memos", headers=ENGLISH)

    body = refused(response, status=401, code="unauthenticated")
    assert body.detail == "Sign in or send an API token."
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_request_that_does_not_match_its_model_names_every_field(
    client: TestClient, company: Company, operator_headers: dict[str, str]
) -> None:
    document = {**memo_without_subject(company), "category": "praise"}

    response = client.post("/api/v1/memos", json=document, headers={**operator_headers, **ENGLISH})

    body = refused(response, status=422, code="invalid")
    problems = {problem.field: problem for problem in body.errors}
    assert problems["subject"].code == "missing"
    assert problems["subject"].message == "This field is required."
    assert problems["category"].code == "not_a_choice"
    assert problems["category"].message.startswith("Choose one of: complaint")
    assert body.field == body.errors[0].field
    assert "subject: This field is required." in body.detail


def test_one_field_at_fault_gives_its_own_code(
    client: TestClient, company: Company, operator_headers: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/memos", json=memo_without_subject(company), headers=operator_headers
    )

    body = refused(response, status=422, code="missing")
    assert body.field == "subject"
    assert body.errors[0].message == "必須項目です。"


def test_a_users_own_language_wins_over_the_browsers(
    client: TestClient, company: Company, operator_headers: dict[str, str]
) -> None:
    chosen = client.patch("/api/v1/me", json={"locale": "en"}, headers=operator_headers)
    assert chosen.status_code == 200, chosen.text

    response = client.post(
        "/api/v1/memos",
        json=memo_without_subject(company),
        headers={**operator_headers, **JAPANESE},
    )

    body = refused(response, status=422, code="missing")
    assert body.errors[0].message == "This field is required."
    assert not japanese_in(body.model_dump_json())


def test_a_domain_refusal_is_worded_in_the_readers_language(
    client: TestClient, operator_headers: dict[str, str]
) -> None:
    english = refused(
        client.get("/api/v1/memos/none", headers={**operator_headers, **ENGLISH}),
        status=404,
        code="not_found",
    )
    japanese = refused(
        client.get("/api/v1/memos/none", headers=operator_headers), status=404, code="not_found"
    )

    assert english.detail == "No such memo."
    assert japanese.detail == "そのメモはありません。"


def test_a_refusal_fills_its_values_after_translating() -> None:
    error = RelayError("%(name)s is missing.", field="CallSid", code="missing", name="CallSid")

    assert str(error) == "CallSid is missing."
    assert error.text("ja") == "CallSid がありません。"
    assert error.body("en").errors[0].field == "CallSid"


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (("body", "caller", "phone"), "caller.phone"),
        (("body", "fields", "patient_no"), "fields.patient_no"),
        (("query", "limit"), "limit"),
        (("body",), ""),
        (("routing", 0, "notify"), "routing.0.notify"),
    ],
)
def test_a_location_becomes_the_dotted_field_a_form_knows(
    loc: tuple[int | str, ...], field: str
) -> None:
    assert field_path(loc) == field


def test_a_rule_without_words_of_its_own_keeps_pydantics() -> None:
    problem = field_problem(
        {"type": "string_pattern_mismatch", "loc": ("body", "kind"), "msg": "String should match"},
        locale="ja",
    )

    assert (problem.field, problem.code, problem.message) == (
        "kind",
        "invalid",
        "String should match",
    )


def test_the_api_docs_describe_the_one_error_shape_on_every_operation(app: FastAPI) -> None:
    spec = app.openapi()
    schemas = spec["components"]["schemas"]

    assert set(schemas["ErrorBody"]["properties"]) == {
        "status",
        "code",
        "detail",
        "field",
        "errors",
    }
    assert "HTTPValidationError" not in schemas
    missing = [
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if operation["responses"].get("4XX", {}).get("content", {}).get("application/json", {})
        != {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
    ]
    assert not missing, missing


def test_a_refusal_a_route_names_by_its_status_is_described_in_the_one_shape(
    app: FastAPI,
) -> None:
    spec = app.openapi()
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    refusals = {
        f"{method.upper()} {path} {code}": response.get("content")
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for code, response in operation["responses"].items()
        if code.startswith("4")
    }
    assert refusals["PUT /api/v1/clients/{slug} 412"] == error_body
    assert refusals["GET /api/v1/reports/statement 422"] == error_body
    assert {where for where, content in refusals.items() if content != error_body} == set()


def test_a_browser_asking_for_an_unknown_page_gets_a_page(client: TestClient) -> None:
    response = client.get("/no-such-page", headers={"Accept": "text/html", **ENGLISH})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not found.</h1>" in response.text
    assert 'href="/"' in response.text


def test_a_program_asking_for_an_unknown_route_gets_json_even_from_a_browser(
    client: TestClient,
) -> None:
    response = client.get("/api/v1/nothing", headers={"Accept": "text/html,*/*"})

    refused(response, status=404, code="not_found")


def test_a_database_locked_too_long_is_a_503_to_try_again_in_the_shape(app: FastAPI) -> None:
    @app.post("/test-locked")
    def locked() -> None:
        raise OperationalError(
            "INSERT INTO memos", {}, sqlite3.OperationalError("database is locked")
        )

    response = TestClient(app).post("/test-locked")
    body = refused(response, status=503, code="busy")

    assert response.headers["retry-after"] == "1"
    assert body.detail == "ただいま混み合っているため保存できませんでした。もう一度お試しください。"


def test_a_read_refused_as_busy_does_not_speak_of_saving(app: FastAPI) -> None:
    @app.get("/test-locked-read")
    def locked() -> None:
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))

    response = TestClient(app).get("/test-locked-read")
    body = refused(response, status=503, code="busy")

    assert response.headers["retry-after"] == "1"
    assert body.detail == "ただいま混み合っています。少し待ってからもう一度お試しください。"


def test_any_other_database_fault_is_not_dressed_up_as_busy(app: FastAPI) -> None:
    @app.post("/test-broken")
    def broken() -> None:
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("disk I/O error"))

    response = TestClient(app, raise_server_exceptions=False).post("/test-broken")

    assert response.status_code == 500


def test_a_database_that_dropped_the_connection_is_a_503_to_try_again_in_the_shape(
    app: FastAPI,
) -> None:
    @app.post("/test-gone")
    def gone() -> None:
        raise OperationalError(
            "INSERT INTO memos",
            {},
            psycopg.OperationalError("consuming input failed: server closed the connection"),
        )

    response = TestClient(app).post("/test-gone", headers=ENGLISH)
    body = refused(response, status=503, code="unavailable")

    assert response.headers["retry-after"] == "2"
    assert body.detail == "Relay cannot reach its database. Try again in a moment."


def test_a_statement_postgresql_refuses_is_not_dressed_up_as_unavailable(app: FastAPI) -> None:
    @app.post("/test-refused")
    def refused_by_postgres() -> None:
        raise OperationalError("SELECT 1", {}, psycopg.errors.QueryCanceled("statement timeout"))

    response = TestClient(app, raise_server_exceptions=False).post("/test-refused")

    assert response.status_code == 500


def _terminate(session: Session, pids: list[int]) -> None:
    """End these PostgreSQL backends, as a restart would, and wait until they are gone."""
    found = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(CAST(:pids AS int[]))"
    session.execute(
        text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"),
        {"pids": pids},
    )
    while session.execute(text(found), {"pids": pids}).scalar_one():
        session.commit()  # pg_stat_activity is read once per transaction
        time.sleep(0.01)
    session.commit()


@pytest.mark.postgres_only
def test_a_memo_sent_while_postgresql_drops_every_connection_is_refused_then_taken(
    database_url: str,
    settings: Settings,
    session: Session,
    company: Company,
    operator_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As after a restart: the pooled connections are dead, the request that meets one is
    refused 503 (not a 500), and the same memo sent again with its key is taken."""
    engine = make_engine(database_url)
    backends: list[int] = []
    event.listen(engine, "connect", lambda dbapi, _record: backends.append(dbapi.info.backend_pid))
    # A connection returned a moment ago is handed out unchecked, as in the seconds after a
    # restart; however slowly this test runs.
    monkeypatch.setattr("service.db.PING_AFTER_IDLE_SECONDS", 3600.0)
    memo = {"client": company.slug, "category": "inquiry", "caller": {"name": "山田"}}
    try:
        with TestClient(create_app(settings=settings, engine=engine)) as client:
            first = client.post(
                "/api/v1/memos",
                json={**memo, "subject": "一件目", "body": "x"},
                headers={**operator_headers, "Idempotency-Key": "first"},
            )
            assert first.status_code == 201, first.text
            _terminate(session, list(backends))

            second = {**memo, "subject": "二件目", "body": "y"}
            headers = {**operator_headers, "Idempotency-Key": "second", **ENGLISH}
            cut = client.post("/api/v1/memos", json=second, headers=headers)
            again = client.post("/api/v1/memos", json=second, headers=headers)

        refused(cut, status=503, code="unavailable")
        assert again.status_code == 201, again.text
    finally:
        engine.dispose()
