"""Liveness, Prometheus metrics (for staff or the metrics token), and redacted request paths."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlmodel import Session

from service.auth.models import User
from service.observability import RedactPathsFilter, redact_path
from service.settings import Settings
from tests.factories import make_bare_company, make_client_user, make_token
from tests.people import sign_in

METRICS_TOKEN = "prometheus-scraper-7c1d9e0a"
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A local install whose Prometheus scraper has its own token."""
    return settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})


def request_count(client: TestClient, **labels: str) -> float:
    """The value of relay_http_requests_total for these labels, read from /metrics."""
    body = client.get("/metrics", headers=SCRAPER).text
    for family in text_string_to_metric_families(body):
        if family.name != "relay_http_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and all(
                sample.labels.get(key) == value for key, value in labels.items()
            ):
                return sample.value
    return 0.0


def test_healthz_is_ok_for_anyone(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    client.get("/healthz")
    response = client.get("/metrics", headers=SCRAPER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE relay_http_requests_total counter" in response.text
    assert "# TYPE relay_http_request_seconds histogram" in response.text
    families = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"relay_http_requests", "relay_http_request_seconds"} <= families


def test_metrics_are_refused_to_anyone_not_signed_in(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "relay_http" not in response.text
    assert response.json()["detail"]

    wrong = client.get("/metrics", headers={"Authorization": "Bearer prometheus-scraper-7c1d9e0b"})
    assert wrong.status_code == 401
    assert "relay_http" not in wrong.text


def test_metrics_are_refused_to_a_client_company_user(client: TestClient, session: Session) -> None:
    company = make_bare_company(session)
    user = make_client_user(session, company_id=company.id)
    response = client.get("/metrics", headers=make_token(session, user))
    assert response.status_code == 403
    assert "relay_http" not in response.text


@pytest.mark.parametrize("person", ["operator", "admin"])
def test_staff_read_metrics_with_their_token_or_their_session(
    client: TestClient, session: Session, person: str, request: pytest.FixtureRequest
) -> None:
    user: User = request.getfixturevalue(person)
    assert client.get("/metrics", headers=make_token(session, user)).status_code == 200

    sign_in(client, user)
    assert client.get("/metrics").status_code == 200


def test_the_metrics_token_opens_nothing_else(client: TestClient) -> None:
    assert client.get("/api/v1/memos", headers=SCRAPER).status_code == 401


def test_without_a_metrics_token_configured_no_bearer_reads_metrics(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(update={"metrics_token": None})
    assert client.get("/metrics", headers=SCRAPER).status_code == 401


def test_requests_are_counted_by_route_template(app: FastAPI, client: TestClient) -> None:
    def show_memo(memo_id: str) -> dict[str, str]:
        return {"id": memo_id}

    app.add_api_route("/probe/memos/{memo_id}", show_memo, methods=["GET"])
    labels = {"method": "GET", "route": "/probe/memos/{memo_id}", "status": "200"}
    before = request_count(client, **labels)

    assert client.get("/probe/memos/a1b2c3").status_code == 200
    assert client.get("/probe/memos/予約変更").status_code == 200

    assert request_count(client, **labels) == before + 2
    body = client.get("/metrics", headers=SCRAPER).text
    assert "a1b2c3" not in body
    assert "/probe/memos/{memo_id}" in body


def test_acknowledgement_tokens_never_become_labels(client: TestClient) -> None:
    client.get("/a/secret-token-5b7e1")
    body = client.get("/metrics", headers=SCRAPER).text
    assert "secret-token-5b7e1" not in body
    assert 'route="/a/{token}"' in body


def test_unknown_paths_share_one_label(client: TestClient) -> None:
    labels = {"method": "GET", "route": "unmatched", "status": "404"}
    before = request_count(client, **labels)
    assert client.get("/no/such/page/8f3a").status_code == 404
    assert client.get("/no/such/page/9e1c").status_code == 404
    assert request_count(client, **labels) == before + 2
    assert "8f3a" not in client.get("/metrics", headers=SCRAPER).text


def test_invented_methods_share_one_label(client: TestClient) -> None:
    before = request_count(client, method="other")
    client.request("BREW7F", "/healthz")
    client.request("BREW8A", "/healthz")
    assert request_count(client, method="other") == before + 2
    assert "BREW7F" not in client.get("/metrics", headers=SCRAPER).text


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/a/eyJtIjoiMSJ9.c2lnbmF0dXJl", "/a/<redacted>"),
        ("/a/eyJtIjoiMSJ9.c2ln?from=sms", "/a/<redacted>?from=sms"),
        ("https://relay.example.jp/a/eyJtIjoiMSJ9", "https://relay.example.jp/a/<redacted>"),
        ("/api/v1/memos?client=sakura-dental", "/api/v1/memos?client=sakura-dental"),
        ("/portal/memos/4f2a", "/portal/memos/4f2a"),
    ],
)
def test_paths_are_logged_without_acknowledgement_tokens(path: str, logged: str) -> None:
    assert redact_path(path) == logged


def test_the_access_log_filter_redacts_uvicorns_record() -> None:
    # As uvicorn's access logger writes it: client, method, path with query, version, status.
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:50312", "POST", "/a/eyJtIjoiMSJ9.c2lnbmF0dXJl", "1.1", 200),
        None,
    )
    assert RedactPathsFilter().filter(record) is True
    assert record.getMessage() == '127.0.0.1:50312 - "POST /a/<redacted> HTTP/1.1" 200'
