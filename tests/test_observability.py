"""Liveness and Prometheus metrics."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families


def request_count(client: TestClient, **labels: str) -> float:
    """The value of relay_http_requests_total for these labels, read from /metrics."""
    body = client.get("/metrics").text
    for family in text_string_to_metric_families(body):
        if family.name != "relay_http_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and all(
                sample.labels.get(key) == value for key, value in labels.items()
            ):
                return sample.value
    return 0.0


def test_healthz_is_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE relay_http_requests_total counter" in response.text
    assert "# TYPE relay_http_request_seconds histogram" in response.text
    families = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"relay_http_requests", "relay_http_request_seconds"} <= families


def test_requests_are_counted_by_route_template(app: FastAPI, client: TestClient) -> None:
    def show_memo(memo_id: str) -> dict[str, str]:
        return {"id": memo_id}

    app.add_api_route("/probe/memos/{memo_id}", show_memo, methods=["GET"])
    labels = {"method": "GET", "route": "/probe/memos/{memo_id}", "status": "200"}
    before = request_count(client, **labels)

    assert client.get("/probe/memos/a1b2c3").status_code == 200
    assert client.get("/probe/memos/予約変更").status_code == 200

    assert request_count(client, **labels) == before + 2
    body = client.get("/metrics").text
    assert "a1b2c3" not in body
    assert "/probe/memos/{memo_id}" in body


def test_unknown_paths_share_one_label(client: TestClient) -> None:
    labels = {"method": "GET", "route": "unmatched", "status": "404"}
    before = request_count(client, **labels)
    assert client.get("/no/such/page/8f3a").status_code == 404
    assert client.get("/no/such/page/9e1c").status_code == 404
    assert request_count(client, **labels) == before + 2
    assert "8f3a" not in client.get("/metrics").text
